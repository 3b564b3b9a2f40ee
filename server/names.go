package server

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/text/cases"
	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/norm"
)

// MaxNameRunes is the longest name allowed, in Unicode code points.
const MaxNameRunes = 24

// guestPrefix starts the names the server gives TCP members. It is reserved:
// nobody can pick a name whose key starts with it.
const guestPrefix = "guest-"

// checkName validates a name a member asked for and returns it in its
// normalised (NFC) form, with the key that decides whether two names are the
// same: equal keys mean equal names regardless of case, width or Unicode
// normalisation. Whether the name is free is the pool's question.
func checkName(name string) (display, key string, err *Refusal) {
	display = norm.NFC.String(strings.TrimSpace(name))
	n := utf8.RuneCountInString(display)
	if n == 0 {
		return "", "", refuse(CodeNameInvalid, "a name needs at least one character")
	}
	if n > MaxNameRunes {
		return "", "", refuse(CodeNameInvalid, "a name is at most 24 characters")
	}
	hasLetter := false
	for i, r := range display {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r):
			hasLetter = true
		case r == '-', r == '_', r == '.':
		case unicode.IsMark(r) && i > 0:
			// combining marks belong to the letter before them
		case unicode.IsSpace(r):
			return "", "", refuse(CodeNameInvalid, "a name cannot contain spaces")
		default:
			return "", "", refuse(CodeNameInvalid, "a name may hold only letters, digits, '-', '_' and '.'")
		}
	}
	if !hasLetter {
		return "", "", refuse(CodeNameInvalid, "a name needs at least one letter or digit")
	}
	key, perr := precis.UsernameCaseMapped.String(display)
	if perr != nil {
		return "", "", refuse(CodeNameInvalid, "that name uses characters that are not allowed in names")
	}
	// PRECIS lowercases; full case folding also joins what lowercasing
	// keeps apart, such as final and medial sigma.
	key = cases.Fold().String(key)
	return display, key, nil
}

// CheckName reports whether name follows the naming rules, whether or not
// someone holds it: it returns the name as members would see it, or why it
// is refused.
func CheckName(name string) (string, *Refusal) {
	display, _, r := checkName(name)
	return display, r
}

// nameSkeleton is the confusable skeleton (Unicode TR39) of a name's key:
// two names with the same skeleton look alike (аda with a Cyrillic а, and
// ada), and the room lets only one of them in at a time. The data is
// github.com/mtibben/confusables, generated from Unicode's confusables.txt.
func nameSkeleton(key string) string { return confusables.Skeleton(key) }
