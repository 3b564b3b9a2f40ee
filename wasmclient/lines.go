//go:build js && wasm

package main

import (
	"strconv"
	"strings"
	"syscall/js"
)

// bottomMargin is how close to the end of #log, in pixels, counts as
// reading the newest lines.
const bottomMargin = 40

// event logs a join, leave or rename, at the page's time.
func (c *client) event(text string) { c.addLine("event", "", text, now()) }

// notice logs the server's words for us.
func (c *client) notice(text string) { c.addLine("notice", "*", text, "") }

func (c *client) addLine(kind, who, text, at string) { c.appendLine(c.line(kind, who, text, at)) }

// now is the browser's time, as the server writes times.
func now() string { return js.Global().Get("Date").New().Call("toISOString").String() }

// line makes one line of #log from the page's template.
func (c *client) line(kind, who, text, at string) js.Value {
	line := clone(c.lineTpl)
	line.Set("className", "line "+kind)
	setText(line, ".who", who)
	fillText(c.doc, line.Call("querySelector", ".text"), text)
	if at != "" {
		t := line.Call("querySelector", ".at")
		t.Call("setAttribute", "datetime", at)
		date := js.Global().Get("Date").New(at)
		t.Set("textContent", date.Call("toLocaleTimeString", js.ValueOf([]any{}), js.ValueOf(map[string]any{"hour": "2-digit", "minute": "2-digit"})))
	}
	return line
}

// fillText puts text into el as text nodes, each http(s) URL in it as a
// link that opens apart from the page. Nothing is ever parsed as HTML.
func fillText(doc, el js.Value, text string) {
	el.Set("textContent", "")
	for text != "" {
		start, end := findLink(text)
		if start < 0 {
			break
		}
		if start > 0 {
			el.Call("append", text[:start])
		}
		a := doc.Call("createElement", "a")
		a.Set("href", text[start:end])
		a.Set("textContent", text[start:end])
		a.Set("rel", "noopener noreferrer")
		a.Set("target", "_blank")
		el.Call("append", a)
		text = text[end:]
	}
	if text != "" {
		el.Call("append", text)
	}
}

// findLink returns where the first http:// or https:// URL in text starts
// and ends, or -1, -1. A URL starts a word, runs to the next space, and
// leaves off the punctuation that ends a sentence or a parenthesis around
// it.
func findLink(text string) (start, end int) {
	for i := 0; i < len(text); i++ {
		if i > 0 && isWordByte(text[i-1]) {
			continue
		}
		n := 0
		switch {
		case hasPrefixFold(text[i:], "https://"):
			n = len("https://")
		case hasPrefixFold(text[i:], "http://"):
			n = len("http://")
		default:
			continue
		}
		j := i + n
		for j < len(text) && !strings.ContainsRune(" \t\n<>\"", rune(text[j])) {
			j++
		}
		for j > i+n && strings.ContainsRune(".,;:!?'", rune(text[j-1])) ||
			j > i+n && text[j-1] == ')' && strings.Count(text[i:j], "(") < strings.Count(text[i:j], ")") {
			j--
		}
		if j > i+n {
			return i, j
		}
	}
	return -1, -1
}

func isWordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b >= 0x80
}

// hasPrefixFold is strings.HasPrefix, ignoring ASCII case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// atBottom says whether #log shows its newest lines.
func (c *client) atBottom() bool {
	log := c.log
	return log.Get("scrollHeight").Float()-log.Get("scrollTop").Float()-log.Get("clientHeight").Float() < bottomMargin
}

// appendLine adds a line at the end of #log, keeping the view at the
// bottom if it was there; a reader scrolled up is told of new messages
// below instead of being moved.
func (c *client) appendLine(line js.Value) {
	log := c.log
	atBottom := c.atBottom()
	log.Call("append", line)
	for log.Get("childElementCount").Int() > maxLogLines {
		log.Get("firstElementChild").Call("remove")
	}
	if atBottom {
		log.Set("scrollTop", log.Get("scrollHeight"))
		return
	}
	if cl := line.Get("classList"); cl.Call("contains", "message").Bool() || cl.Call("contains", "me").Bool() || cl.Call("contains", "private").Bool() {
		c.below++
		text := "1 new message below"
		if c.below > 1 {
			text = strconv.Itoa(c.below) + " new messages below"
		}
		c.newBelow.Set("textContent", text)
		c.newBelow.Set("hidden", false)
	}
}

// seenBelow hides the new-messages cue once the newest lines are shown.
func (c *client) seenBelow() {
	if c.below > 0 && c.atBottom() {
		c.below = 0
		c.newBelow.Set("hidden", true)
	}
}

// scrollToEnd shows the newest lines.
func (c *client) scrollToEnd() {
	c.log.Set("scrollTop", c.log.Get("scrollHeight"))
	c.seenBelow()
}

// divide marks where the replayed history ends and live messages begin;
// there is one such mark at a time.
func (c *client) divide() {
	if old := c.log.Call("querySelector", ".divider"); !old.IsNull() {
		old.Call("remove")
	}
	line := c.line("divider", "", "earlier messages above, live from here", "")
	line.Call("setAttribute", "role", "separator")
	c.appendLine(line)
}
