//go:build js && wasm

package main

import (
	"strconv"
	"strings"
	"syscall/js"
	"unicode/utf8"
)

// Bounds that keep a long-open page from growing without limit.
const (
	maxLogLines = 1000 // lines kept in #log
	maxSeenIDs  = 2000 // message ids remembered to skip replayed history

	maxMessageRunes = 1000 // the server refuses longer messages (SPEC §6)
)

// Words for #status besides connecting, connected and reconnecting….
const (
	statusNeedName     = "waiting for your name"
	statusDisconnected = "disconnected"
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
	plan     int  // counts scheduled reconnects: only the latest may fire
	waiting  bool // a reconnect is scheduled: retry now, or when the network is back
	sess     session
	seen     map[string]bool // ids of messages already in #log
	seenFIFO []string

	members map[string]*member // everyone in the room, by id
	order   []string           // member ids in join order
	drawn   int                // members with a box in #users
	extra   int                // 1 when your own box is drawn past maxBoxes

	rosterDue bool // the existing_users after a welcome is the room, not an answer to \who

	title      string // the page's own title, before counts
	unread     int    // lines that came while the tab was hidden
	mentions   int    // of them, those that name you
	below      int    // messages added below a reader scrolled up
	typingSent float64
	typers     map[string]typer

	olderPending bool // a history request is outstanding: the next history answers it
	olderDone    bool // the server has no messages before the oldest shown
}

func newClient(doc js.Value) *client {
	return &client{page: findPage(doc), ws: js.Undefined(), sess: loadSession(), seen: map[string]bool{},
		members: map[string]*member{}, typers: map[string]typer{}, title: doc.Get("title").String()}
}

// start adopts the boxes the server rendered, wires the forms, and joins
// with the name given while the client was loading. The dialog, already
// shown by the loader, is left alone so typing in it is not disturbed.
func (c *client) start() {
	c.adoptRendered()
	on(c.nameForm, "submit", func(ev js.Value) {
		ev.Call("preventDefault")
		c.join(c.nameInput.Get("value").String())
	})
	// Esc on the name dialog closes it; the page then offers to join
	// rather than waiting on a name no one is asked for.
	on(c.dialog, "close", func(js.Value) {
		if !c.joined && !c.nameInput.Get("disabled").Bool() {
			c.nameInput.Set("disabled", false)
			c.setStatus(statusNeedName)
			c.joinButton.Set("hidden", false)
		}
	})
	on(c.joinButton, "click", func(js.Value) { c.askName("") })
	on(c.sendForm, "submit", func(ev js.Value) {
		ev.Call("preventDefault")
		c.sendMessage()
	})
	on(c.message, "input", func(js.Value) {
		text := c.message.Get("value").String()
		c.checkLength(text)
		c.typed(text)
	})
	on(c.log, "scroll", func(js.Value) {
		c.seenBelow()
		c.loadOlder()
	})
	on(c.newBelow, "click", func(js.Value) { c.scrollToEnd() })
	on(c.users, "click", c.offerPrivate)
	on(c.users, "keydown", func(ev js.Value) {
		if k := ev.Get("key").String(); k == "Enter" || k == " " {
			ev.Call("preventDefault")
			c.offerPrivate(ev)
		}
	})
	on(c.retry, "click", func(js.Value) { c.retryNow() })
	on(js.Global(), "online", func(js.Value) { c.retryNow() })
	on(c.doc, "visibilitychange", func(js.Value) {
		if !c.doc.Get("hidden").Bool() {
			c.attended()
			c.retryNow()
		}
	})
	on(js.Global(), "focus", func(js.Value) { c.attended() })
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
	c.setStatus(statusNeedName)
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
	c.joinButton.Set("hidden", true)
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
	c.setStatus("connecting")
	if c.ws.IsUndefined() {
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
	if c.checkLength(text) {
		c.message.Call("focus")
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
	c.checkLength("")
	c.typingSent = 0 // the next keystroke starts a new bout of typing
}

// checkLength warns, beside the message box, of a text the server would
// refuse as too long, before it is sent. It reports whether it is.
func (c *client) checkLength(text string) bool {
	n := utf8.RuneCountInString(text)
	if n <= maxMessageRunes {
		if c.warning.Get("textContent").String() != "" {
			c.warning.Set("textContent", "")
			c.message.Call("removeAttribute", "aria-invalid")
		}
		return false
	}
	c.warning.Set("textContent", "Too long to send: "+strconv.Itoa(n)+" characters, at most "+strconv.Itoa(maxMessageRunes)+". Shorten it or send it in parts.")
	c.message.Call("setAttribute", "aria-invalid", "true")
	return true
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
