//go:build js && wasm

package main

import (
	"math/rand/v2"
	"syscall/js"
)

// Close codes the client treats specially.
const (
	closeNormal = 1000 // \quit, or the server ended us on purpose
)

// Reconnection backoff, in milliseconds.
const (
	backoffFirst = 500
	backoffMax   = 10_000
)

// connect opens the WebSocket and, once it is open, joins under c.name.
// The socket's listeners are released when it closes, the last event a
// WebSocket fires, so each reconnect leaves nothing behind.
func (c *client) connect() {
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
			c.sendJoin()
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
			c.closed(ev.Get("code").Int(), ev.Get("reason").String())
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

func (c *client) sendJoin() {
	c.send(map[string]any{"type": "got_a_new_user", "name": c.name})
}

// closed handles the end of the connection: after \quit it offers to join
// again; otherwise it reconnects with backoff and rejoins under the same
// name.
func (c *client) closed(code int, reason string) {
	c.ws = js.Undefined()
	wasJoined := c.joined
	c.setJoined(false)
	if code == closeNormal && c.quitting {
		c.quitting = false
		c.setStatus("disconnected")
		c.notice("you left the room")
		c.askName("")
		return
	}
	if wasJoined {
		c.notice("connection lost" + suffix(reason) + "; reconnecting…")
	}
	c.setStatus("reconnecting…")
	delay := min(backoffMax, backoffFirst<<min(c.retries, 5))
	delay += rand.IntN(delay/2 + 1) // jitter, so a restarted server is not hit by everyone at once
	c.retries++
	after(delay, func() {
		if !c.ws.IsUndefined() {
			return // a join while we waited has connected already
		}
		c.setStatus("connecting")
		c.connect()
	})
}

func suffix(reason string) string {
	if reason == "" {
		return ""
	}
	return " (" + reason + ")"
}
