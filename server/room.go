package server

// The room's rules, applied on the pool goroutine to each entry of the
// room's log in its order. Everything a decision needs is in the entry or
// in what earlier entries left (names, guest numbers, who is in), never a
// clock or a random number, so the same log gives the same room wherever
// and whenever it is applied: on this node now, after a restart, or on
// another node.

import (
	"crypto/subtle"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/poolchat/poolchat/server/roomlog"
)

// entry is one event in the room's log, as a member's reader appends it.
// Which fields are set depends on Kind.
type entry struct {
	Kind  string    `json:"k"`               // kindJoin, kindRename, kindLeave, kindSay
	ID    string    `json:"id"`              // the member
	Name  string    `json:"name,omitempty"`  // join: the name asked for ("" for a guest); rename: the new name; say: the sender's
	Guest string    `json:"guest,omitempty"` // join of a guest: the name proposed
	Via   Transport `json:"via,omitempty"`   // join
	Text  string    `json:"text,omitempty"`  // say
	Me    bool      `json:"me,omitempty"`    // say: an action (\me)
	Time  time.Time `json:"time,omitzero"`   // say: when the sender's node took it
	MsgID string    `json:"msg_id,omitempty"`
	Why   string    `json:"why,omitempty"`   // leave: one of the why constants
	Token string    `json:"token,omitempty"` // join, resume: the hash of the member's resume token; leave after the grace: the one it held then
	Old   string    `json:"old,omitempty"`   // resume: the hash of the token given up
	Node  string    `json:"node,omitempty"`  // join, resume: the node the member is connected to
	To    string    `json:"to,omitempty"`    // private: the member it is for
}

// The kinds of log entries.
const (
	kindJoin    = "join"
	kindRename  = "rename"
	kindLeave   = "leave"
	kindSay     = "say"
	kindResume  = "resume"
	kindPrivate = "private"
	kindAway    = "away" // Text is the reason
	kindBack    = "back"
)

// Why a member left: the reason of its leave entry.
const (
	whyQuit     = "quit"          // \quit
	whyClosed   = "closed"        // the connection ended, or the client sent a close frame
	whySlow     = "slow"          // it did not read fast enough
	whyShutdown = "shutdown"      // its node stopped gracefully
	whyNodeLost = "node_lost"     // its node stopped without saying so
	whyGrace    = "grace_expired" // a web member that dropped did not come back in time
)

// endingFor is how a member's connection ends when its leave is applied:
// a leave it did not ask for (its node was taken for dead) ends it with
// words, so it does not linger outside the room.
func endingFor(why string) ending {
	switch why {
	case whyQuit:
		return endQuit
	case whySlow:
		return endSlow
	case whyShutdown:
		return endShutdown
	case whyNodeLost, whyGrace:
		return endLost
	}
	return endGone
}

// decodedEntry is an entry of the log, decoded by the follower before the
// pool applies it: the pool goroutine, which every event waits for, has
// enough to do without decoding JSON (a seventh of its time in a storm
// of joins).
type decodedEntry struct {
	Seq uint64
	entry
	err error // the entry could not be read
}

// decodeEntry decodes an entry of the log.
func decodeEntry(le roomlog.Entry) decodedEntry {
	r := decodedEntry{Seq: le.Seq}
	r.err = json.Unmarshal(le.Data, &r.entry)
	return r
}

// apply takes one entry of the log. An entry the room cannot read is
// logged and skipped: it cannot have been shown to anyone.
func (p *ClientPool) apply(le decodedEntry) {
	if le.Seq != p.applied+1 {
		// The entries between were purged before this pool saw them (a
		// member's entries after its leave, messages past --retain): a
		// member who resumes from before le.Seq cannot be told all it missed.
		p.whole = le.Seq - 1
	}
	defer func() { // even if applying it panics: the room goes on
		p.fannedOut = true
		p.applied = le.Seq
		p.seq.Store(le.Seq)
		p.runWaiting()
	}()
	if e := le.entry; le.err != nil {
		p.log.Error("unreadable log entry", "seq", le.Seq, "err", le.err)
	} else {
		switch e.Kind {
		case kindJoin:
			p.applyJoin(le.Seq, e)
		case kindRename:
			p.applyRename(le.Seq, e)
		case kindLeave:
			// A leave counts only for the token it was made with: a
			// member that resumed meanwhile holds another.
			if m := p.pool[e.ID]; m != nil && e.Token == m.tokenHash {
				p.remove(m, e.Why, le.Seq)
			}
		case kindResume:
			p.applyResume(le.Seq, e)
		case kindSay:
			testHookHandle(e.Text)
			p.countMessage(e)
			p.noteStored(e)
			f := messageFrame(e, le.Seq)
			p.history.add(le.Seq, e.Time, f)
			p.recent.add(le.Seq, e.Time, f)
			p.broadcastMentioning(f, e)
			p.untrimmed++
		case kindPrivate:
			p.countMessage(e)
			p.noteStored(e)
			p.applyPrivate(le.Seq, e)
			p.untrimmed++
		case kindAway, kindBack:
			p.applyAway(le.Seq, e)
		}
	}
}

