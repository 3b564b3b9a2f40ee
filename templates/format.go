package templates

import (
	"strconv"

	"github.com/poolchat/poolchat/templates/avatar"
)

// MaxBoxes is how many member boxes #users holds at most; past it the list
// ends with a count of the rest, so a room of 10,000 stays a light page.
// The wasm client keeps the same bound (wasmclient/members.go).
const MaxBoxes = 200

func itoa(n int) string { return strconv.Itoa(n) }

func initial(name string) string { return avatar.Initial(name) }

// shown returns the members that get a box: the first MaxBoxes in join
// order, and you, wherever you are.
func shown(users []User) []User {
	if len(users) <= MaxBoxes {
		return users
	}
	out := users[:MaxBoxes:MaxBoxes]
	for _, u := range users[MaxBoxes:] {
		if u.Self {
			out = append(out, u)
		}
	}
	return out
}

// moreText counts the members beyond the boxes shown.
func moreText(n int) string {
	if n <= MaxBoxes {
		return ""
	}
	return "and " + itoa(n-MaxBoxes) + " more"
}
