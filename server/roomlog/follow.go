package roomlog

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// followHeartbeat is how often the server tells an idle follower that its
// consumer is still there; two missed in a row and the follower starts a
// new one. The consumer lives on one server: when that server dies (one of
// a cluster), this is how soon the follower notices.
const followHeartbeat = time.Second

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
	done     chan struct{}
	stopping atomic.Bool
	stopOnce sync.Once
	err      error // why it ended by itself; written before done is closed

	stopped  chan struct{} // closed by Stop
	mu       sync.Mutex
	it       jetstream.MessagesContext // the current consumer's messages
	stale    bool                      // the watchdog stopped it: start another
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
// hundred entries are buffered on the way). If delivery breaks off (a lost
// heartbeat, a gap in the consumer's own sequence, the consumer deleted,
// a reconnect), the follower starts a new consumer after the last entry
// handle received, so handle never sees a repeat or a gap.
func (l *Log) Follow(from uint64, handle func(Entry)) (*Follower, error) {
	if err := l.begin(); err != nil {
		return nil, err
	}
	defer l.ops.Done()
	if from == 0 {
		from = 1
	}
	it, err := l.messages(from)
	if err != nil {
		return nil, err
	}
	f := &Follower{l: l, it: it, done: make(chan struct{}), stopped: make(chan struct{})}
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
	go f.watch()
	return f, nil
}

// messages starts an ordered consumer of the stream from seq.
func (l *Log) messages(from uint64) (jetstream.MessagesContext, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	cons, err := l.js.OrderedConsumer(ctx, l.name, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   from,
	})
	if err != nil {
		return nil, fmt.Errorf("roomlog: follow from %d: %w", from, err)
	}
	it, err := cons.Messages(jetstream.PullHeartbeat(followHeartbeat))
	if err != nil {
		return nil, fmt.Errorf("roomlog: follow from %d: %w", from, err)
	}
	return it, nil
}

// stuckAfter is how long a follower may receive nothing while the log
// holds entries it has not had, before its watchdog starts it a new
// consumer: the NATS client's ordered consumer does not always come back
// when the server that held it dies.
const stuckAfter = 3 * time.Second

// watch restarts the follower's consumer when it is stuck, until the
// follower ends.
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
			f.stale = true
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
	for {
		msg, err := it.Next()
		if err != nil {
			// The ordered consumer recovers from most things by itself;
			// the watchdog stops one that did not, and a new one starts
			// after the last entry handled. Anything else ends it: Stop,
			// or the connection closed under it.
			if it, err = f.restart(err); err != nil {
				if !f.stopping.Load() {
					f.err = err
				}
				return
			}
			continue
		}
		meta, err := msg.Metadata()
		if err != nil {
			f.err = fmt.Errorf("roomlog: follower: %w", err)
			it.Stop()
			return
		}
		f.received.Store(time.Now().UnixNano())
		f.next.Store(meta.Sequence.Stream + 1)
		handle(Entry{
			Seq:     meta.Sequence.Stream,
			Subject: strings.TrimPrefix(msg.Subject(), f.l.prefix),
			Data:    msg.Data(),
			Time:    meta.Timestamp,
		})
	}
}

// restart starts a new consumer after the last entry handled if the
// watchdog stopped the last one, trying until it can or the follower is
// stopped; otherwise it reports why the follower ends.
func (f *Follower) restart(cause error) (jetstream.MessagesContext, error) {
	f.mu.Lock()
	stale := f.stale
	f.stale = false
	f.mu.Unlock()
	if !stale || f.stopping.Load() {
		return nil, fmt.Errorf("roomlog: follower ended: %w", cause)
	}
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, stuckAfter) {
		it, err := f.l.messages(f.next.Load())
		if err == nil {
			f.mu.Lock()
			f.it = it
			stopped := f.stopping.Load()
			f.mu.Unlock()
			if stopped {
				it.Stop()
				return nil, fmt.Errorf("roomlog: follower stopped")
			}
			return it, nil
		}
		select {
		case <-time.After(wait):
		case <-f.stopped:
			return nil, fmt.Errorf("roomlog: follower stopped")
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
