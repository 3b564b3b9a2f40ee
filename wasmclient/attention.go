//go:build js && wasm

package main

import (
	"strconv"
	"strings"
	"syscall/js"
)

// Typing (SPEC §11): this page says so at most once per typingEvery while
// its member types; another's "is typing…" shows for typingShown.
const (
	typingEvery = 2000 // ms
	typingShown = 3000 // ms
)

// attend counts a line that arrived while the tab was hidden, and whether
// it mentions you, in the tab's title.
func (c *client) attend(mention bool) {
	if !c.doc.Get("hidden").Bool() {
		return
	}
	c.unread++
	if mention {
		c.mentions++
	}
	c.showTitle()
}

// attended clears the counts once the tab is shown.
func (c *client) attended() {
	if c.doc.Get("hidden").Bool() || c.unread == 0 && c.mentions == 0 {
		return
	}
	c.unread, c.mentions = 0, 0
	c.showTitle()
}

func (c *client) showTitle() {
	title := c.title
	switch {
	case c.mentions > 0:
		title = "(" + strconv.Itoa(c.unread) + ", @" + strconv.Itoa(c.mentions) + ") " + title
	case c.unread > 0:
		title = "(" + strconv.Itoa(c.unread) + ") " + title
	}
	c.doc.Set("title", title)
}

// mentions says whether text names you as a whole word, case-insensitively,
// as the server decides for a terminal's bell: words are runs of letters,
// digits, marks, '-', '_' and '.', also without trailing dots.
func mentions(text, name string) bool {
	if name == "" {
		return false
	}
	// Outside ASCII every rune counts as part of a word: the wasm does
	// without unicode's tables, and a name is rarely glued to a symbol.
	isNameRune := func(r rune) bool {
		return r >= 0x80 || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
	}
	for _, w := range strings.FieldsFunc(text, func(r rune) bool { return !isNameRune(r) }) {
		if strings.EqualFold(w, name) || strings.EqualFold(strings.TrimRight(w, "."), name) {
			return true
		}
	}
	return false
}

// typed tells the room that we are typing, at most once per typingEvery,
// and not for commands.
func (c *client) typed(text string) {
	if !c.joined || text == "" || text[0] == '\\' || text[0] == '/' {
		return
	}
	t := js.Global().Get("Date").Call("now").Float()
	if t-c.typingSent < typingEvery {
		return
	}
	if c.send(map[string]any{"type": "typing"}) {
		c.typingSent = t
	}
}

// typing shows that a member is typing, for typingShown from the last
// time it said so.
func (c *client) typing(id, name string) {
	if id == c.selfID || name == "" {
		return
	}
	c.typers[id] = typer{name: name, until: js.Global().Get("Date").Call("now").Float() + typingShown}
	c.showTyping()
	after(typingShown, c.showTyping)
}

// stoppedTyping forgets a typer whose message arrived.
func (c *client) stoppedTyping(id string) {
	if _, ok := c.typers[id]; ok {
		delete(c.typers, id)
		c.showTyping()
	}
}

type typer struct {
	name  string
	until float64 // ms since the epoch
}

// showTyping writes who is typing under #log, dropping those whose time
// is over.
func (c *client) showTyping() {
	t := js.Global().Get("Date").Call("now").Float()
	var names []string
	for id, ty := range c.typers {
		if ty.until <= t {
			delete(c.typers, id)
			continue
		}
		names = append(names, ty.name)
	}
	text := ""
	switch len(names) {
	case 0:
	case 1:
		text = names[0] + " is typing…"
	case 2:
		text = names[0] + " and " + names[1] + " are typing…"
	default:
		text = "several people are typing…"
	}
	c.typingLine.Set("textContent", text)
}
