package roomlog

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
)

// followHeartbeat is how often the server tells an idle follower that its
// consumer is still there; two missed in a row and the follower starts a
// new one. The consumer lives on one server: when that server dies (one of
// a cluster), this is how soon the follower notices.
const followHeartbeat = time.Second

// A follower's new consumer (its server died, or it was deleted) is asked
// for in tries of at most restartTry each, restartPause apart at first and
// twice as far each time, up to followHeartbeat. A request to make one
// gets no answer at all while the cluster elects a new metadata leader
// (its server died too), or when the leader places the consumer on a
// server that has just died and that it does not know dead yet (it learns
// that after a minute or more): short tries, each asking for a consumer of
// another name, find a live leader and server soon. A try that was
// answered too late leaves a consumer nobody pulls from (consumerIdle).
const (
	restartTry   = time.Second
	restartPause = 50 * time.Millisecond
)

// consumerIdle is how long the server keeps a consumer nobody pulls from:
// the ones a follower leaves behind when it starts another, or stops.
const consumerIdle = time.Minute

// Entry is one entry of the log, as a follower receives it.
type Entry struct {
	Seq     uint64    // its position: positive, strictly increasing, never reused
	Subject string    // relative to the room, as given to Append
	Data    []byte    // as given to Append; the follower's handle may keep it
	Time    time.Time // when the server stored it
}

// Follower hands a log's entries, in order, to one function on one
// goroutine of its own. It is made by Log.Follow.
type Follower struct {
	l        *Log
	name     string // its consumers are named name_0, name_1...
	made     int    // consumers asked for since name_0; run only
	done     chan struct{}
	stopping atomic.Bool
	stopOnce sync.Once
	err      error // why it ended by itself; written before done is closed

	stopped  chan struct{} // closed by Stop
	mu       sync.Mutex
	it       jetstream.MessagesContext // the current consumer's messages
	next     atomic.Uint64             // the seq the follower waits for
	received atomic.Int64              // when an entry last came, in Unix ns
}

// Follow calls handle with every entry whose sequence is from or more (0
// counts as 1), in sequence order, each exactly once: the entries stored
// before the call and those appended after it alike, with no gap but the
// entries that Trim and Forget removed before their turn came. handle runs
// on one goroutine, one entry at a time; it must not call Stop or Close.
//
// Entries reach handle only after they are stored. A slow handle is not
// dropped: the server holds what it has not yet delivered (at most a few
// hundred entries are buffered on the way). If delivery breaks off (two
// lost heartbeats, a gap in the consumer's own sequence, the consumer
// deleted, or, on a log shared with other servers, nothing delivered for a
// while though the log has more), the follower starts a new consumer after
// the last entry handle received, at once, so handle never sees a repeat
// or a gap.
func (l *Log) Follow(from uint64, handle func(Entry)) (*Follower, error) {
	if err := l.begin(); err != nil {
		return nil, err
	}
	defer l.ops.Done()
	if from == 0 {
		from = 1
	}
	f := &Follower{l: l, name: "poolchat_" + uuid.NewString(), done: make(chan struct{}), stopped: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	it, err := l.consume(ctx, f.name+"_0", from)
	if err != nil {
		return nil, err
	}
	f.it = it
	f.next.Store(from)
	f.received.Store(time.Now().UnixNano())

	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		it.Stop()
		return nil, ErrClosed
	}
	l.followers[f] = struct{}{}
	l.mu.Unlock()

	go f.run(handle)
	if !l.Embedded() {
		go f.watch()
	}
	return f, nil
}

// consume makes the consumer named name, which delivers the stream from
// seq from on, and pulls its messages. It is what the NATS client calls an
// ordered consumer, but restarted by the follower itself: the client's
// own restarts wait 1 s, 2 s, 4 s... between tries, and cannot be stopped
// while they wait.
func (l *Log) consume(ctx context.Context, name string, from uint64) (jetstream.MessagesContext, error) {
	cons, err := l.js.CreateOrUpdateConsumer(ctx, l.name, jetstream.ConsumerConfig{
		Name:              name,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       from,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: consumerIdle,
		Replicas:          1,
		MemoryStorage:     true,
	})
	if err != nil {
		return nil, fmt.Errorf("roomlog: follow from %d: %w", from, err)
	}
	it, err := cons.Messages(jetstream.PullHeartbeat(followHeartbeat), jetstream.WithMessagesErrOnMissingHeartbeat(true))
	if err != nil {
		return nil, fmt.Errorf("roomlog: follow from %d: %w", from, err)
	}
	return it, nil
}

