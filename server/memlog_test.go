package server

import (
	"context"
	"errors"
	"path"
	"sync"
	"time"

	"github.com/poolchat/poolchat/server/roomlog"
)

// memLog is a room log in plain memory, for tests in a synctest bubble,
// where the embedded NATS server cannot run (its goroutines wait in ways
// that would stop the bubble's clock). It keeps roomlog's contract: one
// order, no gaps or repeats, a message id stored once, seqs never reused.
type memLog struct {
	mu      sync.Mutex
	entries []roomlog.Entry // by seq-1; a removed entry has Seq 0
	ids     map[string]uint64
	grew    chan struct{} // closed and replaced at each append
	closed  bool
	lose    loss       // how Append fails, while set
	handed  uint64     // the last seq the follower has handed over
	follows *sync.Cond // signalled when handed grows
}

// loss is how the log's Append fails (memLog.lose).
type loss int

const (
	loseNothing loss = iota
	loseEntry        // nothing is stored, and an error returned
	loseAnswer       // the entry is stored and followed, and an error returned
)

var errLost = errors.New("memlog: answer lost")

func newMemLog() *memLog {
	l := &memLog{ids: map[string]uint64{}, grew: make(chan struct{})}
	l.follows = sync.NewCond(&l.mu)
	return l
}

// setLoss makes Append fail in the given way from now on.
func (l *memLog) setLoss(how loss) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lose = how
}

func (l *memLog) Epoch() string { return "memory" }

func (l *memLog) LastSeq(context.Context) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return uint64(len(l.entries)), nil
}

func (l *memLog) Append(_ context.Context, subject, msgID string, data []byte) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, roomlog.ErrClosed
	}
	if l.lose == loseEntry {
		return 0, errLost
	}
	seq, ok := l.ids[msgID]
	if !ok {
		seq = uint64(len(l.entries) + 1)
		l.entries = append(l.entries, roomlog.Entry{Seq: seq, Subject: subject, Data: data, Time: time.Now()})
		l.ids[msgID] = seq
		close(l.grew)
		l.grew = make(chan struct{})
	}
	if l.lose == loseAnswer {
		for l.handed < seq { // as when the server that stored it dies before answering
			l.follows.Wait()
		}
		return 0, errLost
	}
	return seq, nil
}

func (l *memLog) Follow(from uint64, handle func(roomlog.Entry)) (follower, error) {
	f := &memFollower{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		next := max(from, 1)
		for {
			l.mu.Lock()
			var batch []roomlog.Entry
			for ; next <= uint64(len(l.entries)); next++ {
				if e := l.entries[next-1]; e.Seq != 0 {
					batch = append(batch, e)
				}
			}
			grew := l.grew
			l.mu.Unlock()
			for _, e := range batch {
				handle(e)
				l.mu.Lock()
				l.handed = e.Seq
				l.follows.Broadcast()
				l.mu.Unlock()
			}
			select {
			case <-grew:
			case <-f.stop:
				return
			}
		}
	}()
	return f, nil
}

// purge removes the entries on subject (a NATS-style filter) but the last
// keep.
func (l *memLog) purge(subject string, keep int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	pattern := subject
	if len(pattern) > 1 && pattern[len(pattern)-1] == '>' {
		pattern = pattern[:len(pattern)-1] + "*"
	}
	for i := len(l.entries) - 1; i >= 0; i-- {
		if ok, _ := path.Match(pattern, l.entries[i].Subject); ok && l.entries[i].Seq != 0 {
			if keep > 0 {
				keep--
				continue
			}
			l.entries[i].Seq = 0
		}
	}
}

func (l *memLog) Trim(_ context.Context, subject string, keep int) error {
	l.purge(subject, keep)
	return nil
}

func (l *memLog) Forget(_ context.Context, subject string) error {
	l.purge(subject, 0)
	return nil
}

func (l *memLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	return nil
}

type memFollower struct {
	stop, done chan struct{}
	once       sync.Once
}

func (f *memFollower) Stop() error {
	f.once.Do(func() { close(f.stop) })
	<-f.done
	return nil
}

// A memLog serves one node, which is always alive and connected.
func (l *memLog) Alive(context.Context, string) error { return nil }

func (l *memLog) Nodes(context.Context) (map[string]bool, error) { return map[string]bool{}, nil }
func (l *memLog) Signal([]byte) error                            { return nil }
func (l *memLog) OnSignal(func([]byte)) (func(), error)          { return func() {}, nil }
func (l *memLog) Connected() bool                                { return true }
func (l *memLog) Embedded() bool                                 { return true }
