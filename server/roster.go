package server

// Who is online, as a newcomer (or \who) gets it. The pool keeps every
// member's entry listed in join order, encoded for both transports, and a
// roster is a small head, that shared list and a tail, queued back to back
// as one event. A storm of 1000 joins sends 1000 rosters; each copying the
// list it held was half a million entries, a third of what the storm
// allocated.

import "strconv"

// rosterList is the members' entries in join order, as they go out.
// What it has handed out is never written again: it grows only past the
// end of every roster that holds it, and any other change (a leave, a
// rename, someone away) starts a new one. Pool goroutine only.
type rosterList struct {
	entries []*byte // each listed member's entry (Member.entry) when listed
	web     []byte  // '[' then the entries, comma-separated
	tcp     []byte  // the names, comma-separated, each away one followed by " (away)"
}

// The pieces of a WebSocket roster around the list; its head also carries
// the frame's header.
const (
	rosterHead = `{"type":"existing_users","users":`
	rosterTail = `]}`
)

// frames returns the roster of members (the pool's join order) for a
// member on via: the `* online now` line on TCP, the `existing_users`
// event on the WebSocket. The second and third pieces continue the first.
func (r *rosterList) frames(members []*Member, via Transport) []frame {
	r.update(members)
	if via == ViaTCP {
		head := []byte("* online now (" + strconv.Itoa(len(members)) + "): ")
		return []frame{{tcp: head}, {tcp: r.tcp[:len(r.tcp):len(r.tcp)], part: true}, {tcp: crlf, part: true}}
	}
	list := r.web[:len(r.web):len(r.web)]
	head := appendFrameHeader(make([]byte, 0, 10+len(rosterHead)), opText, len(rosterHead)+len(list)+len(rosterTail))
	head = append(head, rosterHead...)
	return []frame{{web: head}, {web: list, part: true}, {web: []byte(rosterTail), part: true}}
}

var crlf = []byte("\r\n")

// update makes the list hold members: it appends those who joined since,
// or starts again when anything else changed.
func (r *rosterList) update(members []*Member) {
	listed := len(r.entries)
	if listed > len(members) || !r.holds(members[:listed]) {
		*r = rosterList{} // rosters handed out keep the old one
		listed = 0
	}
	if r.web == nil {
		r.web = append(r.web, '[')
	}
	for _, m := range members[listed:] {
		if len(r.entries) > 0 {
			r.web = append(r.web, ',')
			r.tcp = append(r.tcp, ", "...)
		}
		r.web = append(r.web, m.entry...)
		r.tcp = append(r.tcp, m.name...)
		if m.away {
			r.tcp = append(r.tcp, " (away)"...)
		}
		r.entries = append(r.entries, &m.entry[0])
	}
}

// holds reports whether the list starts with members as they are now. A
// member's entry is encoded anew whenever what it shows changes (a
// rename, away, back); one that resumed takes over the entry of the
// Member it replaces (applyResume), which shows the same.
func (r *rosterList) holds(members []*Member) bool {
	for i, m := range members {
		if r.entries[i] != &m.entry[0] {
			return false
		}
	}
	return true
}
