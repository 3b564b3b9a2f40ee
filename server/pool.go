package server

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// ClientPool is the room: every member, from either transport, and the one
// goroutine that orders everything that happens in it.
//
// Its exported methods may be called from any goroutine; each hands its work
// to the pool goroutine (Run) through one channel, so every member sees every
// event in the same order, and a newcomer's snapshot comes before any event
// that follows its join. The pool never waits for a member: events go into
// each member's bounded outbox, and a member that falls too far behind is
// dropped and announced as left.
type ClientPool struct {
	ops  chan func()
	done chan struct{} // closed when Run returns
	log  *slog.Logger
	now  func() time.Time

	// Owned by the pool goroutine.
	pool    map[string]*Member // joined members by id
	names   map[string]*Member // joined members by name key
	order   []*Member          // joined members in join order
	history *history
	closed  bool        // shutting down: nobody else may join
	touched []*outbox   // outboxes pushed to since the last flush
	churn   int         // joins and leaves since memory was last returned
	tidy    *time.Timer // returns memory once a storm of them is over

	// When to return memory after a storm, and what to call then (tests).
	tidyAfter int
	tidyQuiet time.Duration
	onTidy    func()

	// Member counts by transport, written by the pool goroutine and read
	// without waiting for it, so /healthz answers even when the pool is busy.
	webCount, tcpCount atomic.Int64
}

// NewClientPool returns an empty pool that replays the last historySize
// messages to newcomers. Call Run to start it.
func NewClientPool(historySize int, log *slog.Logger) *ClientPool {
	return &ClientPool{
		ops:     make(chan func(), 1024),
		done:    make(chan struct{}),
		log:     log,
		now:     time.Now,
		pool:    make(map[string]*Member),
		names:   make(map[string]*Member),
		history: newHistory(historySize),

		tidyAfter: defaultTidyAfter,
		tidyQuiet: defaultTidyQuiet,
	}
}

// Run orders the pool's work until ctx is done. Calls made after that
// return without effect.
func (p *ClientPool) Run(ctx context.Context) {
	defer close(p.done)
	for {
		select {
		case op := <-p.ops:
			p.do(op)
			// Take what else is waiting, then wake each writer once: under
			// load a member gets many events in one write.
			for more := maxBatchOps; more > 0; more-- {
				select {
				case op := <-p.ops:
					p.do(op)
					continue
				default:
				}
				break
			}
			p.flush()
		case <-ctx.Done():
			if p.tidy != nil {
				p.tidy.Stop()
			}
			return
		}
	}
}

// maxBatchOps bounds how many ops the pool runs before waking writers.
const maxBatchOps = 256

// flush wakes the writers of every outbox pushed to since the last flush.
func (p *ClientPool) flush() {
	for _, o := range p.touched {
		o.touched = false
	}
	parts := min(runtime.GOMAXPROCS(0), len(p.touched)/minFlushShare)
	var wg sync.WaitGroup
	for i := 1; i < parts; i++ {
		share := p.touched[i*len(p.touched)/parts : (i+1)*len(p.touched)/parts]
		wg.Go(func() { p.flushAll(share) })
	}
	p.flushAll(p.touched[:len(p.touched)/max(parts, 1)])
	wg.Wait()
	clear(p.touched)
	p.touched = p.touched[:0]
}

// minFlushShare is the fewest outboxes worth handing to another core.
const minFlushShare = 64

// flushAll writes what is queued in each outbox.
func (p *ClientPool) flushAll(outboxes []*outbox) {
	for _, o := range outboxes {
		p.flushOne(o)
	}
}

