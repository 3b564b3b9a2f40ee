package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
)

// rosterOn is the roster as a member on via receives it: the TCP line, or
// the WebSocket frame's payload, checked to be one whole frame.
func rosterOn(t *testing.T, frames []frame, via Transport) string {
	t.Helper()
	var b []byte
	for i, f := range frames {
		if f.part != (i > 0) {
			t.Fatalf("piece %d: part %v", i, f.part)
		}
		if via == ViaTCP {
			b = append(b, f.tcp...)
		} else {
			b = append(b, f.web...)
		}
	}
	if via == ViaTCP {
		return string(b)
	}
	payload := b[2:]
	switch b[1] {
	case 126:
		payload = b[4:]
	case 127:
		payload = b[10:]
	}
	if !bytes.Equal(appendFrameHeader(nil, opText, len(payload)), b[:len(b)-len(payload)]) {
		t.Fatalf("frame header % x for %d bytes", b[:len(b)-len(payload)], len(payload))
	}
	return string(payload)
}

// TestRosterList checks the roster after each kind of change, and that a
// roster handed out stays as it was whatever the room does after.
func TestRosterList(t *testing.T) {
	member := func(name string) *Member {
		m := &Member{id: "user_" + name, via: ViaWeb}
		m.setName(name, name)
		return m
	}
	ann, bob, cid := member("ann"), member("bob"), member("cid")
	type user struct{ ID, Name, Via string }
	check := func(frames []frame, tcp string, web ...string) {
		t.Helper()
		if got := rosterOn(t, frames, ViaTCP); got != tcp {
			t.Errorf("TCP roster %q, want %q", got, tcp)
		}
		var event struct {
			Type  string
			Users []user
		}
		payload := rosterOn(t, frames, ViaWeb)
		if err := json.Unmarshal([]byte(payload), &event); err != nil || event.Type != "existing_users" {
			t.Fatalf("WebSocket roster %s: %v", payload, err)
		}
		var names []string
		for _, u := range event.Users {
			names = append(names, u.Name)
		}
		if !slices.Equal(names, web) {
			t.Errorf("WebSocket roster names %q, want %q", names, web)
		}
	}
	var r rosterList
	pieces := func(members ...*Member) []frame {
		tcp, web := r.frames(members, ViaTCP), r.frames(members, ViaWeb)
		out := make([]frame, len(tcp))
		for i := range tcp {
			out[i] = frame{tcp: tcp[i].tcp, web: web[i].web, part: tcp[i].part}
		}
		return out
	}

	empty := pieces()
	check(empty, "* online now (0): \r\n")
	one := pieces(ann)
	two := pieces(ann, bob)
	check(two, "* online now (2): ann, bob\r\n", "ann", "bob")
	check(one, "* online now (1): ann\r\n", "ann") // not overwritten by bob

	bob.away, bob.awayReason = true, "lunch"
	bob.entry = rosterEntry(bob)
	away := pieces(ann, bob, cid)
	check(away, "* online now (3): ann, bob (away), cid\r\n", "ann", "bob", "cid")
	check(two, "* online now (2): ann, bob\r\n", "ann", "bob")

	cid.setName("dee", "dee")
	check(pieces(ann, bob, cid), "* online now (3): ann, bob (away), dee\r\n", "ann", "bob", "dee")
	check(away, "* online now (3): ann, bob (away), cid\r\n", "ann", "bob", "cid")

	// A resumed member is another Member with the same entry: the list
	// stays (applyResume).
	resumed := &Member{id: ann.id, via: ViaWeb}
	resumed.setName(ann.name, ann.key)
	resumed.entry = ann.entry
	before := &r.frames([]*Member{ann, bob, cid}, ViaWeb)[1].web[0]
	if after := &r.frames([]*Member{resumed, bob, cid}, ViaWeb)[1].web[0]; after != before {
		t.Errorf("a resume made a new list")
	}

	check(pieces(bob, cid), "* online now (2): bob (away), dee\r\n", "bob", "dee")
	check(pieces(cid, ann), "* online now (2): dee, ann\r\n", "dee", "ann")
	check(pieces(), "* online now (0): \r\n")

	// Joins share the list: it is copied only when it grows.
	var crowd []*Member
	lists := map[*byte]bool{}
	for i := range 1000 {
		crowd = append(crowd, member(fmt.Sprint("guest-", i)))
		lists[&r.frames(crowd, ViaWeb)[1].web[0]] = true
	}
	if len(lists) > 30 {
		t.Errorf("1000 joins made %d lists", len(lists))
	}
}
