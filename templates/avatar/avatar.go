// Package avatar gives a member's avatar its letter and colour from the
// name alone, so the box the server renders and the one the wasm client
// draws look the same, and a member keeps its colour across reconnects.
// It imports only strings, so the wasm client can use it cheaply.
package avatar

import "strings"

// Initial returns the letter shown in the avatar: the name's first
// character, upper-cased, or "?" for an empty name.
func Initial(name string) string {
	for _, r := range name {
		return strings.ToUpper(string(r))
	}
	return "?"
}

// Hues is how many avatar colours there are. The page's Content-Security-
// Policy allows no inline style, so each colour is a rule in style.css
// keyed by the avatar's data-hue, not a style attribute.
const Hues = 24

// Hue returns the avatar's colour, 0 to Hues-1, the same for the same name.
func Hue(name string) int {
	h := uint32(2166136261) // FNV-1a
	for i := range len(name) {
		h = (h ^ uint32(name[i])) * 16777619
	}
	return int(h % Hues)
}
