//go:build js && wasm

package main

import (
	"math/rand/v2"
	"syscall/js"
)

// Close codes the client treats specially.
const (
	closeReplaced = 4001 // a resume elsewhere took this connection's place
)

// Reconnection backoff, in milliseconds: the first retry comes quickly
// (a restarting server is back within a second), later ones further apart.
const (
	backoffFirst = 250
	backoffMax   = 5_000
)

// connect opens the WebSocket and, once it is open, resumes the session
// or joins under c.name. The socket's listeners are released when it
// closes, the last event a WebSocket fires, so each reconnect leaves
// nothing behind.
func (c *client) connect() {
	c.waiting = false // a reconnect still scheduled is not needed now
	loc := js.Global().Get("location")
	scheme := "ws://"
	if loc.Get("protocol").String() == "https:" {
		scheme = "wss://"
	}
	ws := js.Global().Get("WebSocket").New(scheme + loc.Get("host").String() + "/ws")
	c.ws = ws
	var onOpen, onMessage, onClose js.Func
	onOpen = listener(func(js.Value) {
		if c.ws.Equal(ws) {
			c.sendFirst()
		}
	})
	onMessage = listener(func(ev js.Value) {
		if c.ws.Equal(ws) {
			c.receive(ev.Get("data").String())
		}
	})
	onClose = listener(func(ev js.Value) {
		// Detached first, so the browser holds no listener that could
		// call a released function.
		for _, name := range socketHandlers {
			ws.Set(name, js.Null())
		}
		onOpen.Release()
		onMessage.Release()
		onClose.Release() // allowed while it runs
		if c.ws.Equal(ws) {
			c.closed(ev.Get("code").Int())
		}
	})
	ws.Set("onopen", onOpen)
	ws.Set("onmessage", onMessage)
	ws.Set("onclose", onClose)
}

// socketHandlers are the WebSocket handler properties connect sets.
var socketHandlers = []string{"onopen", "onmessage", "onclose"}

// send writes one event, built as a JS object and encoded by the browser.
func (c *client) send(fields map[string]any) bool {
	if c.ws.IsUndefined() || c.ws.Get("readyState").Int() != 1 {
		return false
	}
	c.ws.Call("send", js.Global().Get("JSON").Call("stringify", js.ValueOf(fields)))
	return true
}

// sendFirst sends a new connection's first frame: resume when there is a
// place to take back, else a join.
func (c *client) sendFirst() {
	if !c.sess.canResume() {
		c.sendJoin()
		return
	}
	c.resuming = c.send(map[string]any{"type": "resume", "token": c.sess.token, "since": c.sess.seq})
}

func (c *client) sendJoin() {
	c.send(map[string]any{"type": "got_a_new_user", "name": c.name})
}

// resumeFailed joins anew under the same name on the same connection,
// after the server refused the resume (grace over, token used, or a
// server that does not resume).
func (c *client) resumeFailed() {
	c.resuming = false
	c.sess.forget()
	c.sendJoin()
}

// closed handles the end of the connection. After \quit, or when another
// connection took our place, it offers to join again. Otherwise the end
// was not ours (network lost, server restarting): it reconnects with
// backoff, and the new connection resumes.
func (c *client) closed(code int) {
	c.ws = js.Undefined()
	c.resuming = false
	c.olderPending = false
	c.setJoined(false)
	c.setStale(true)
	c.typers = map[string]typer{}
	c.showTyping()
	if c.quitting || code == closeReplaced {
		c.sess.forget()
		c.setStatus("disconnected")
		if c.quitting {
			c.notice("you left the room")
		} else {
			c.notice("you joined from another connection; this one is closed")
		}
		c.quitting = false
		c.retry.Set("hidden", true)
		c.askName("")
		return
	}
	c.setStatus("reconnecting…")
	c.retry.Set("hidden", false)
	delay := 0 // the first retry at once: a dropped connection often just works again
	if c.retries > 0 {
		delay = min(backoffMax, backoffFirst<<min(c.retries-1, 5))
		delay -= rand.IntN(delay/2 + 1) // jitter, so a restarted server is not hit by everyone at once
	}
	c.retries++
	c.doc.Get("body").Get("dataset").Set("retryDelay", delay)
	c.waiting = true
	c.plan++
	plan := c.plan
	after(delay, func() {
		if plan == c.plan && c.waiting {
			c.connect()
		}
	})
}

// retryNow reconnects at once if a reconnect is waiting: the reader asked,
// the browser is back online, or the tab is shown again.
func (c *client) retryNow() {
	if c.waiting && c.ws.IsUndefined() {
		c.connect()
	}
}