// applyJoin decides a join: the first in log order to ask for a name gets
// it. The joiner, if it is this node's, gets its snapshot and hears the
// answer; everyone else hears of the newcomer.
func (p *ClientPool) applyJoin(seq uint64, e entry) {
	w := p.pending[e.ID]
	delete(p.pending, e.ID)
	m := w.m
	answer := func(r *Refusal) {
		if w.answer != nil {
			w.answer <- r
		}
	}
	if p.pool[e.ID] != nil {
		answer(refuse(CodeBadRequest, "the server could not let you in; try again"))
		return
	}
	display, key, r := "", "", (*Refusal)(nil)
	if e.Name == "" {
		display = p.guestName(e.Guest, seq)
		key = display
	} else if display, key, r = p.checkNewName(nil, e.Name); r != nil {
		if m != nil {
			p.log.Info("join refused", "id", e.ID, "via", e.Via, "code", r.Code)
		}
		p.forget(e.ID)
		answer(r)
		return
	}
	if m == nil { // another node's member, or one from before a restart
		m = &Member{id: e.ID, via: e.Via}
		p.leaveIfAbandoned(seq, e)
	}
	m.node = e.Node
	m.setName(display, key)
	m.joined = true
	m.setToken(p, e.Token)
	p.pool[m.id] = m
	p.names[m.skel] = m
	p.order = append(p.order, m)
	p.count(m, 1)
	p.churned()
	if m.out != nil {
		p.metrics.joins[m.via].Inc()
		p.log.Info("join", "id", m.id, "name", m.name, "via", m.via, "addr", m.addr, "seq", seq)
		// The snapshot always fits (outbox contract 4), so m is announced.
		snapshot := append([]frame{welcomeFrame(m, seq, p.roomLog.Epoch(), nil)}, p.roster.frames(p.order, m.via)...)
		p.tellSnapshot(m, append(snapshot, historyFrame(p.history.forNewcomer()))...)
		answer(nil)
	}
	p.broadcastNumbered(seq, joinedFrame(m, seq), m)
}

// leaveIfAbandoned sends the leave of a join or resume applied with no
// connection waiting for it, if it is this node's and live: whoever asked
// has stopped waiting (its append failed, or the room was lost), and no
// connection holds the place.
func (p *ClientPool) leaveIfAbandoned(seq uint64, e entry) {
	if e.Node == p.node && p.replayed > 0 && seq > p.replayed {
		p.appendLater(leaveEntry(e.ID, e.Token, whyClosed))
	}
}

// applyResume gives a web member's place to the connection that holds its
// token: that connection, if it is this node's, gets the member's id and
// name, a new token, and what it missed; nobody else hears anything. A
// connection the member still had is closed as replaced.
func (p *ClientPool) applyResume(seq uint64, e entry) {
	w := p.pending[e.ID]
	delete(p.pending, e.ID)
	m := w.m
	old := p.pool[e.ID]
	if old == nil || old.via != ViaWeb || subtle.ConstantTimeCompare([]byte(old.tokenHash), []byte(e.Old)) != 1 {
		if m != nil {
			p.metrics.resume("failed").Inc()
			w.answer <- refuse(CodeResumeFailed, "that place is gone or was taken back already; join again")
		}
		return
	}
	old.stopGrace()
	old.gone.Store(true)
	if old.out != nil {
		old.out.close(endReplaced)
	}
	if m == nil { // taken back through another node, or one from before a restart
		m = &Member{id: old.id, via: ViaWeb}
		p.leaveIfAbandoned(seq, e)
	}
	m.node = e.Node
	m.away, m.awayReason = old.away, old.awayReason
	m.isAway.Store(m.away)
	m.setName(old.name, old.key)
	m.entry = old.entry // the same bytes: the roster's list of members stays whole (roster.go)
	m.joined = true
	m.setToken(p, e.Token)
	old.setToken(p, "")
	old.joined = false
	p.pool[m.id] = m
	p.names[m.skel] = m
	p.order[slices.Index(p.order, old)] = m
	if m.out == nil {
		return
	}
	p.metrics.resume("ok").Inc()
	p.log.Info("resume", "id", m.id, "name", m.name, "addr", m.addr, "seq", seq)
	missed, recovered := p.recent.since(m.resumeSince, p.whole, m.id)
	if m.resumeSince > p.applied {
		recovered = false // a seq from another log
	}
	frames := append([]frame{welcomeFrame(m, seq, p.roomLog.Epoch(), &recovered)}, p.roster.frames(p.order, m.via)...)
	if recovered {
		frames = append(frames, missedFrames(missed)...)
	} else {
		frames = append(frames, historyFrame(p.history.forNewcomer()))
	}
	p.tellSnapshot(m, frames...)
	w.answer <- nil
}

