package server

// The members' side of the room's log (package roomlog). A message's way:
//
//	reader (tcp.go | ws.go) → Input: clean, parse → append to the log
//	  → the log's follower → apply (room.go), on the pool goroutine, in log order
//	  → each member's outbox → flush to the sockets
//
// Joins, renames and leaves take the same way, so a name is decided, and a
// message stored, before anyone hears of it, every member sees the room in
// the log's order, and the pool rebuilds the room by replaying the log when
// it starts. Each member's reader appends its own entries one at a time,
// so the log keeps them in the order they were typed. What a member asks
// of this node alone (\who, \help, a refusal) waits until that member's
// earlier entries are applied, so the answer comes after them.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/poolchat/poolchat/server/roomlog"
)

// roomLog is what the pool needs of the room's log. The server runs on
// JetStream (natsLog); tests where time is faked use one in memory.
type roomLog interface {
	Epoch() string
	LastSeq(ctx context.Context) (uint64, error)
	Append(ctx context.Context, subject, msgID string, data []byte) (uint64, error)
	Follow(from uint64, handle func(roomlog.Entry)) (follower, error)
	Trim(ctx context.Context, subject string, keep int) error
	Forget(ctx context.Context, subject string) error
	Alive(ctx context.Context, node string) error
	Nodes(ctx context.Context) (map[string]bool, error)
	Signal(data []byte) error
	OnSignal(handle func(data []byte)) (stop func(), err error)
	Connected() bool
	Embedded() bool
	Close() error
}

// follower hands the log's entries to the pool (roomlog.Follower).
type follower interface {
	Stop() error
}

// natsLog is the room's log on JetStream.
type natsLog struct{ *roomlog.Log }

func (l natsLog) Follow(from uint64, handle func(roomlog.Entry)) (follower, error) {
	return l.Log.Follow(from, handle)
}

// Log subjects: one for the messages, so that they can be trimmed to the
// last few, and one per member for its join, renames and leave, forgotten
// when it leaves.
const subjectMsg = "msg"

func subjectMember(id string) string { return "member." + id }

// appendTimeout bounds one request to the log.
const appendTimeout = 5 * time.Second

// errLogDown refuses what cannot be stored.
var errLogDown = refuse(CodeBadRequest, "the room cannot be reached right now; try again")

// appendTries is how often append tries an entry before it gives up.
const appendTries = 3

// append stores e in the log on behalf of m (nil: the node itself) and
// returns its seq. m's later answers wait for it.
//
// The request runs on a goroutine of its own, for the caller's sake: a
// JetStream publish and its acknowledgement (nats.go's request path, JSON
// encoding before it) take a deep stack, and a member's reader that ran
// them itself would keep that stack, twice its own, for as long as it sits
// idle (the runtime shrinks a stack only when less than a quarter of it is
// in use). A goroutine that ends gives its stack back.
func (p *ClientPool) append(m *Member, e entry) (uint64, error) {
	type stored struct {
		seq uint64
		err error
	}
	done := make(chan stored, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				p.log.Error("panic appending to the log", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				done <- stored{err: errLogDown}
			}
		}()
		seq, err := p.store(e)
		done <- stored{seq, err}
	}()
	r := <-done
	if r.err == nil && m != nil {
		m.sent.Store(r.seq)
	}
	return r.seq, r.err
}

// store appends e to the log. An append whose answer was lost may have
// been stored: it is tried again with the same message id, which the log
// stores once.
func (p *ClientPool) store(e entry) (seq uint64, err error) {
	if e.MsgID == "" {
		e.MsgID = uuid.NewString()
	}
	data, err := json.Marshal(e)
	if err != nil {
		panic("server: encoding a log entry: " + err.Error()) // strings, bools and a time: cannot fail
	}
	subject := subjectMember(e.ID)
	if e.Kind == kindSay || e.Kind == kindPrivate {
		subject = subjectMsg // kept, and trimmed, with the other messages
	}
	for try := range appendTries {
		ctx, cancel := context.WithTimeout(context.Background(), appendTimeout/appendTries)
		seq, err = p.roomLog.Append(ctx, subject, e.MsgID, data)
		cancel()
		if err == nil || errors.Is(err, roomlog.ErrClosed) {
			break
		}
		p.log.Warn("log append", "kind", e.Kind, "id", e.ID, "try", try+1, "err", err)
	}
	return seq, err
}

