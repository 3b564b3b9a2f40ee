// Tests of the pool from inside the package: returning memory after a
// storm, containing a panic in the flush, and a flush split between cores.

package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poolchat/poolchat/server/roomlog"
)

// startTestPool runs a pool on a log in memory until the test ends.
func startTestPool(tb testing.TB, history int) *ClientPool {
	l, err := roomlog.Open(roomlog.Config{Ephemeral: true})
	if err != nil {
		tb.Fatal(err)
	}
	p := newClientPool(natsLog{l}, 10000, history, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	f, err := p.Start()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		f.Stop()
		cancel()
		<-done
		l.Close()
	})
	return p
}

// TestOldRecentEventsForgotten: the recent events are kept for recentFor
// after they were applied, then let go, oldest first; memory is returned
// once they are all gone, if they were many, and not while some are kept
// (a busy room lets go of old events at every tick).
func TestOldRecentEventsForgotten(t *testing.T) {
	p := newClientPool(nil, 100, 0, slog.New(slog.DiscardHandler))
	p.recentFor = 2 * time.Minute
	p.tidyAfter, p.tidyQuiet = 2, time.Hour // never fires here: only scheduled
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := start
	p.now = func() time.Time { return clock }
	apply := func(seqs ...uint64) {
		for _, seq := range seqs {
			p.recent.add(seq, time.Time{}, frame{})
			p.applied = seq
		}
	}
	tick := func(at time.Duration) string {
		clock = start.Add(at)
		p.forgetOldEvents()
		return fmt.Sprint(p.recent.count, p.recent.dropped, p.tidy != nil)
	}
	apply(1, 2, 3)
	if got := tick(0); got != "3 0 false" {
		t.Fatalf("at once: kept, dropped through, tidy = %s", got)
	}
	apply(4, 5)
	if got := tick(30 * time.Second); got != "5 0 false" {
		t.Fatalf("after 30 s: kept, dropped through, tidy = %s", got)
	}
	if got := tick(p.recentFor - time.Second); got != "5 0 false" {
		t.Fatalf("just before recentFor: kept, dropped through, tidy = %s", got)
	}
	if got := tick(p.recentFor); got != "2 3 false" {
		t.Fatalf("after recentFor: kept, dropped through, tidy = %s; want 4 and 5 kept, no tidy while some are", got)
	}
	if got := tick(30*time.Second + p.recentFor); got != "0 5 true" || p.recent.ring != nil {
		t.Fatalf("30 s later: kept, dropped through, tidy = %s, ring %v; want none, and the tidy", got, p.recent.ring)
	}
	p.tidy.Stop()
}