// detach keeps a web member's place after its connection dropped, for the
// grace; if it is not taken back by then, its leave goes into the log.
func (p *ClientPool) detach(m *Member) {
	if !m.joined || m.tokenHash == "" || p.grace <= 0 {
		return
	}
	if m.out != nil {
		m.out.close(endGone)
	}
	token := m.tokenHash
	p.log.Info("dropped, keeping the place", "id", m.id, "grace", p.grace)
	m.grace = time.AfterFunc(p.grace, func() { p.appendLater(leaveEntry(m.id, token, whyGrace)) })
}

// countMessage counts a message said by a member of this node.
func (p *ClientPool) countMessage(e entry) {
	if m := p.pool[e.ID]; m != nil && m.out != nil {
		p.metrics.messages.Inc()
	}
}

// noteStored records on the member of this node who sent message e that
// the room has it, so that an append of it that fails afterwards (its
// answer lost with a dying server) does not ask the member to send it
// again.
func (p *ClientPool) noteStored(e entry) {
	if m := p.pool[e.ID]; m != nil && m.out != nil {
		m.lastStored = e.MsgID
	}
}

// applyPrivate delivers a private message to its two members, and keeps it
// for them alone, should they resume.
func (p *ClientPool) applyPrivate(seq uint64, e entry) {
	from, to := p.pool[e.ID], p.pool[e.To]
	if to == nil {
		if from != nil && from.out != nil {
			p.refuse(from, refuse(CodeNoSuchUser, "no one with that id is here"))
		}
		return
	}
	forSender, forRecipient := privateFrames(e, to.name, seq)
	p.recent.addFor(seq, e.Time, forRecipient, e.ID, e.To)
	if from != nil && from.out != nil {
		p.tell(from, forSender)
		if to.away {
			p.tell(from, noticeFrame(strings.TrimPrefix(strings.TrimSuffix(string(awayLine(to)), "\r\n"), "* ")))
		}
	}
	if to.out != nil && to != from {
		p.tell(to, forRecipient)
	}
}

// applyAway marks a member away or back, and tells everyone.
func (p *ClientPool) applyAway(seq uint64, e entry) {
	m := p.pool[e.ID]
	if m == nil {
		return
	}
	if e.Kind == kindBack && !m.away {
		if m.out != nil {
			p.refuse(m, refuse(CodeBadRequest, "you are not away"))
		}
		return
	}
	m.away, m.awayReason = e.Kind == kindAway, e.Text
	m.entry = rosterEntry(m)
	if m.away {
		p.broadcastNumbered(seq, awayFrame(m, seq), nil)
	} else {
		p.broadcastNumbered(seq, backFrame(m, seq), nil)
	}
}

// broadcastMentioning broadcasts a message; a TCP member whose name it
// holds as a whole word (case-insensitively, or a name that looks the
// same) gets it with a bell first. The page finds its own mentions.
func (p *ClientPool) broadcastMentioning(f frame, e entry) {
	var mentioned []*Member
	for _, word := range mentionWords(e.Text) {
		_, key, r := checkName(word)
		if r != nil {
			continue
		}
		if m := p.names[nameSkeleton(key)]; m != nil && m.id != e.ID && m.via == ViaTCP && m.out != nil && !slices.Contains(mentioned, m) {
			mentioned = append(mentioned, m)
		}
	}
	if len(mentioned) == 0 {
		p.broadcast(f, nil)
		return
	}
	for _, m := range mentioned {
		m.mentioned = true
	}
	p.broadcast(f, nil)
	bell := mentionedLine(f)
	for _, m := range mentioned {
		m.mentioned = false
		p.tell(m, bell)
	}
}

