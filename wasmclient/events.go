//go:build js && wasm

package main

import (
	"strconv"
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
	case "history":
		if c.olderPending {
			c.olderPending = false
			c.prependOlder(ev)
			return
		}
		msgs := ev.Get("messages")
		for i := range msgs.Length() {
			c.showMessage(msgs.Index(i))
		}
		c.olderDone = !ev.Get("more").Truthy()
	case "new_user":
		id, name := str(ev, "id"), str(ev, "new_user_name")
		if _, known := c.boxes[id]; !known {
			c.addUser(id, name, str(ev, "via"))
		}
		c.event(name + " joined")
	case "disconnect_user":
		id := str(ev, "id")
		if box, ok := c.boxes[id]; ok {
			box.Call("remove")
			delete(c.boxes, id)
			c.updateCount()
		}
		c.event(str(ev, "name") + " left")
	case "rename":
		id, name := str(ev, "id"), str(ev, "name")
		if box, ok := c.boxes[id]; ok {
			setText(box, ".name", name)
			setText(box, ".avatar", initial(name))
		}
		if id == c.selfID {
			c.name, c.sess.name = name, name
			c.sess.save()
			storage("localStorage", "setItem", nameKey, name)
		}
		c.event(str(ev, "old_name") + " is now known as " + name)
	case "message":
		c.showMessage(ev)
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
			c.setStatus("connected")
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

// setUsers redraws #users from an existing_users list, keeping the boxes
// of members already shown: a resume or \who changes nothing on the page
// for members who are simply still there.
func (c *client) setUsers(users js.Value) {
	boxes := make(map[string]js.Value, users.Length())
	for i := range users.Length() {
		u := users.Index(i)
		id, name, via := str(u, "id"), str(u, "name"), str(u, "via")
		box, ok := c.boxes[id]
		if !ok {
			box = c.userBox(id, name, via)
		}
		setText(box, ".name", name)
		setText(box, ".avatar", initial(name))
		if id == c.selfID {
			box.Get("dataset").Set("self", "")
		} else {
			box.Get("dataset").Delete("self")
		}
		c.users.Call("append", box) // moves a kept box into join order
		boxes[id] = box
	}
	for id, box := range c.boxes {
		if _, ok := boxes[id]; !ok {
			box.Call("remove")
		}
	}
	c.boxes = boxes
	c.updateCount()
}

// addUser draws one member's box at the end of #users.
func (c *client) addUser(id, name, via string) {
	box := c.userBox(id, name, via)
	c.users.Call("append", box)
	c.boxes[id] = box
	c.updateCount()
}

// userBox makes one member's box from the page's template, keyed by id.
func (c *client) userBox(id, name, via string) js.Value {
	box := clone(c.userTpl)
	ds := box.Get("dataset")
	ds.Set("userId", id)
	ds.Set("via", via)
	if id == c.selfID {
		ds.Set("self", "")
	}
	setText(box, ".name", name)
	setText(box, ".via", via)
	setText(box, ".avatar", initial(name))
	box.Get("style").Call("setProperty", "--hue", hue(id))
	return box
}

func (c *client) updateCount() {
	if !c.count.IsNull() {
		c.count.Set("textContent", len(c.boxes))
	}
}

// showMessage appends a `message` event to #log, once per message id (a
// rejoin replays history the page may already show).
func (c *client) showMessage(m js.Value) {
	if line, ok := c.messageLine(m); ok {
		c.appendLine(line)
	}
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
	if m.Get("me").Truthy() {
		kind, who = "me", "* "+who
	}
	if str(m, "id") == c.selfID {
		kind += " own"
	}
	line := c.line(kind, who, str(m, "text"), str(m, "time"))
	if seq := seqOf(m); seq > 0 {
		line.Get("dataset").Set("seq", seq)
	}
	return line, true
}

// event logs a join, leave or rename.
func (c *client) event(text string) { c.addLine("event", "", text, "") }

// notice logs the server's words for us.
func (c *client) notice(text string) { c.addLine("notice", "*", text, "") }

func (c *client) addLine(kind, who, text, at string) { c.appendLine(c.line(kind, who, text, at)) }

// line makes one line of #log from the page's template.
func (c *client) line(kind, who, text, at string) js.Value {
	line := clone(c.lineTpl)
	line.Set("className", "line "+kind)
	setText(line, ".who", who)
	setText(line, ".text", text)
	if at != "" {
		t := line.Call("querySelector", ".at")
		t.Call("setAttribute", "datetime", at)
		date := js.Global().Get("Date").New(at)
		t.Set("textContent", date.Call("toLocaleTimeString", js.ValueOf([]any{}), js.ValueOf(map[string]any{"hour": "2-digit", "minute": "2-digit"})))
	}
	return line
}

// appendLine adds a line at the end of #log, keeping the view at the
// bottom if it was there.
func (c *client) appendLine(line js.Value) {
	log := c.log
	atBottom := log.Get("scrollHeight").Float()-log.Get("scrollTop").Float()-log.Get("clientHeight").Float() < 40
	log.Call("append", line)
	for log.Get("childElementCount").Int() > maxLogLines {
		log.Get("firstElementChild").Call("remove")
	}
	if atBottom {
		log.Set("scrollTop", log.Get("scrollHeight"))
	}
}

// initial is the letter shown in a member's avatar.
func initial(name string) string {
	for _, r := range name {
		return strings.ToUpper(string(r))
	}
	return "?"
}

// hue gives each member a stable colour from its id.
func hue(id string) string {
	h := uint32(2166136261) // FNV-1a
	for i := range len(id) {
		h = (h ^ uint32(id[i])) * 16777619
	}
	return strconv.Itoa(int(h % 360))
}
