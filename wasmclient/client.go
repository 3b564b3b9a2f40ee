//go:build js && wasm

package main

import (
	"strings"
	"syscall/js"
)

// Bounds that keep a long-open page from growing without limit.
const (
	maxLogLines = 1000 // lines kept in #log
	maxSeenIDs  = 2000 // message ids remembered to skip replayed history
)

// nameKey is where the chosen name is remembered between visits, in
// localStorage.
const nameKey = "poolchat.name"

// client is the page's whole state. Everything runs on the browser's event
// loop, one callback at a time, so it needs no locks.
type client struct {
	page
	ws       js.Value // the open WebSocket, or undefined
	name     string   // the name we join (and rejoin) with
	selfID   string
	joined   bool
	quitting bool // we sent \quit: the close that follows is expected
	resuming bool // this connection's first frame was resume: its answer decides
	retries  int
	retry    int // the current scheduled reconnect; connecting cancels it
	sess     session
	boxes    map[string]js.Value // user boxes by member id
	seen     map[string]bool     // ids of messages already in #log
	seenFIFO []string

	olderPending bool // a history request is outstanding: the next history answers it
	olderDone    bool // the server has no messages before the oldest shown
}

func newClient(doc js.Value) *client {
	return &client{page: findPage(doc), ws: js.Undefined(), sess: loadSession(), boxes: map[string]js.Value{}, seen: map[string]bool{}}
}

// start adopts the boxes the server rendered, wires the forms, and joins
// with the name given while the client was loading. The dialog, already
// shown by the loader, is left alone so typing in it is not disturbed.
func (c *client) start() {
	rendered := c.users.Call("querySelectorAll", "[data-user-id]")
	for i := range rendered.Length() {
		box := rendered.Index(i)
		c.boxes[box.Get("dataset").Get("userId").String()] = box
	}
	on(c.nameForm, "submit", func(ev js.Value) {
		ev.Call("preventDefault")
		c.join(c.nameInput.Get("value").String())
	})
	on(c.sendForm, "submit", func(ev js.Value) {
		ev.Call("preventDefault")
		c.sendMessage()
	})
	on(c.log, "scroll", func(js.Value) { c.loadOlder() })
	// A page that is closed, reloaded or left has left the room (its
	// socket sends 1001), so the next page of this tab must not resume.
	on(js.Global(), "pagehide", func(ev js.Value) {
		if !ev.Get("persisted").Truthy() {
			c.sess.forget()
		}
	})
	if c.sess.canResume() {
		c.name = c.sess.name // app.js left the dialog closed for this
		c.setStatus("reconnecting…")
		c.connect()
		return
	}
	if pending := c.nameForm.Get("dataset").Get("pending"); pending.Type() == js.TypeString {
		c.nameForm.Get("dataset").Delete("pending")
		c.join(pending.String())
		return
	}
	if !c.dialog.Get("open").Bool() {
		c.askName("") // the loader shows the dialog; this is for pages without it
	}
}

// askName shows the name dialog, offering the remembered name, with why a
// previous try was refused.
func (c *client) askName(problem string) {
	if c.nameInput.Get("value").String() == "" {
		if saved := storage("localStorage", "getItem", nameKey); saved.Type() == js.TypeString {
			c.nameInput.Set("value", saved)
		}
	}
	c.nameError.Set("textContent", problem)
	c.nameInput.Set("disabled", false)
	if !c.dialog.Get("open").Bool() {
		c.dialog.Call("showModal")
	}
	c.nameInput.Call("focus")
	c.nameInput.Call("select")
}

// join joins the room as name, opening the connection if there is none.
func (c *client) join(name string) {
	name = strings.TrimSpace(name)
	if name == "" {
		c.askName("Please give a name.")
		return
	}
	c.name = name
	c.sess.forget() // a join asked for is a new member
	c.nameError.Set("textContent", "")
	c.nameInput.Set("disabled", true)
	if c.ws.IsUndefined() {
		c.setStatus("connecting")
		c.connect()
		return
	}
	c.sendJoin()
}

// sendMessage sends what is in the message box; commands go as they are.
func (c *client) sendMessage() {
	text := c.message.Get("value").String()
	if strings.TrimSpace(text) == "" {
		return
	}
	if !c.joined || !c.send(map[string]any{"type": "message", "text": text}) {
		c.notice("not connected; your message is kept in the box")
		return
	}
	if t := strings.ToLower(strings.TrimSpace(text)); t == `\quit` || t == "/quit" {
		c.quitting = true
	}
	c.message.Set("value", "")
}

func (c *client) setStatus(s string) {
	c.status.Set("textContent", s)
	c.doc.Get("body").Get("dataset").Set("status", s)
}

// setJoined enables or disables the send form.
func (c *client) setJoined(joined bool) {
	c.joined = joined
	c.message.Set("disabled", !joined)
	c.sendButton.Set("disabled", !joined)
}

// storage calls a method of localStorage or sessionStorage (which), either
// of which may be missing or refuse (private modes); it returns undefined
// then.
func storage(which, method string, args ...any) (v js.Value) {
	defer func() {
		if recover() != nil {
			v = js.Undefined()
		}
	}()
	st := js.Global().Get(which)
	if st.IsUndefined() || st.IsNull() {
		return js.Undefined()
	}
	return st.Call(method, args...)
}