// stuckAfter is how long a follower may receive nothing while the log
// holds entries it has not had, before its watchdog starts it a new
// consumer: a consumer whose server still sends heartbeats may yet
// deliver nothing (its copy of the stream no longer follows the others).
const stuckAfter = 3 * time.Second

// watch stops the follower's consumer when it is stuck, so that run starts
// another, until the follower ends. A log of its own, in this process, has
// no other copy of the stream for its consumer to fall behind, and needs
// no watch: its question, once a second while the room is idle, would be
// garbage that an idle server's memory carries until the next collection.
func (f *Follower) watch() {
	tick := time.NewTicker(stuckAfter / 3)
	defer tick.Stop()
	for {
		select {
		case <-f.done:
			return
		case <-tick.C:
		}
		if time.Since(time.Unix(0, f.received.Load())) < stuckAfter {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), stuckAfter/3)
		last, err := f.l.LastSeq(ctx)
		cancel()
		if err != nil || last < f.next.Load() {
			continue // nothing missed, or the stream cannot say now
		}
		f.mu.Lock()
		if !f.stopping.Load() {
			f.it.Stop()
		}
		f.mu.Unlock()
		f.received.Store(time.Now().UnixNano()) // give the new consumer its time
	}
}

func (f *Follower) run(handle func(Entry)) {
	defer close(f.done)
	f.mu.Lock()
	it := f.it
	f.mu.Unlock()
	var delivered uint64 // by the current consumer
	for {
		msg, err := it.Next()
		if err == nil {
			var meta *jetstream.MsgMetadata
			if meta, err = msg.Metadata(); err == nil && meta.Sequence.Consumer != delivered+1 {
				err = fmt.Errorf("delivery %d after %d", meta.Sequence.Consumer, delivered)
			}
			if err == nil {
				delivered++
				f.received.Store(time.Now().UnixNano())
				f.next.Store(meta.Sequence.Stream + 1)
				handle(Entry{
					Seq:     meta.Sequence.Stream,
					Subject: strings.TrimPrefix(msg.Subject(), f.l.prefix),
					Data:    msg.Data(),
					Time:    meta.Timestamp,
				})
				continue
			}
		}
		it.Stop() // if it has not stopped itself
		if it = f.restart(err); it == nil {
			return
		}
		delivered = 0
	}
}

// restart makes a new consumer after the last entry handled, and returns
// its messages, trying until it can. Whatever ended the last one (cause:
// a dead server took it along, it was deleted, a message was lost on the
// way, the watchdog stopped it), a new one carries on; but restart returns
// nil once the follower is stopped, or ends it (with cause, in f.err) if
// the connection is closed.
func (f *Follower) restart(cause error) jetstream.MessagesContext {
	for pause := restartPause; ; pause = min(2*pause, followHeartbeat) {
		if f.stopping.Load() {
			return nil
		}
		if f.l.nc.IsClosed() {
			f.err = fmt.Errorf("roomlog: follower ended: %w", cause)
			return nil
		}
		f.made++
		ctx, cancel := context.WithTimeout(context.Background(), restartTry)
		it, err := f.l.consume(ctx, fmt.Sprintf("%s_%d", f.name, f.made), f.next.Load())
		cancel()
		if err == nil {
			f.mu.Lock()
			f.it = it
			stopping := f.stopping.Load()
			f.mu.Unlock()
			if stopping {
				it.Stop()
				return nil
			}
			return it
		}
		select {
		case <-time.After(pause):
		case <-f.stopped:
			return nil
		}
	}
}

// Stop ends the follower and returns once handle has returned for the last
// time. It returns nil, or the error that had already ended the follower
// by itself. Calling it again, or after Close, is safe.
func (f *Follower) Stop() error {
	f.stopOnce.Do(func() {
		f.mu.Lock()
		f.stopping.Store(true)
		f.it.Stop()
		f.mu.Unlock()
		close(f.stopped)
	})
	<-f.done
	f.l.mu.Lock()
	delete(f.l.followers, f)
	f.l.mu.Unlock()
	return f.err
}

// Done is closed when the follower has ended: after Stop or Close, or by
// itself when the log's connection is gone. Stop then tells why.
func (f *Follower) Done() <-chan struct{} { return f.done }