// TestMemoryReturnedAfterAStorm has a storm of joins and leaves, then
// quiet: the pool gives its memory back once, and not before the quiet.
func TestMemoryReturnedAfterAStorm(t *testing.T) {
	p := startTestPool(t, 0)
	tidied := make(chan time.Time, 2)
	p.call(func() {
		p.tidyAfter, p.tidyQuiet = 20, 50*time.Millisecond
		p.onTidy = func() { tidied <- time.Now() }
	})

	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lastChange time.Time
	for range 10 { // 20 changes: 10 joins, 10 leaves
		m := newMember(ViaTCP, "test", devNull{f}, 1<<20)
		if r := p.Register(m, ""); r != nil {
			t.Fatal(r)
		}
		p.Unregister(m)
		m.out.wait()
		lastChange = time.Now()
	}
	select {
	case at := <-tidied:
		if quiet := at.Sub(lastChange); quiet < p.tidyQuiet {
			t.Errorf("memory returned %v after the last change, before the quiet of %v", quiet, p.tidyQuiet)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("memory was not returned after the storm")
	}
	// A few more changes, under the threshold: nothing more.
	m := newMember(ViaTCP, "test", devNull{f}, 1<<20)
	p.Register(m, "")
	p.Unregister(m)
	p.Members() // the pool has counted them
	p.call(func() {
		if p.churn != 2 {
			t.Errorf("churn %d after the tidy and two changes, want 2", p.churn)
		}
	})
}

// panickyConn is a connection whose socket writes panic, as a bug in the
// write path would.
type panickyConn struct {
	devNull
	closed chan struct{}
}

func (panickyConn) SyscallConn() (syscall.RawConn, error) { return panickyRaw{}, nil }
func (c panickyConn) Close() error                        { close(c.closed); return nil }

type panickyRaw struct{}

func (panickyRaw) Control(func(uintptr)) error    { return nil }
func (panickyRaw) Read(func(uintptr) bool) error  { return nil }
func (panickyRaw) Write(func(uintptr) bool) error { panic("test: a bug in a write") }

// TestPanicInAFlushIsContained: a panic while the pool writes to one
// member closes that member's connection, and the pool goes on.
func TestPanicInAFlushIsContained(t *testing.T) {
	p := newClientPool(nil, 0, 0, slog.New(slog.DiscardHandler))
	conn := panickyConn{closed: make(chan struct{})}
	m := newMember(ViaTCP, "test", conn, 1<<20)
	m.out.push(frame{tcp: []byte("hello\r\n")})
	p.flushOne(m.out) // would end the test binary if the panic escaped
	select {
	case <-conn.closed:
	default:
		t.Fatal("the member's connection was not closed")
	}
}

// TestSnapshotOfAFullRoomIsDelivered: a newcomer to a room of 10,000
// members with the longest names gets the whole roster, though it is
// larger than the outbox limit, and is announced as joined, not dropped.
func TestSnapshotOfAFullRoomIsDelivered(t *testing.T) {
	const members, limit = 10000, 1 << 20
	p := startTestPool(t, 0)
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := range members {
		// 24 letters of four bytes each: CJK ideographs from U+20000.
		name := []rune(strings.Repeat("\U00020000", MaxNameRunes))
		for d, n := 0, i; n > 0; d, n = d+1, n/64 {
			name[d] += rune(n % 64)
		}
		display, key, r := checkName(string(name))
		if r != nil {
			t.Fatalf("name %q: %v", string(name), r)
		}
		m := newMember(ViaWeb, "test", devNull{f}, limit)
		m.id = fmt.Sprintf("user_%012d", i)
		p.call(func() {
			m.setName(display, key)
			m.joined = true
			p.pool[m.id], p.names[key] = m, m
			p.order = append(p.order, m)
		})
	}
	p.call(func() {
		size := 0
		for _, f := range p.roster.frames(p.order, ViaWeb) {
			size += len(f.web)
		}
		if size <= limit {
			t.Errorf("the roster is %d bytes, not over the limit of %d: the test proves nothing", size, limit)
		}
	})

	newcomer := newMember(ViaWeb, "test", devNull{f}, limit)
	if r := p.Register(newcomer, "newcomer"); r != nil {
		t.Fatal(r)
	}
	got := p.Members()
	if len(got) != members+1 || got[members].Name != "newcomer" {
		t.Fatalf("%d members after the newcomer joined, last %v; want %d ending with the newcomer", len(got), got[len(got)-1], members+1)
	}
}

// TestResumeOfAPlaceBeingResumed: a second resume of a place whose first
// resume is not yet applied is refused at once. It used to take the
// first's place in the pending map, and the first waited for good.
func TestResumeOfAPlaceBeingResumed(t *testing.T) {
	p := startTestPool(t, 0)
	const id = "user_000000000001"
	first := make(chan *Refusal, 1)
	p.call(func() { p.pending[id] = waiter{&Member{id: id, via: ViaWeb}, first} })
	r := p.enter(&Member{id: id, via: ViaWeb}, entry{Kind: kindResume, ID: id})
	if r == nil || r.Code != CodeResumeFailed {
		t.Fatalf("second resume of one place: %v, want %s", r, CodeResumeFailed)
	}
	var still waiter
	p.call(func() { still = p.pending[id] })
	if still.answer != first {
		t.Fatal("the second resume took the first's place among those waiting")
	}
}

// TestResumeNobodyWaitsForLeaves: a resume of this node's that nobody
// waits for any more (its append failed, yet was stored) leaves, as such a
// join does, rather than keep a place that no connection holds.
func TestResumeNobodyWaitsForLeaves(t *testing.T) {
	p := startTestPool(t, 0)
	p.call(func() { p.grace = time.Minute })
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := newMember(ViaWeb, "test", devNull{f}, 1<<20)
	if r := p.Register(m, "ada"); r != nil {
		t.Fatal(r)
	}
	p.call(func() { m.out.close(endGone) }) // its connection is gone: the place is kept
	// The resume of another connection, stored, that nobody waits for.
	resume := entry{Kind: kindResume, ID: m.id, Old: tokenHash(m.token), Token: tokenHash(newResumeToken()), Node: p.node}
	if _, err := p.store(resume); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(p.Members()) != 0 { // as waitForMembers: the leave is appended, then applied
		if time.Now().After(deadline) {
			t.Fatalf("the place taken back by nobody is still held: %v", p.Members())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGapInTheLog: entries purged before the pool saw them (a gap in the
// seqs it is handed) mean a member who resumes from before the gap cannot
// be told everything it missed; from after the gap, it can.
func TestGapInTheLog(t *testing.T) {
	p := startTestPool(t, 0)
	var whole, applied uint64
	p.call(func() {
		applied = p.applied
		p.apply(decodeEntry(roomlog.Entry{Seq: applied + 1, Data: []byte(`{"k":"start"}`)}))
		whole = p.whole
	})
	if whole >= applied+1 {
		t.Fatalf("no gap, yet whole = %d after applying %d", whole, applied+1)
	}
	p.call(func() {
		p.apply(decodeEntry(roomlog.Entry{Seq: applied + 4, Data: []byte(`{"k":"start"}`)}))
		whole = p.whole
	})
	if whole != applied+3 {
		t.Fatalf("entries %d and %d never came, yet whole = %d, want %d", applied+2, applied+3, whole, applied+3)
	}
	p.call(func() {
		_, recovered := p.recent.since(applied+1, p.whole, "someone")
		_, recoveredAfter := p.recent.since(applied+3, p.whole, "someone")
		if recovered || !recoveredAfter {
			t.Errorf("resume from before the gap recovered: %v; from after it: %v", recovered, recoveredAfter)
		}
	})
}

// TestSplitFlushReachesEveryone has the flush split between goroutines
// (as it is from 2*minFlushShare members): every member, on whichever
// share, gets the message.
func TestSplitFlushReachesEveryone(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), 2))) // a split needs two
	p := startTestPool(t, 0)
	p.call(func() { p.flushShare = 2 })
	const n = 9
	readers := make([]*os.File, n)
	for i := range n {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(); w.Close() })
		readers[i] = r
		if rf := p.Register(newMember(ViaTCP, "test", devNull{w}, 1<<20), ""); rf != nil {
			t.Fatal(rf)
		}
	}
	var sender *Member
	p.call(func() { sender = p.order[0] })
	p.Input(sender, "one for all")
	for i, r := range readers {
		r.SetReadDeadline(time.Now().Add(10 * time.Second))
		var got []byte
		buf := make([]byte, 4096)
		for !bytes.Contains(got, []byte("one for all")) {
			k, err := r.Read(buf)
			if err != nil {
				t.Fatalf("member %d: %v; it got %q", i, err, got)
			}
			got = append(got, buf[:k]...)
		}
	}
}