// flushOne writes one outbox. A bug that panics in it ends that member's
// connection only: its reader then sees the connection end.
func (p *ClientPool) flushOne(o *outbox) {
	defer func() {
		if v := recover(); v != nil {
			p.log.Error("panic writing to a member", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			o.conn.Close()
		}
	}()
	o.flush()
}

// After a storm of joins or leaves (each announced to everyone, each
// newcomer sent the whole roster), the heap is far larger than what stays
// in use, and the runtime returns the rest to the system only minutes
// later. So after 1000 joins and leaves, once the room has had none for
// 10 s, the pool returns it at once.
const (
	defaultTidyAfter = 1000
	defaultTidyQuiet = 10 * time.Second
)

// churned counts a join or leave. Pool goroutine only.
func (p *ClientPool) churned() {
	if p.churn++; p.churn < p.tidyAfter {
		return
	}
	if p.tidy == nil {
		p.tidy = time.AfterFunc(p.tidyQuiet, p.returnMemory)
	} else {
		p.tidy.Reset(p.tidyQuiet)
	}
}

// returnMemory runs when a storm is over.
func (p *ClientPool) returnMemory() {
	p.post(func() { p.churn = 0 })
	// Two collections: each also halves the stacks of goroutines that use
	// little of theirs, and a member's reader grew its stack while joining.
	runtime.GC()
	debug.FreeOSMemory()
	if p.onTidy != nil {
		p.onTidy()
	}
}

// do runs one op. A bug that panics in it is logged and the pool goes on:
// one member's bad moment must not end the room.
func (p *ClientPool) do(op func()) {
	defer func() {
		if v := recover(); v != nil {
			p.log.Error("panic in the pool", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	op()
}

// post hands op to the pool goroutine without waiting for it to run.
func (p *ClientPool) post(op func()) {
	select {
	case p.ops <- op:
	case <-p.done:
	}
}

// call runs op on the pool goroutine and waits for it. It reports false if
// the pool has stopped and op did not run.
func (p *ClientPool) call(op func()) bool {
	ran := make(chan struct{})
	p.post(func() {
		defer close(ran)
		op()
	})
	select {
	case <-ran:
		return true
	case <-p.done:
		return false
	}
}

// Register adds m to the pool under the given name, or under a fresh
// `guest-N` name if name is empty. The member receives its snapshot
// (welcome, who is online, history) before any later event, and everyone
// else hears that it joined. A refused name leaves m outside the pool, free
// to try again.
func (p *ClientPool) Register(m *Member, name string) *Refusal {
	refusal := refuse(CodeBadRequest, "the server is shutting down")
	p.call(func() { refusal = p.register(m, name) })
	return refusal
}

// Unregister removes m from the pool, if it is there, and tells everyone
// that it left. The transport calls it when the connection has ended.
func (p *ClientPool) Unregister(m *Member) {
	p.call(func() { p.remove(m, endGone, "left") })
}

// Input takes one line of member input from either transport: it is
// cleaned, parsed and, when valid, broadcast or answered. Refusals go to m
// alone. Empty lines are ignored.
func (p *ClientPool) Input(m *Member, raw string) {
	testHookInput(raw)
	text := Clean(raw)
	if strings.TrimSpace(text) == "" {
		return
	}
	cmd, refusal := ParseCommand(text)
	if refusal == nil && (cmd.Kind == CommandSay || cmd.Kind == CommandMe) && utf8.RuneCountInString(cmd.Arg) > MaxMessageRunes {
		refusal = refuse(CodeTooLong, "message too long: at most "+strconv.Itoa(MaxMessageRunes)+" characters")
	}
	p.post(func() {
		if !m.joined {
			return
		}
		if refusal != nil {
			p.refuse(m, refusal)
			return
		}
		p.handle(m, cmd)
	})
}

// Tell sends a refusal or a warning to m alone.
func (p *ClientPool) Tell(m *Member, r *Refusal) {
	p.post(func() {
		if m.joined {
			p.refuse(m, r)
		}
	})
}

// Shutdown closes every member's connection with the shutdown notice and
// refuses anyone who tries to join afterwards.
func (p *ClientPool) Shutdown() {
	p.call(func() {
		p.closed = true
		for _, m := range p.order {
			m.joined = false
			m.out.close(endShutdown)
		}
		p.webCount.Store(0)
		p.tcpCount.Store(0)
		p.log.Info("pool closed", "members", len(p.order))
		p.order = nil
		clear(p.pool)
		clear(p.names)
	})
}

// Counts reports how many members are in the pool, by transport. It does
// not wait for the pool goroutine.
func (p *ClientPool) Counts() (web, tcp int) {
	return int(p.webCount.Load()), int(p.tcpCount.Load())
}

// count adjusts the member counts by delta for m's transport.
func (p *ClientPool) count(m *Member, delta int64) {
	if m.via == ViaWeb {
		p.webCount.Add(delta)
	} else {
		p.tcpCount.Add(delta)
	}
}

// Members returns who is in the pool, in join order.
func (p *ClientPool) Members() []MemberInfo {
	var out []MemberInfo
	p.call(func() {
		out = make([]MemberInfo, len(p.order))
		for i, m := range p.order {
			out[i] = MemberInfo{ID: m.id, Name: m.name, Via: m.via}
		}
	})
	return out
}

// Test hooks, replaced by tests (export_test.go) to make a bug happen: one
// runs in a member's reader goroutine, one on the pool goroutine.
var (
	testHookInput  = func(text string) {}
	testHookHandle = func(text string) {}
)

// MemberInfo is the public view of a member.
type MemberInfo struct {
	ID   string
	Name string
	Via  Transport
}

// The methods below run on the pool goroutine only.

func (p *ClientPool) register(m *Member, name string) *Refusal {
	if p.closed {
		return refuse(CodeBadRequest, "the server is shutting down")
	}
	if m.joined {
		return refuse(CodeBadRequest, "you have already joined")
	}
	display, key := "", ""
	if name == "" {
		display = p.guestName()
		key = display
	} else {
		var r *Refusal
		if display, key, r = p.checkNewName(m, name); r != nil {
			p.log.Info("join refused", "via", m.via, "addr", m.addr, "code", r.Code)
			return r
		}
	}
	m.id = p.newID()
	m.setName(display, key)
	m.joined = true
	p.pool[m.id] = m
	p.names[m.key] = m
	p.order = append(p.order, m)
	p.count(m, 1)
	p.churned()
	p.log.Info("join", "id", m.id, "name", m.name, "via", m.via, "addr", m.addr)

	// The snapshot always fits (outbox contract 4), so m is announced.
	p.tellSnapshot(m, welcomeFrame(m), rosterFrame(p.order, m.via), historyFrame(p.history.messages()))
	p.broadcast(joinedFrame(m), m)
	return nil
}

func (p *ClientPool) handle(m *Member, cmd Command) {
	testHookHandle(cmd.Arg)
	switch cmd.Kind {
	case CommandSay, CommandMe:
		id, err := uuid.NewV7()
		if err != nil {
			p.refuse(m, refuse(CodeBadRequest, "the server could not take your message; try again"))
			return
		}
		f := messageFrame(m, cmd.Arg, cmd.Kind == CommandMe, p.now(), id.String())
		p.history.add(f)
		p.broadcast(f, nil)
	case CommandNick:
		p.rename(m, cmd.Arg)
	case CommandWho:
		p.tellSnapshot(m, rosterFrame(p.order, m.via))
	case CommandHelp:
		p.tell(m, noticeFrame(helpLines...))
	case CommandQuit:
		p.remove(m, endQuit, "quit")
	}
}

func (p *ClientPool) rename(m *Member, name string) {
	display, key, r := p.checkNewName(m, name)
	if r != nil {
		p.refuse(m, r)
		return
	}
	old := m.name
	delete(p.names, m.key)
	m.setName(display, key)
	p.names[key] = m
	p.log.Info("rename", "id", m.id, "old", old, "name", m.name)
	p.broadcast(renameFrame(m, old), nil)
}

// checkNewName decides whether m may take name: valid, not the server's
// guest prefix, and not held by anyone else.
func (p *ClientPool) checkNewName(m *Member, name string) (display, key string, r *Refusal) {
	display, key, r = checkName(name)
	switch {
	case r != nil:
		return "", "", r
	case m.joined && display == m.name:
		return "", "", refuse(CodeNameTaken, "you are already called "+m.name)
	case m.joined && key == m.key:
		return display, key, nil // a change of case (or form) of one's own name
	case strings.HasPrefix(key, guestPrefix):
		return "", "", refuse(CodeNameInvalid, "names starting with 'guest-' are given by the server")
	case p.names[key] != nil:
		return "", "", refuse(CodeNameTaken, "the name "+display+" is taken")
	}
	return display, key, nil
}

// remove takes m out of the pool, ends its connection for the given reason
// and tells everyone left.
func (p *ClientPool) remove(m *Member, end ending, why string) {
	if !m.joined {
		return
	}
	m.joined = false
	delete(p.pool, m.id)
	delete(p.names, m.key)
	if i := slices.Index(p.order, m); i >= 0 {
		p.order = slices.Delete(p.order, i, i+1)
	}
	p.count(m, -1)
	p.churned()
	m.out.close(end)
	p.log.Info("leave", "id", m.id, "name", m.name, "via", m.via, "reason", why)
	p.broadcast(leftFrame(m), nil)
}

// refuse tells m alone that its input was not accepted.
func (p *ClientPool) refuse(m *Member, r *Refusal) {
	p.log.Debug("refused", "id", m.id, "code", r.Code)
	p.tell(m, refusalFrame(r))
}

// tell queues f for m alone, dropping m if it is too far behind. It
// reports whether m is still in the pool.
func (p *ClientPool) tell(m *Member, f frame) bool {
	if m.out.push(f) {
		p.touch(m.out)
		return true
	}
	p.drop(m)
	return false
}

// tellSnapshot queues a snapshot for m alone: beyond the outbox limit,
// unless m has not yet taken the last one (then as tell does).
func (p *ClientPool) tellSnapshot(m *Member, frames ...frame) bool {
	if m.out.pushSnapshot(frames...) {
		p.touch(m.out)
		return true
	}
	p.drop(m)
	return false
}

// drop removes a member that is too far behind, giving its connection only a
// short time to take the last words.
func (p *ClientPool) drop(m *Member) {
	m.out.hurry()
	p.remove(m, endSlow, "too slow")
}

// broadcast queues f for every member except one (nil for none); members too
// far behind to take it are dropped, and their leaving is broadcast in turn.
func (p *ClientPool) broadcast(f frame, except *Member) {
	var slow []*Member
	for _, m := range p.order {
		if m == except {
			continue
		}
		if m.out.push(f) {
			p.touch(m.out)
		} else {
			slow = append(slow, m)
		}
	}
	for _, m := range slow {
		p.drop(m)
	}
}

// touch notes that o has events to flush.
func (p *ClientPool) touch(o *outbox) {
	if !o.touched {
		o.touched = true
		p.touched = append(p.touched, o)
	}
}

// guestName returns an unused `guest-N` name. N is random so names do not
// reveal how many have joined, from a range that grows with the pool.
func (p *ClientPool) guestName() string {
	bound := max(100, 10*(len(p.order)+1))
	for {
		name := guestPrefix + strconv.Itoa(1+rand.IntN(bound))
		if p.names[name] == nil {
			return name
		}
	}
}

// newID returns a member id not in use.
func (p *ClientPool) newID() string {
	for {
		if id := newMemberID(); p.pool[id] == nil {
			return id
		}
	}
}
