package server

// The pool following the room's log: it replays the log when it starts,
// catches up after losing NATS, reaps the members of nodes that are gone,
// records its members' leaves when it stops, runs work that must wait for
// an entry to be applied, and keeps the log from growing without bound.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/poolchat/poolchat/server/roomlog"
)

// Start replays the log into the pool, which must be running, and returns
// once the room is as the log left it. Members the log still holds from
// this node's last run, or from nodes no longer alive, are reaped.
func (p *ClientPool) Start() (follower, error) {
	f, err := p.roomLog.Follow(1, func(le roomlog.Entry) {
		e := decodeEntry(le) // here, on the follower's goroutine
		p.post(func() { p.apply(e) })
	})
	if err != nil {
		return nil, fmt.Errorf("room log: %w", err)
	}
	if err := p.catchUp(startTimeout); err != nil {
		f.Stop()
		return nil, err
	}
	p.call(func() { p.replayed = p.applied })
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := p.reap(ctx, true); err != nil {
		f.Stop()
		return nil, err
	}
	return f, nil
}

// startTimeout bounds each of Start's requests: the entry that marks
// where the replay ends, and the look at which nodes are alive. In a
// cluster that has just formed, the room's stream and the nodes' bucket
// may each take more than appendTimeout to answer (their servers still
// settling who answers), though the cluster already takes this node's
// word; a node that gave up then would not start at all.
const startTimeout = 30 * time.Second

// catchUp returns once the pool has applied everything the log held when
// it was called, or fails when the log does not take a marker within
// timeout. The log's last seq may be of an entry since forgotten, which
// the follower never hands over: so an entry of this node's own, appended
// now, marks the point.
func (p *ClientPool) catchUp(timeout time.Duration) error {
	marker := "start." + uuid.NewString()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	last, err := p.roomLog.Append(ctx, marker, uuid.NewString(), []byte(`{"k":"start"}`))
	if err != nil {
		return fmt.Errorf("room log: %w", err)
	}
	if !p.callAfter(last, func() { p.forgetLater(marker) }) {
		return errors.New("room log: the pool stopped")
	}
	return nil
}

// orphanAll ends the connection of every member of this node, which has
// lost the room, and marks them for reaping once it is back.
func (p *ClientPool) orphanAll() {
	p.call(func() {
		for _, m := range p.order {
			if m.out != nil && !m.orphan {
				m.orphan = true
				m.gone.Store(true)
				m.out.close(endLost)
			}
		}
		// Joins and resumes waiting for the room are answered now; should
		// their entries come, they leave at once (applyJoin).
		for id, w := range p.pending {
			w.answer <- refuse(CodeBadRequest, "the room is unavailable; try another server")
			delete(p.pending, id)
		}
	})
}

// reap ends the membership of those whose node is gone: a node that is no
// longer alive, or, at start, this node's own last run. TCP members leave
// (the node that notices first records it; the log keeps one); web members
// keep their place for the resume grace, on every node at once.
func (p *ClientPool) reap(ctx context.Context, starting bool) error {
	alive, err := p.roomLog.Nodes(ctx)
	if err != nil {
		return fmt.Errorf("room log: %w", err)
	}
	var leaving []*Member
	kept := 0
	p.call(func() {
		// On a log of its own, this node is the only one: any other name
		// is one of its own earlier runs.
		alone := p.roomLog.Embedded()
		for _, m := range p.order {
			gone := !alive[m.node] || starting && m.node == p.node || m.orphan || alone && m.node != p.node
			if m.node == "" { // from before nodes had names: this node's last run
				gone = starting
			}
			if m.lost || !gone || m.out != nil && !m.orphan {
				continue
			}
			m.lost = true
			if m.via == ViaWeb && m.tokenHash != "" && p.grace > 0 {
				p.detach(m)
				kept++
			} else {
				leaving = append(leaving, m)
			}
		}
	})
	for i, m := range leaving {
		if _, err := p.append(nil, leaveEntry(m.id, m.tokenHash, whyNodeLost)); err != nil {
			p.call(func() { // the next reap tries those again
				for _, m := range leaving[i:] {
					m.lost = false
				}
			})
			return fmt.Errorf("room log: %w", err)
		}
	}
	if len(leaving)+kept > 0 {
		p.log.Info("members whose node is gone", "left", len(leaving), "keeping_their_place", kept)
	}
	return nil
}

