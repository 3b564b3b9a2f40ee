//go:build js && wasm

package main

import (
	"strings"
	"syscall/js"
)

// receive handles one frame from the server: one or more JSON events,
// newline-separated, handled in order.
func (c *client) receive(data string) {
	for _, line := range strings.Split(data, "\n") {
		if line == "" {
			continue
		}
		ev, ok := parseJSON(line)
		if !ok {
			continue
		}
		c.handle(ev)
	}
}

// parseJSON decodes with the browser's JSON; a malformed event is skipped.
func parseJSON(s string) (v js.Value, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	v = js.Global().Get("JSON").Call("parse", s)
	return v, v.Type() == js.TypeObject && !v.IsNull()
}

// str returns a string field of an event, or "" if it is not a string.
func str(ev js.Value, field string) string {
	if v := ev.Get(field); v.Type() == js.TypeString {
		return v.String()
	}
	return ""
}

// handle applies one server event to the page. Unknown types are ignored,
// so the server can add new ones.
func (c *client) handle(ev js.Value) {
	typ := str(ev, "type")
	switch typ {
	case "message", "private", "new_user", "disconnect_user", "rename", "away", "back":
		// Numbered events: a resume replays those after the seq we gave,
		// and one we have applied already is skipped, to be safe.
		if seq := seqOf(ev); seq > 0 {
			if seq <= c.sess.seq {
				return
			}
			c.sess.seq = seq
			c.sess.saveSeq()
		}
	}
	switch typ {
	case "welcome":
		c.welcome(ev)
	case "existing_users":
		c.setUsers(ev.Get("users"))
		if !c.rosterDue {
			c.whoAnswer()
		}
		c.rosterDue = false
	case "history":
		if c.olderPending {
			c.olderPending = false
			c.prependOlder(ev)
			return
		}
		msgs := ev.Get("messages")
		added := 0
		for i := range msgs.Length() {
			if c.showMessage(msgs.Index(i), false) {
				added++
			}
		}
		if added > 0 {
			c.divide()
		}
		c.olderDone = !ev.Get("more").Truthy()
	case "new_user":
		id, name := str(ev, "id"), str(ev, "new_user_name")
		c.addUser(id, name, str(ev, "via"))
		c.event(name + " joined")
	case "disconnect_user":
		id := str(ev, "id")
		c.removeUser(id)
		c.stoppedTyping(id)
		c.event(str(ev, "name") + " left")
	case "rename":
		id, name := str(ev, "id"), str(ev, "name")
		if m := c.members[id]; m != nil {
			m.name = name
			c.fillBox(m)
		}
		if id == c.selfID {
			c.name, c.sess.name = name, name
			c.sess.save()
			storage("localStorage", "setItem", nameKey, name)
		}
		c.event(str(ev, "old_name") + " is now known as " + name)
	case "message", "private":
		c.stoppedTyping(str(ev, "id"))
		c.showMessage(ev, true)
	case "away", "back":
		c.setAway(ev, typ == "away")
	case "typing":
		c.typing(str(ev, "id"), str(ev, "name"))
	case "notice":
		for _, l := range strings.Split(str(ev, "text"), "\n") {
			c.notice(l)
		}
	case "error":
		code, text := str(ev, "code"), str(ev, "text")
		if c.resuming {
			c.resumeFailed() // resume_failed, or a server that does not know resume
			return
		}
		if !c.joined && (code == "name_taken" || code == "name_invalid") {
			c.setStatus(statusNeedName)
			c.askName(text)
			return
		}
		c.addLine("error", "!", text, "")
	}
}