// mentionWords are the words of a text that could be names: runs of
// letters, digits, marks, '-', '_' and '.', also without trailing dots
// (the end of a sentence).
func mentionWords(text string) []string {
	var words []string
	isNameRune := func(r rune) bool {
		return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || r == '-' || r == '_' || r == '.'
	}
	for _, w := range strings.FieldsFunc(text, func(r rune) bool { return !isNameRune(r) }) {
		if utf8.RuneCountInString(w) > MaxNameRunes+8 {
			continue
		}
		words = append(words, w)
		if t := strings.TrimRight(w, "."); t != w && t != "" {
			words = append(words, t)
		}
	}
	return words
}

// applyRename renames a member unless another holds the name by now.
func (p *ClientPool) applyRename(seq uint64, e entry) {
	m := p.pool[e.ID]
	if m == nil {
		return
	}
	display, key, r := p.checkNewName(m, e.Name)
	if r != nil {
		if m.out != nil {
			p.refuse(m, r)
		}
		return
	}
	old := m.name
	delete(p.names, m.skel)
	m.setName(display, key)
	p.names[m.skel] = m
	p.log.Info("rename", "id", m.id, "old", old, "name", m.name, "seq", seq)
	p.broadcastNumbered(seq, renameFrame(m, old, seq), nil)
}

// checkNewName decides whether a member (nil: a newcomer) may take name:
// a name a member may ask for, and not held by anyone else.
func (p *ClientPool) checkNewName(m *Member, name string) (display, key string, r *Refusal) {
	display, key, r = checkName(name)
	switch {
	case r != nil:
		return "", "", r
	case m != nil && display == m.name:
		return "", "", refuse(CodeNameTaken, "you are already called "+m.name)
	case m != nil && key == m.key:
		return display, key, nil // a change of case (or form) of one's own name, guest or not
	}
	if display, key, r = checkAskedName(name); r != nil {
		return "", "", r
	}
	if held := p.names[nameSkeleton(key)]; held != nil && held != m {
		if held.key == key {
			return "", "", refuse(CodeNameTaken, "the name "+display+" is taken")
		}
		return "", "", refuse(CodeNameTaken, "the name "+display+" looks too much like "+held.name+", who is here")
	}
	return display, key, nil
}

// checkAskedName is checkName for a name a member asks for: the server's
// guest prefix is not theirs to take.
func checkAskedName(name string) (display, key string, r *Refusal) {
	display, key, r = checkName(name)
	if r == nil && strings.HasPrefix(key, guestPrefix) {
		return "", "", refuse(CodeNameInvalid, "names starting with 'guest-' are given by the server")
	}
	return display, key, r
}

// remove takes m out of the room, ends its connection if it is this
// node's, and tells everyone left. seq is its leave entry (0: none, the
// log being gone).
func (p *ClientPool) remove(m *Member, why string, seq uint64) {
	if !m.joined {
		return
	}
	m.joined = false
	m.gone.Store(true)
	delete(p.pool, m.id)
	delete(p.names, m.skel)
	if i := slices.Index(p.order, m); i >= 0 {
		p.order = slices.Delete(p.order, i, i+1)
	}
	p.count(m, -1)
	p.churned()
	m.stopGrace()
	m.setToken(p, "")
	if m.out != nil {
		p.metrics.leave(why).Inc()
		m.out.close(endingFor(why))
		p.log.Info("leave", "id", m.id, "name", m.name, "via", m.via, "reason", why, "seq", seq)
	}
	p.broadcastNumbered(seq, leftFrame(m, seq), nil)
	p.forget(m.id)
}

// broadcastNumbered broadcasts an event of the log, and keeps it for
// members who resume.
func (p *ClientPool) broadcastNumbered(seq uint64, f frame, except *Member) {
	p.recent.add(seq, time.Time{}, f)
	p.broadcast(f, except)
}

// guestName returns the guest name proposed, if it is free, else a free
// one chosen by seq, so every node applying the log chooses the same.
func (p *ClientPool) guestName(proposed string, seq uint64) string {
	if proposed != "" && p.names[nameSkeleton(proposed)] == nil {
		return proposed
	}
	bound := uint64(max(100, 10*(len(p.order)+1)))
	for n := seq; ; n = n*6364136223846793005 + 1442695040888963407 {
		name := guestPrefix + strconv.FormatUint(1+n%bound, 10)
		if p.names[nameSkeleton(name)] == nil {
			return name
		}
	}
}
