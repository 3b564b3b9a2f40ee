package server

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ClientPool is the room: every member, from either transport, and the one
// goroutine that applies everything that happens in it.
//
// What changes the room (a join, a message, a rename, a leave) is appended
// to the room's log by the member's reader (journal.go), and the pool
// goroutine (Run) applies the log in its order (room.go), so every member
// sees every event in that one order, and a newcomer's snapshot comes
// before any event after its join. The pool never waits for a member:
// events go into each member's bounded outbox, and a member that falls too
// far behind is dropped and announced as left.
type ClientPool struct {
	ops     chan func()
	done    chan struct{} // closed when Run returns
	log     *slog.Logger
	now     func() time.Time
	roomLog roomLog // where the room's events are stored and ordered (journal.go)
	retain  int     // messages the log keeps
	node    string  // this node's name

	// Owned by the pool goroutine.
	pool      map[string]*Member // joined members by id
	names     map[string]*Member // joined members by name key
	order     []*Member          // joined members in join order
	roster    rosterList         // their entries, as newcomers get them
	pending   map[string]waiter  // this node's members whose join or resume is not yet applied, by id
	tokens    map[string]*Member // web members by the hash of their resume token
	history   *history           // messages
	recent    *history           // every numbered event, for members who resume
	recentFor time.Duration      // how long recent keeps an event after it was applied
	marks     []appliedMark      // the applied seq now and then, for forgetting old recent events
	forgotten int                // recent events let go since recent was last empty
	grace     time.Duration      // how long a dropped web member keeps its place; 0: not at all
	replayed  uint64             // the log's last entry when the pool started: replayed, not live
	closed    bool               // shutting down: nobody else may join
	touched   []*outbox          // outboxes pushed to since the last flush
	runs      broadcastRuns      // where broadcast events are copied (broadcast)
	churn     int                // joins and leaves since memory was last returned
	tidy      *time.Timer        // returns memory once a storm of them is over
	applied   uint64             // the last log entry applied
	whole     uint64             // every log entry after this one has been applied: none was purged unseen
	waiting   []waitingOp        // work waiting for a log entry to be applied
	untrimmed int                // messages applied since the log was last trimmed
	forgets   []pendingForget    // subjects of the log to purge, oldest first
	fannedOut bool               // this batch applied events of the log: time its flush

	flushShare int // minFlushShare, but for tests

	// When to return memory after a storm, and what to call then (tests).
	tidyAfter int
	tidyQuiet time.Duration
	onTidy    func()

	// Member counts by transport, written by the pool goroutine and read
	// without waiting for it, so /healthz answers even when the pool is busy.
	metrics            *roomMetrics
	bg                 sync.WaitGroup // appends made off the pool goroutine (appendLater)
	webCount, tcpCount atomic.Int64
	seq                atomic.Uint64 // applied, for /healthz
}

// newClientPool returns an empty pool that stores its messages in roomLog,
// keeping the last retain there, and replays the last historySize to
// newcomers. Call Run to start it.
func newClientPool(roomLog roomLog, retain, historySize int, log *slog.Logger) *ClientPool {
	p := &ClientPool{
		ops:     make(chan func(), 1024),
		done:    make(chan struct{}),
		log:     log,
		now:     time.Now,
		roomLog: roomLog,
		retain:  retain,
		pool:    make(map[string]*Member),
		names:   make(map[string]*Member),
		pending: make(map[string]waiter),
		tokens:  make(map[string]*Member),
		history: newHistory(max(retain, historySize), historySize),
		recent:  newHistory(max(retain, historySize), 0),

		runs:       broadcastRuns{web: broadcastRun{sep: '\n'}},
		flushShare: minFlushShare,
		tidyAfter:  defaultTidyAfter,
		tidyQuiet:  defaultTidyQuiet,
		recentFor:  recentSlack,
	}
	p.metrics = newRoomMetrics(p)
	return p
}