// Shutdown ends every member's connection with the shutdown notice, records
// the leaves of those who cannot resume in the log, and refuses anyone who
// tries to join afterwards. The members are told first, so nobody hears
// the others leave.
func (p *ClientPool) Shutdown() {
	var leaving []*Member
	p.call(func() {
		p.closed = true
		for _, m := range p.order {
			m.stopGrace()
			if m.out == nil {
				continue // another node's
			}
			m.gone.Store(true)
			m.out.close(endShutdown)
			// Web members may take their place back when the server is
			// up again; TCP members cannot.
			if m.tokenHash == "" {
				leaving = append(leaving, m)
			}
		}
		p.log.Info("pool closed", "members", len(p.order), "leaving", len(leaving))
	})
	// Appended side by side: one after the other, thousands of them could
	// outlast the stop's few seconds.
	var last atomic.Uint64
	var appending sync.WaitGroup
	sem := make(chan struct{}, 32)
	for _, m := range leaving {
		sem <- struct{}{}
		appending.Go(func() {
			defer func() { <-sem }()
			seq, err := p.append(nil, leaveEntry(m.id, "", whyShutdown))
			if err != nil && !errors.Is(err, roomlog.ErrClosed) {
				p.log.Warn("recording a leave at shutdown", "id", m.id, "err", err)
			}
			for cur := last.Load(); seq > cur && !last.CompareAndSwap(cur, seq); cur = last.Load() {
			}
		})
	}
	appending.Wait()
	p.callAfter(last.Load(), func() {})
}

// waitingOp is work for the pool that must come after the log entry seq.
type waitingOp struct {
	after uint64
	op    func()
}

// postAfter runs op on the pool goroutine once the log is applied up to
// seq.
func (p *ClientPool) postAfter(seq uint64, op func()) {
	p.post(func() {
		if p.applied >= seq {
			op()
			return
		}
		p.waiting = append(p.waiting, waitingOp{seq, op})
	})
}

// callAfter is postAfter waiting for op to run. It reports false if the
// pool stopped first.
func (p *ClientPool) callAfter(seq uint64, op func()) bool {
	ran := make(chan struct{})
	p.postAfter(seq, func() {
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

// runWaiting runs, in the order they came, the waiting ops whose entry has
// been applied. Pool goroutine only.
func (p *ClientPool) runWaiting() {
	if len(p.waiting) == 0 {
		return
	}
	kept := p.waiting[:0]
	for _, w := range p.waiting {
		if p.applied >= w.after {
			p.do(w.op)
		} else {
			kept = append(kept, w)
		}
	}
	clear(p.waiting[len(kept):])
	p.waiting = kept
}

// tidyLog is the pool's share of each tick: the purges and the trim of
// the log that are due, and the recent events no resume can need now.
func (p *ClientPool) tidyLog(ctx context.Context) {
	p.forgetDue(ctx)
	p.trimDue(ctx)
	p.post(p.forgetOldEvents)
}

// trimDue trims the log to the last retain messages once a tenth of that
// has come since the last trim, so it stays bounded without a request per
// message. It runs outside the pool goroutine, so the pool never waits for
// the log; trimming the oldest messages moves no reader of the log.
func (p *ClientPool) trimDue(ctx context.Context) {
	due := false
	p.call(func() {
		if due = p.untrimmed >= max(p.retain/10, 100); due {
			p.untrimmed = 0
		}
	})
	if !due {
		return
	}
	if err := p.roomLog.Trim(ctx, subjectMsg, p.retain); err != nil {
		p.log.Warn("log trim", "err", err)
	}
}

// forget purges a member's entries from the log once it has left (or was
// refused): they no longer change the room. Not at once: purging a subject
// moves every reader of the stream past the purged entries, so a purge of
// an entry that a node has not read yet would make it skip whatever came
// before (as JetStream does it); after forgetDelay every node has read it.
// Purging is idempotent, so entries replayed at start are forgotten again:
// the run that applied them live may have stopped before it could.
func (p *ClientPool) forget(id string) {
	p.forgetLater(subjectMember(id))
}

// forgetLater queues a subject of the log to be purged after forgetDelay.
// Pool goroutine only.
func (p *ClientPool) forgetLater(subject string) {
	p.forgets = append(p.forgets, pendingForget{subject, time.Now().Add(forgetDelay)})
}

// forgetDelay is how far behind every node an entry is before it is
// purged: a node further behind has lost the room anyway.
const forgetDelay = 30 * time.Second

// pendingForget is a subject of the log to purge once its time has come.
type pendingForget struct {
	subject string
	due     time.Time
}

// forgetDue purges the subjects whose time has come. It runs outside the
// pool goroutine, so the pool never waits for the log.
func (p *ClientPool) forgetDue(ctx context.Context) {
	var due []pendingForget
	p.call(func() {
		n := 0
		for n < len(p.forgets) && !p.forgets[n].due.After(time.Now()) {
			n++
		}
		due = slices.Clone(p.forgets[:n])
		p.forgets = slices.Delete(p.forgets, 0, n)
	})
	for _, f := range due {
		if err := p.roomLog.Forget(ctx, f.subject); err != nil {
			p.log.Warn("log forget", "subject", f.subject, "err", err)
		}
	}
}
