//go:build js && wasm

package main

import (
	"strconv"
	"syscall/js"

	"github.com/poolchat/poolchat/templates/avatar"
)

// maxBoxes bounds the boxes in #users, as templates.MaxBoxes does for the
// rendered page: past it the list ends with a count of the rest, so a
// room of 10,000 members stays a light page. Your own box is always shown.
const maxBoxes = 200

// member is one member of the room as the page knows it.
type member struct {
	id, name, via string
	away          bool
	reason        string
	box           js.Value // its box in #users, or undefined when not drawn
}

// adoptRendered takes over the boxes the server rendered into the page.
func (c *client) adoptRendered() {
	rendered := c.users.Call("querySelectorAll", "[data-user-id]")
	for i := range rendered.Length() {
		box := rendered.Index(i)
		ds := box.Get("dataset")
		m := &member{id: ds.Get("userId").String(), via: ds.Get("via").String(), box: box}
		if n := box.Call("querySelector", ".name"); !n.IsNull() {
			m.name = n.Get("textContent").String()
		}
		c.members[m.id] = m
		c.order = append(c.order, m.id)
		c.drawn++
	}
}

// setUsers replaces the member list with an existing_users list, keeping
// the boxes of members already shown: a resume or \who changes nothing on
// the page for members who are simply still there.
func (c *client) setUsers(users js.Value) {
	n := users.Length()
	members := make(map[string]*member, n)
	order := make([]string, 0, n)
	for i := range n {
		u := users.Index(i)
		id := str(u, "id")
		m := c.members[id]
		if m == nil {
			m = &member{id: id, box: js.Undefined()}
		}
		m.name, m.via = str(u, "name"), str(u, "via")
		away := u.Get("away")
		m.away, m.reason = away.Type() == js.TypeString, ""
		if m.away {
			m.reason = away.String()
		}
		members[id] = m
		order = append(order, id)
	}
	for id, m := range c.members {
		if members[id] == nil && !m.box.IsUndefined() {
			m.box.Call("remove")
		}
	}
	c.members, c.order, c.drawn, c.extra = members, order, 0, 0
	for i, id := range order {
		m := members[id]
		if i >= maxBoxes && id == c.selfID {
			c.extra = 1
		}
		if i < maxBoxes || id == c.selfID {
			if m.box.IsUndefined() {
				m.box = c.userBox(m)
			} else {
				c.fillBox(m)
			}
			c.users.Call("append", m.box) // moves a kept box into join order
			c.drawn++
		} else if !m.box.IsUndefined() {
			m.box.Call("remove")
			m.box = js.Undefined()
		}
	}
	c.updateCount()
}

// addUser adds a member at the end of the list, with a box if there is
// room for one.
func (c *client) addUser(id, name, via string) {
	if c.members[id] != nil {
		return
	}
	m := &member{id: id, name: name, via: via, box: js.Undefined()}
	c.members[id] = m
	c.order = append(c.order, id)
	if c.drawn-c.extra < maxBoxes {
		m.box = c.userBox(m)
		c.users.Call("append", m.box)
		c.drawn++
	}
	c.updateCount()
}

// removeUser drops a member; the first member without a box takes the
// place its box leaves.
func (c *client) removeUser(id string) {
	m := c.members[id]
	if m == nil {
		return
	}
	delete(c.members, id)
	for i, o := range c.order {
		if o == id {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
	if !m.box.IsUndefined() {
		m.box.Call("remove")
		c.drawn--
		c.drawNext()
	}
	c.updateCount()
}

// drawNext gives a box to the first member in join order that has none,
// placed before the next member that has one.
func (c *client) drawNext() {
	if c.drawn-c.extra >= maxBoxes {
		return
	}
	for i, id := range c.order {
		m := c.members[id]
		if !m.box.IsUndefined() {
			continue
		}
		m.box = c.userBox(m)
		c.drawn++
		for _, next := range c.order[i+1:] {
			if b := c.members[next].box; !b.IsUndefined() {
				b.Call("before", m.box)
				return
			}
		}
		c.users.Call("append", m.box)
		return
	}
}

// userBox makes one member's box from the page's template, keyed by id,
// and gives it to m.
func (c *client) userBox(m *member) js.Value {
	box := clone(c.userTpl)
	ds := box.Get("dataset")
	ds.Set("userId", m.id)
	ds.Set("via", m.via)
	setText(box, ".via", m.via)
	m.box = box
	c.fillBox(m)
	return box
}

// fillBox shows a member's name, avatar, away state and whether it is you.
func (c *client) fillBox(m *member) {
	box := m.box
	if box.IsUndefined() {
		return
	}
	setText(box, ".name", m.name)
	setText(box, ".avatar", avatar.Initial(m.name))
	box.Call("querySelector", ".avatar").Get("dataset").Set("hue", strconv.Itoa(avatar.Hue(m.name)))
	title := m.name
	ds := box.Get("dataset")
	if m.away {
		ds.Set("away", m.reason)
		title += " (away"
		if m.reason != "" {
			title += ": " + m.reason
		}
		title += ")"
	} else {
		ds.Delete("away")
	}
	if m.id == c.selfID {
		ds.Set("self", "")
	} else {
		ds.Delete("self")
		title += " — select to send a private message"
	}
	box.Set("title", title)
}

func (c *client) updateCount() {
	if !c.count.IsNull() {
		c.count.Set("textContent", len(c.order))
	}
	if !c.usersMore.IsNull() {
		rest := len(c.order) - c.drawn
		c.usersMore.Set("hidden", rest <= 0)
		c.usersMore.Set("textContent", "and "+strconv.Itoa(rest)+" more")
	}
}

// setStale greys the member list while the page is not connected: it may
// no longer be true.
func (c *client) setStale(stale bool) {
	if stale {
		c.users.Get("dataset").Set("stale", "")
		c.users.Call("setAttribute", "aria-busy", "true")
	} else {
		c.users.Get("dataset").Delete("stale")
		c.users.Call("removeAttribute", "aria-busy")
	}
}

// whoAnswer shows the answer to \who in #log: the count and the names,
// the first ones of a large room.
func (c *client) whoAnswer() {
	const most = 50
	text := strconv.Itoa(len(c.order)) + " online: "
	for i, id := range c.order {
		if i == most {
			text += ", and " + strconv.Itoa(len(c.order)-most) + " more"
			break
		}
		if i > 0 {
			text += ", "
		}
		m := c.members[id]
		text += m.name
		if m.away {
			text += " (away)"
		}
	}
	c.notice(text)
}

// offerPrivate offers a private message to the member whose box was
// chosen (by click, or Enter on a focused box).
func (c *client) offerPrivate(ev js.Value) {
	box := ev.Get("target").Call("closest", "[data-user-id]")
	if box.IsNull() {
		return
	}
	m := c.members[box.Get("dataset").Get("userId").String()]
	if m == nil || m.id == c.selfID || !c.joined {
		return
	}
	c.message.Set("value", `\msg `+m.name+" ")
	c.message.Call("focus")
}