// appendLater appends e off the pool goroutine, trying again every second
// until the log takes it or closes: a leave must not be lost to a blip.
func (p *ClientPool) appendLater(e entry) {
	p.bg.Go(func() {
		for {
			if _, err := p.append(nil, e); err == nil || errors.Is(err, roomlog.ErrClosed) {
				return
			}
			select {
			case <-time.After(time.Second):
			case <-p.done:
				return
			}
		}
	})
}

// leaveEntry is the leave of member id, which holds the resume token whose
// hash is token ("" for none), for the given reason. It applies only while
// the member still holds that token, so the late leave of a connection
// that was taken over does not end its successor; and its message id is
// the same however often it is appended (by the reader and by the pool
// dropping a slow member, say), so the log keeps one.
func leaveEntry(id, token, why string) entry {
	return entry{Kind: kindLeave, ID: id, Why: why, Token: token, MsgID: "leave-" + id + "-" + token}
}

// ownToken is the hash of the token m's reader holds, "" for none.
func (m *Member) ownToken() string {
	if m.token == "" {
		return ""
	}
	return tokenHash(m.token)
}

// Register adds m to the room under the given name, or under a fresh
// `guest-N` name if name is empty, and returns when the room has decided.
// The member receives its snapshot (welcome, who is online, history)
// before any later event, and everyone else hears that it joined. A refused
// name leaves m outside the room, free to try again. Register, Input and
// Unregister are called from m's reader goroutine.
func (p *ClientPool) Register(m *Member, name string) *Refusal {
	if m.inRoom {
		return refuse(CodeBadRequest, "you have already joined")
	}
	e := entry{Kind: kindJoin, Name: name, Via: m.via, Node: p.node}
	if name == "" {
		web, tcp := p.Counts()
		e.Guest = guestPrefix + strconv.Itoa(1+rand.IntN(max(100, 10*(web+tcp+1))))
	} else if _, _, r := checkAskedName(name); r != nil {
		return r // plainly invalid: not worth a log entry
	}
	// A fresh id for each try: a refused join's entries are forgotten.
	m.id = newMemberID()
	e.ID = m.id
	if m.via == ViaWeb && p.grace > 0 {
		m.token = newResumeToken()
		e.Token = tokenHash(m.token)
	}
	return p.enter(m, e)
}

// enter appends m's join or resume and waits for the room's answer, given
// when the entry is applied: nil when m is in.
func (p *ClientPool) enter(m *Member, e entry) *Refusal {
	shuttingDown := refuse(CodeBadRequest, "the server is shutting down")
	answer := make(chan *Refusal, 1)
	closed, busy := true, false
	p.call(func() {
		_, busy = p.pending[m.id]
		if closed = p.closed; !closed && !busy {
			p.pending[m.id] = waiter{m, answer}
		}
	})
	switch {
	case closed:
		return shuttingDown
	case busy: // another connection is resuming this place right now
		return refuse(CodeResumeFailed, "that place is being taken back on another connection")
	}
	if _, err := p.append(m, e); err != nil {
		// Stored or not, this try is over: if its entry comes, it is a
		// join nobody waits for, and leaves at once (applyJoin).
		id := m.id
		p.call(func() { delete(p.pending, id) })
		select {
		case r := <-answer: // applied just before: the room decided
			m.inRoom = r == nil
			return r
		default:
			return errLogDown
		}
	}
	select {
	case r := <-answer:
		m.inRoom = r == nil
		return r
	case <-p.done:
		return shuttingDown
	}
}

// waiter is a member of this node whose join or resume the room has not
// yet applied, and where the room's answer goes.
type waiter struct {
	m      *Member
	answer chan *Refusal
}

// Resume gives m the place of the web member whose resume token it holds,
// and returns when the room has decided: m then has that member's id and
// name and a new token, and has been sent what it missed since the seq it
// last saw. Nobody else hears of it.
func (p *ClientPool) Resume(m *Member, token string, since uint64) *Refusal {
	failed := refuse(CodeResumeFailed, "that place is gone or was taken back already; join again")
	if m.inRoom {
		return refuse(CodeBadRequest, "you have already joined")
	}
	old := tokenHash(token)
	closed := true
	p.call(func() {
		closed = p.closed
		if held := p.tokens[old]; held != nil && !closed {
			m.id = held.id
		} else {
			m.id = ""
		}
	})
	switch {
	case closed:
		return refuse(CodeBadRequest, "the server is shutting down")
	case m.id == "":
		p.metrics.resume("failed").Inc()
		return failed // not worth a log entry
	}
	m.token, m.resumeSince = newResumeToken(), since
	return p.enter(m, entry{Kind: kindResume, ID: m.id, Old: old, Token: tokenHash(m.token), Node: p.node})
}

