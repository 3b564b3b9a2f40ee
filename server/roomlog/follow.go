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
	it       jetstream.MessagesContext
	done     chan struct{}
	stopping atomic.Bool
	stopOnce sync.Once
	err      error // why it ended by itself; written before done is closed
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
	f := &Follower{l: l, it: it, done: make(chan struct{})}

	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		it.Stop()
		return nil, ErrClosed
	}
	l.followers[f] = struct{}{}
	l.mu.Unlock()

	go f.run(handle)
	return f, nil
}

func (f *Follower) run(handle func(Entry)) {
	defer close(f.done)
	for {
		msg, err := f.it.Next()
		if err != nil {
			// The ordered consumer recovers from everything but its own
			// end: Stop, or the connection closed under it.
			if !f.stopping.Load() {
				f.err = fmt.Errorf("roomlog: follower ended: %w", err)
			}
			return
		}
		meta, err := msg.Metadata()
		if err != nil {
			f.err = fmt.Errorf("roomlog: follower: %w", err)
			f.it.Stop()
			return
		}
		handle(Entry{
			Seq:     meta.Sequence.Stream,
			Subject: strings.TrimPrefix(msg.Subject(), f.l.prefix),
			Data:    msg.Data(),
			Time:    meta.Timestamp,
		})
	}
}

// Stop ends the follower and returns once handle has returned for the last
// time. It returns nil, or the error that had already ended the follower
// by itself. Calling it again, or after Close, is safe.
func (f *Follower) Stop() error {
	f.stopOnce.Do(func() {
		f.stopping.Store(true)
		f.it.Stop()
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