// welcome starts (or, resumed, continues) our membership: it keeps the
// next resume token and where in the room's log we are.
func (c *client) welcome(ev js.Value) {
	if c.selfID != "" && c.doc.Get("body").Call("hasAttribute", "data-dev-reload").Bool() {
		// go tool task dev: the server was rebuilt. Leave before the
		// reloaded page rejoins under the same name; this socket's close
		// is then not ours to handle.
		ws := c.ws
		c.ws = js.Undefined()
		c.sess.forget()
		ws.Call("close", 1000)
		js.Global().Get("location").Call("reload")
		return
	}
	c.resuming = false
	reconnected := c.selfID != ""
	c.rosterDue = true
	c.selfID, c.name = str(ev, "id"), str(ev, "name")
	since := c.sess.seq
	if epoch := str(ev, "epoch"); epoch != c.sess.epoch {
		// Another log: its seqs say nothing about the lines shown.
		c.sess.epoch, c.sess.seq = epoch, 0
		forgetSeqs(c.log)
	}
	recovered := ev.Get("resumed").Truthy() && ev.Get("recovered").Truthy()
	if !recovered {
		c.sess.seq = seqOf(ev) // nothing before it will be replayed
	}
	c.sess.token, c.sess.name = str(ev, "resume"), c.name
	c.sess.save()
	storage("localStorage", "setItem", nameKey, c.name)
	c.retries = 0
	c.olderDone = !recovered // until the history that follows says whether there is more
	c.setJoined(true)
	c.setStatus("connected")
	c.setStale(false)
	c.joinButton.Set("hidden", true)
	c.retry.Set("hidden", true)
	if reconnected {
		c.event("reconnected")
	}
	if c.dialog.Get("open").Bool() {
		c.dialog.Call("close")
	}
	c.message.Call("focus")
	if recovered && c.log.Get("childElementCount").Int() == 0 {
		// A page loaded again (after a crash) resumed: what came before
		// the events it missed is history it does not show yet.
		c.askOlder(since+1, olderPage)
	}
}

// showMessage appends a `message` or `private` event to #log, once per
// message id (a rejoin replays history the page may already show), and
// reports whether it did. A live one that came while the tab was hidden
// is counted in its title.
func (c *client) showMessage(m js.Value, live bool) bool {
	line, ok := c.messageLine(m)
	if !ok {
		return false
	}
	c.appendLine(line)
	if cl := line.Get("classList"); live && !cl.Call("contains", "own").Bool() {
		c.attend(cl.Call("contains", "mention").Bool())
	}
	return true
}

// setAway shows a member away (with the reason, if any) or back.
func (c *client) setAway(ev js.Value, away bool) {
	m := c.members[str(ev, "id")]
	if m == nil {
		return
	}
	m.away, m.reason = away, str(ev, "reason")
	c.fillBox(m)
	text := m.name + " is back"
	if away {
		text = m.name + " is away"
		if m.reason != "" {
			text += ": " + m.reason
		}
	}
	c.event(text)
}

// messageLine makes the line of a `message` event, unless its id is
// shown already. The line keeps the message's seq, where older history
// starts.
func (c *client) messageLine(m js.Value) (js.Value, bool) {
	if id := str(m, "msg_id"); id != "" {
		if c.seen[id] {
			return js.Undefined(), false
		}
		c.seen[id] = true
		c.seenFIFO = append(c.seenFIFO, id)
		if len(c.seenFIFO) > maxSeenIDs {
			delete(c.seen, c.seenFIFO[0])
			c.seenFIFO = c.seenFIFO[1:]
		}
	}
	kind, who := "message", str(m, "name")
	switch {
	case str(m, "type") == "private":
		kind, who = "private", who+" → "+str(m, "to_name")
	case m.Get("me").Truthy():
		kind, who = "me", "* "+who
	}
	if str(m, "id") == c.selfID {
		kind += " own"
	} else if kind != "private" && mentions(str(m, "text"), c.name) {
		kind += " mention"
	}
	line := c.line(kind, who, str(m, "text"), str(m, "time"))
	if seq := seqOf(m); seq > 0 {
		line.Get("dataset").Set("seq", seq)
	}
	return line, true
}
