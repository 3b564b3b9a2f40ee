//go:build js && wasm

package main

import "syscall/js"

// Older history: scrolled to the top of #log, the page asks for the
// messages before the oldest it shows (SPEC §9, "More history").
const (
	olderPage   = 50 // messages asked for at a time
	olderMargin = 40 // pixels from the top of #log that count as the top
)

// loadOlder asks for a page of older messages when #log is scrolled to its
// top, one request at a time, until the server has none left or #log is
// full.
func (c *client) loadOlder() {
	if !c.joined || c.olderPending || c.olderDone || c.log.Get("scrollTop").Float() > olderMargin {
		return
	}
	oldest := c.log.Call("querySelector", "[data-seq]")
	room := maxLogLines - c.log.Get("childElementCount").Int()
	if oldest.IsNull() || room <= 0 {
		return
	}
	if before := atoi(oldest.Get("dataset").Get("seq").String()); before > 0 {
		c.askOlder(before, min(olderPage, room))
	}
}

// askOlder sends a history request; the next history event answers it.
func (c *client) askOlder(before, limit int) {
	c.olderPending = c.send(map[string]any{"type": "history", "before": before, "limit": limit})
}

// prependOlder puts the answer to a history request above the oldest
// message shown, oldest first, without moving what the reader is looking
// at.
func (c *client) prependOlder(ev js.Value) {
	msgs := ev.Get("messages")
	anchor := c.log.Call("querySelector", "[data-seq]")
	if anchor.IsNull() {
		for i := range msgs.Length() {
			c.showMessage(msgs.Index(i), false)
		}
		c.olderDone = !ev.Get("more").Truthy()
		return
	}
	top := anchor.Call("getBoundingClientRect").Get("top").Float()
	added := 0
	for i := range msgs.Length() {
		if line, ok := c.messageLine(msgs.Index(i)); ok {
			anchor.Call("before", line)
			added++
		}
	}
	moved := anchor.Call("getBoundingClientRect").Get("top").Float() - top
	c.log.Set("scrollTop", c.log.Get("scrollTop").Float()+moved)
	c.olderDone = added == 0 || !ev.Get("more").Truthy()
	c.loadOlder() // still at the top if what came was short
}

// forgetSeqs unmarks the lines of #log: their seqs count in a log the
// server no longer has, so older history cannot start from them.
func forgetSeqs(log js.Value) {
	lines := log.Call("querySelectorAll", "[data-seq]")
	for i := range lines.Length() {
		lines.Index(i).Get("dataset").Delete("seq")
	}
}