// Run orders the pool's work until ctx is done. Calls made after that
// return without effect.
func (p *ClientPool) Run(ctx context.Context) {
	defer close(p.done)
	for {
		select {
		case op := <-p.ops:
			start := time.Now()
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
			if p.fannedOut {
				p.fannedOut = false
				p.metrics.fannedOut(start)
			}
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
	parts := min(runtime.GOMAXPROCS(0), len(p.touched)/p.flushShare)
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

// minFlushShare is the fewest outboxes worth handing to another core: a
// flush splits only from twice as many. Below that, the flush is short and
// another core's goroutine costs more than it saves, most of all where
// other processes want the cores too: three nodes of 333 members on 2
// cores (scenario 9) used ~7 points less CPU and a 15% lower p99 with
// their flushes whole (bench/NOTES.md, "Three nodes, flushes whole").
const minFlushShare = 256

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
// 2 s, the pool returns it at once. The quiet is short because a room
// that has just filled is usually about to be busy, and until the tidy
// it holds the storm's memory on top of what its traffic needs (with 10 s,
// the first 10 s of scenario 7's load); it costs two collections per
// 1000 joins and leaves at most, and two more when a quiet room has let
// 1000 recent events or more go (forgetOldEvents).
const (
	defaultTidyAfter = 1000
	defaultTidyQuiet = 2 * time.Second
)

// churned counts a join or leave. Pool goroutine only.
func (p *ClientPool) churned() {
	if p.churn++; p.churn >= p.tidyAfter {
		p.tidySoon()
	}
}

// tidySoon returns memory once the room has been quiet for tidyQuiet.
func (p *ClientPool) tidySoon() {
	if p.tidy == nil {
		p.tidy = time.AfterFunc(p.tidyQuiet, p.returnMemory)
	} else {
		p.tidy.Reset(p.tidyQuiet)
	}
}

// recentSlack is how long, beyond the grace, the recent events are kept
// for members who resume, unless the server's timeouts ask for longer (New
// sets the pool's recentFor): a member can resume until the grace after
// its drop was noticed, and a dead connection is noticed up to a ping
// interval and a ping timeout (25 s and 10 s by default) after the member
// last heard anything, or a write timeout (10 s) for one that stopped
// reading.
const recentSlack = time.Minute

// appliedMark is the last log entry applied at a moment.
type appliedMark struct {
	at  time.Time
	seq uint64
}

// forgetOldEvents lets the recent events go once no member that may still
// resume can need them: those applied more than recentFor ago. A member
// that resumes from before them is sent the history instead, as after any
// gap (welcome's recovered is false). Without this, an idle room would
// hold its last 10,000 joins, with their frames, for good. Once a quiet
// room has let them all go, and they were many, their memory (and what
// the log let go meanwhile, such as its window of message ids) is returned
// as after a storm. Called every tick, on the pool goroutine; the marks,
// at most one per hundredth of recentFor, say what was applied when.
func (p *ClientPool) forgetOldEvents() {
	now := p.now()
	if len(p.marks) == 0 || now.Sub(p.marks[len(p.marks)-1].at) >= p.recentFor/100 {
		p.marks = append(p.marks, appliedMark{now, p.applied})
	}
	n := 0
	for n < len(p.marks) && now.Sub(p.marks[n].at) >= p.recentFor {
		n++
	}
	if n == 0 {
		return
	}
	through := p.marks[n-1].seq
	p.marks = slices.Delete(p.marks, 0, n)
	p.forgotten += p.recent.forgetThrough(through)
	if p.recent.count == 0 {
		if p.forgotten >= p.tidyAfter {
			p.tidySoon()
		}
		p.forgotten = 0
	}
}

// returnMemory runs when a storm is over.
func (p *ClientPool) returnMemory() {
	p.post(func() {
		p.churn = 0
		p.roster = rosterList{} // the next to ask lists everyone again
	})
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
func (p *ClientPool) call(op func()) bool { return p.callAfter(0, op) }

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

// refuse tells m alone that its input was not accepted.
func (p *ClientPool) refuse(m *Member, r *Refusal) {
	p.metrics.refusal(r.Code).Inc()
	p.log.Debug("refused", "id", m.id, "code", r.Code)
	p.tell(m, refusalFrame(r))
}

// tell queues f for m alone, dropping m if it is too far behind. It
// reports whether m is still in the pool.
func (p *ClientPool) tell(m *Member, f frame) bool {
	if m.out.push(f) {
		p.touch(m.out)
		p.metrics.deliveries[m.via].Inc()
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
		for _, f := range frames {
			if !f.part {
				p.metrics.deliveries[m.via].Inc()
			}
		}
		return true
	}
	p.drop(m)
	return false
}

// drop ends a member that is too far behind, giving its connection only a
// short time to take the last words; its leave goes through the log.
func (p *ClientPool) drop(m *Member) {
	if m.gone.Swap(true) {
		return
	}
	m.out.hurry()
	m.out.close(endSlow)
	p.appendLater(leaveEntry(m.id, m.tokenHash, whySlow)) // the pool never waits for the log
}

// broadcast queues f for every member except one (nil for none); members too
// far behind to take it are dropped, and their leaving is broadcast in turn.
func (p *ClientPool) broadcast(f frame, except *Member) {
	var slow []*Member
	var web, tcp uint64
	var run frame // f in the runs, copied for each transport when first needed
	for _, m := range p.order {
		if m == except || m.out == nil || m.mentioned { // nil: connected to another node; mentioned: gets its own
			continue
		}
		if m.via == ViaWeb && run.web == nil {
			run.web = p.runs.web.add(f.web)
		} else if m.via == ViaTCP && run.tcp == nil {
			run.tcp = p.runs.tcp.add(f.tcp)
		}
		if m.out.pushRun(run) {
			p.touch(m.out)
			if m.via == ViaWeb {
				web++
			} else {
				tcp++
			}
		} else {
			slow = append(slow, m)
		}
	}
	if len(f.web) > 0 {
		p.metrics.deliveries[ViaWeb].Add(int(web))
	}
	if len(f.tcp) > 0 {
		p.metrics.deliveries[ViaTCP].Add(int(tcp))
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
