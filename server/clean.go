package server

import (
	"strings"
	"unicode/utf8"
)

// MaxMessageRunes is the longest message (or \me text) accepted, counted in
// Unicode code points after cleaning.
const MaxMessageRunes = 1000

// Clean returns s made safe to show on another member's terminal or page.
// It is the one place member text is cleaned, whatever transport it came
// from: invalid UTF-8 becomes U+FFFD; terminal escape sequences (CSI, OSC,
// DCS and the rest, in their 7-bit and 8-bit forms) are removed whole; C0
// controls except TAB, DEL, C1 controls, bidi overrides and isolates, line
// and paragraph separators and byte order marks are removed; trailing white
// space is trimmed.
func Clean(s string) string {
	if isPlain(s) {
		return strings.TrimRight(s, " \t")
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
			i++
			continue
		}
		switch {
		case r == 0x1b: // ESC
			i = skipEscape(s, i+size)
			continue
		case r == 0x9b: // CSI in its 8-bit form
			i = skipCSI(s, i+size)
			continue
		case r == 0x90 || r == 0x9d || r == 0x98 || r == 0x9e || r == 0x9f: // DCS, OSC, SOS, PM, APC
			i = skipString(s, i+size)
			continue
		case removed(r):
			i += size
			continue
		}
		b.WriteString(s[i : i+size])
		i += size
	}
	return strings.TrimRight(b.String(), " \t")
}

// isPlain reports whether s is printable ASCII (and TAB) only, the common
// case that needs no rewriting.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c >= 0x7f {
			return false
		}
	}
	return true
}

// removed reports whether r is dropped from member text on its own.
func removed(r rune) bool {
	switch {
	case r < 0x20:
		return r != '\t'
	case r >= 0x7f && r <= 0x9f: // DEL and C1
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x061c, r == 0x200e, r == 0x200f:
		return true // bidi embeddings, overrides, isolates and marks
	case r == 0x2028 || r == 0x2029 || r == 0xfeff:
		return true // line and paragraph separators, byte order mark
	}
	return false
}

// skipEscape returns the index just past the escape sequence whose ESC ended
// just before i.
func skipEscape(s string, i int) int {
	if i >= len(s) {
		return i
	}
	switch c := s[i]; {
	case c == '[':
		return skipCSI(s, i+1)
	case c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_':
		return skipString(s, i+1)
	case c >= 0x20 && c <= 0x2f: // intermediates, then one final byte (e.g. ESC ( B)
		for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
			i++
		}
		if i < len(s) && s[i] >= 0x30 && s[i] <= 0x7e {
			i++
		}
		return i
	case c >= 0x30 && c <= 0x7e: // two-byte sequences such as ESC c (reset)
		return i + 1
	}
	return i
}

// skipCSI returns the index past a control sequence's parameter and
// intermediate bytes and its final byte.
func skipCSI(s string, i int) int {
	for i < len(s) {
		c := s[i]
		i++
		if c >= 0x40 && c <= 0x7e {
			return i
		}
		if c < 0x20 || c > 0x3f {
			return i - 1 // not part of a well-formed sequence: stop before it
		}
	}
	return i
}

// skipString returns the index past a control string (OSC, DCS, SOS, PM,
// APC), which ends at BEL, ESC \ or the 8-bit ST, or at the end of s.
func skipString(s string, i int) int {
	for i < len(s) {
		if s[i] == 0x07 {
			return i + 1
		}
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '\\' {
			return i + 2
		}
		if r, size := utf8.DecodeRuneInString(s[i:]); r == 0x9c {
			return i + size
		} else {
			i += size
		}
	}
	return i
}