// Detach keeps m's place after its connection dropped without a goodbye,
// for the resume grace: nobody hears it left unless the grace ends first.
// Members that cannot resume (TCP, or the grace is off) leave at once.
func (p *ClientPool) Detach(m *Member) {
	if !m.inRoom || m.gone.Load() {
		return
	}
	if m.via != ViaWeb || p.grace <= 0 {
		p.Unregister(m)
		return
	}
	m.inRoom = false
	p.callAfter(m.sent.Load(), func() { p.detach(m) })
}

// Unregister takes m out of the room, if it is there, after what it sent,
// and tells everyone that it left. The transport calls it when the
// connection has ended.
func (p *ClientPool) Unregister(m *Member) {
	if !m.inRoom || m.gone.Load() {
		return
	}
	m.inRoom = false
	p.leave(m, whyClosed)
}

// leave appends m's leave and returns once it is applied, its connection
// then ending. When the log cannot take it now, the connection ends at
// once and the leave goes in as soon as the log takes it: until then the
// room still lists m.
func (p *ClientPool) leave(m *Member, why string) {
	e := leaveEntry(m.id, m.ownToken(), why)
	if seq, err := p.append(m, e); err == nil {
		p.callAfter(seq, func() {})
		return
	}
	p.call(func() {
		m.gone.Store(true)
		m.out.close(endingFor(why))
	})
	p.appendLater(e)
}

// Input takes one line of member input from either transport: it is
// cleaned and parsed; a message, a rename or a \quit goes into the log, a
// question is answered after the member's earlier entries. Refusals go to
// m alone. Empty lines are ignored, and so is anything after m left.
func (p *ClientPool) Input(m *Member, raw string) {
	testHookInput(raw)
	text := Clean(raw)
	if strings.TrimSpace(text) == "" || !m.inRoom || m.gone.Load() {
		return
	}
	cmd, refusal := ParseCommand(text)
	if refusal == nil && (cmd.Kind == CommandSay || cmd.Kind == CommandMe) && utf8.RuneCountInString(cmd.Arg) > MaxMessageRunes {
		refusal = refuse(CodeTooLong, "message too long: at most "+strconv.Itoa(MaxMessageRunes)+" characters")
	}
	switch {
	case refusal != nil:
		p.tellAfter(m, refusal)
	case cmd.Kind == CommandSay || cmd.Kind == CommandMe:
		p.say(m, cmd.Arg, cmd.Kind == CommandMe)
	case cmd.Kind == CommandMsg:
		p.msgByName(m, cmd.To, cmd.Arg)
	case cmd.Kind == CommandAway:
		p.appendOrTell(m, entry{Kind: kindAway, ID: m.id, Text: cmd.Arg})
		m.isAway.Store(true) // for its next line, before the pool applies it
	case cmd.Kind == CommandBack:
		p.appendOrTell(m, entry{Kind: kindBack, ID: m.id})
		m.isAway.Store(false)
	case cmd.Kind == CommandNick:
		// Waited for, so that the next line is said under the new name.
		if seq, err := p.append(m, entry{Kind: kindRename, ID: m.id, Name: cmd.Arg}); err != nil {
			p.tellAfter(m, errLogDown)
		} else {
			p.callAfter(seq, func() {})
		}
	case cmd.Kind == CommandQuit:
		m.inRoom = false
		p.leave(m, whyQuit)
	default:
		p.postAfter(m.sent.Load(), func() {
			if m.joined {
				p.handle(m, cmd)
			}
		})
	}
}

// say appends m's message to the log. The pool broadcasts it when the log
// hands it back. A member who was away is back first.
func (p *ClientPool) say(m *Member, text string, me bool) {
	if m.isAway.Swap(false) {
		p.appendOrTell(m, entry{Kind: kindBack, ID: m.id})
	}
	p.appendMessage(m, entry{Kind: kindSay, Text: text, Me: me})
}

// Private sends text to the member with id to alone (a web member's
// `private` event).
func (p *ClientPool) Private(m *Member, to, text string) {
	text = Clean(text)
	switch {
	case !m.inRoom:
		return
	case strings.TrimSpace(text) == "":
		p.tellAfter(m, refuse(CodeBadRequest, "a private message needs a text"))
	case utf8.RuneCountInString(text) > MaxMessageRunes:
		p.tellAfter(m, refuse(CodeTooLong, "message too long: at most "+strconv.Itoa(MaxMessageRunes)+" characters"))
	case to == m.id:
		p.tellAfter(m, refuse(CodeBadRequest, "that is you"))
	default:
		p.appendMessage(m, entry{Kind: kindPrivate, To: to, Text: text})
	}
}

// msgByName is \msg NAME TEXT: the name is looked up now, among those in
// the room.
func (p *ClientPool) msgByName(m *Member, name, text string) {
	var to string
	if _, key, r := checkName(name); r == nil {
		p.callAfter(m.sent.Load(), func() {
			if held := p.names[nameSkeleton(key)]; held != nil { // the name, or one that looks the same
				to = held.id
			}
		})
	}
	if to == "" {
		p.tellAfter(m, refuse(CodeNoSuchUser, "no one called "+truncate(name, MaxNameRunes)+" is here"))
		return
	}
	p.Private(m, to, text)
}

// appendMessage appends a public or private message of m's, with its
// name, time and id.
func (p *ClientPool) appendMessage(m *Member, e entry) {
	id, err := uuid.NewV7()
	if err != nil {
		p.tellAfter(m, refuse(CodeBadRequest, "the server could not take your message; try again"))
		return
	}
	e.ID, e.Name, e.Time, e.MsgID = m.id, m.shownName(), p.now().UTC(), id.String()
	p.appendOrTell(m, e)
}

// appendOrTell appends e for m, or tells m the room could not take it:
// unless e is a message the room has applied already, its append having
// lost only its answer.
func (p *ClientPool) appendOrTell(m *Member, e entry) {
	if _, err := p.append(m, e); err != nil {
		stored := false
		p.call(func() { stored = e.MsgID != "" && m.lastStored == e.MsgID })
		if !stored {
			p.tellAfter(m, errLogDown)
		}
	}
}

// Typing tells the other web members, on every node, that m is typing. It
// does not go through the log: it is news for a few seconds, not part of
// the room.
func (p *ClientPool) Typing(m *Member) {
	if !m.inRoom {
		return
	}
	p.post(func() {
		if m.joined {
			p.broadcast(typingFrame(m), m)
		}
	})
	data, _ := json.Marshal(typingSignal{Node: p.node, ID: m.id}) // two strings: cannot fail
	if err := p.roomLog.Signal(data); err != nil {
		p.log.Debug("typing signal", "err", err)
	}
}

// typingSignal tells the other nodes who is typing.
type typingSignal struct {
	Node string `json:"node"`
	ID   string `json:"id"`
}

// heardSignal takes another node's typing signal to this node's pages.
func (p *ClientPool) heardSignal(data []byte) {
	var sig typingSignal
	if json.Unmarshal(data, &sig) != nil || sig.Node == p.node {
		return
	}
	p.post(func() {
		if m := p.pool[sig.ID]; m != nil && m.out == nil {
			p.broadcast(typingFrame(m), nil)
		}
	})
}

// handle answers what a member asks of this node alone.
func (p *ClientPool) handle(m *Member, cmd Command) {
	switch cmd.Kind {
	case CommandWho:
		p.tellSnapshot(m, p.roster.frames(p.order, m.via)...)
	case CommandHelp:
		p.tell(m, noticeFrame(helpLines...))
	case CommandHistory:
		n, _ := strconv.Atoi(cmd.Arg)
		p.tell(m, historyAnswer(p.history.before(0, n)))
	}
}

// History answers a web member's request for up to limit messages before
// the seq before, after what it sent before.
func (p *ClientPool) History(m *Member, before uint64, limit int) {
	p.postAfter(m.sent.Load(), func() {
		if m.joined {
			p.tell(m, historyFrame(p.history.before(before, limit)))
		}
	})
}

// Tell sends a refusal or a warning to m alone, after what m sent before.
func (p *ClientPool) Tell(m *Member, r *Refusal) { p.tellAfter(m, r) }

// tellAfter queues r for m once m's earlier entries are applied.
func (p *ClientPool) tellAfter(m *Member, r *Refusal) {
	p.postAfter(m.sent.Load(), func() {
		if m.joined {
			p.refuse(m, r)
		}
	})
}
