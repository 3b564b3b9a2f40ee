package roomlog

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// TestFollowConcurrentAppends follows the log while several goroutines
// append to it: one follower from the start, one started halfway. Each
// must see every entry from its start once, in order, with the sequences
// Append returned.
func TestFollowConcurrentAppends(t *testing.T) {
	for _, cfg := range []Config{{Dir: t.TempDir()}, {Ephemeral: true}} {
		t.Run(fmt.Sprintf("ephemeral=%v", cfg.Ephemeral), func(t *testing.T) {
			l := open(t, cfg)
			const appenders, each = 8, 250
			const total = appenders * each

			early, _ := follow(t, l, 1)
			var lateCh <-chan Entry
			var lateFrom uint64
			halfway := make(chan struct{})

			acked := make(map[uint64]string, total)
			var mu sync.Mutex
			var count atomic.Int64
			var wg sync.WaitGroup
			for g := range appenders {
				wg.Go(func() {
					for i := range each {
						data := fmt.Sprintf("g%d-%d", g, i)
						seq, err := l.Append(context.Background(), fmt.Sprintf("msg.g%d", g), data, []byte(data))
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						acked[seq] = data
						mu.Unlock()
						if count.Add(1) == total/2 {
							close(halfway)
						}
					}
				})
			}
			appended := make(chan struct{})
			go func() { wg.Wait(); close(appended) }()
			select {
			case <-halfway:
			case <-appended: // failed early
			}
			lateFrom = lastSeq(t, l)
			lateCh, _ = follow(t, l, lateFrom)
			<-appended
			if t.Failed() {
				return
			}
			if len(acked) != total {
				t.Fatalf("%d distinct sequences for %d Appends", len(acked), total)
			}

			check := func(name string, ch <-chan Entry, from uint64) {
				got := drain(t, ch, total)
				if want := total - int(from) + 1; len(got) != want {
					t.Errorf("%s: %d entries, want %d", name, len(got), want)
				}
				for i, e := range got {
					if want := from + uint64(i); e.Seq != want {
						t.Fatalf("%s: entry %d has seq %d, want %d", name, i, e.Seq, want)
					}
					if string(e.Data) != acked[e.Seq] {
						t.Fatalf("%s: seq %d holds %q, Append stored %q there", name, e.Seq, e.Data, acked[e.Seq])
					}
				}
			}
			check("follower from 1", early, 1)
			check(fmt.Sprintf("follower from %d", lateFrom), lateCh, lateFrom)
		})
	}
}

// TestStopWaitsForHandle checks that Stop returns only after handle has
// returned, and that handle is not called after that.
func TestStopWaitsForHandle(t *testing.T) {
	l := open(t, Config{Ephemeral: true})
	appendN(t, l, "msg", "m", 5)
	entered, release := make(chan struct{}), make(chan struct{})
	var inHandle, calls atomic.Int32
	f, err := l.Follow(1, func(Entry) {
		inHandle.Store(1)
		if calls.Add(1) == 1 {
			close(entered)
			<-release
		}
		inHandle.Store(0)
	})
	if err != nil {
		t.Fatal(err)
	}
	<-entered
	stopped := make(chan int32)
	go func() {
		f.Stop()
		stopped <- inHandle.Load()
	}()
	close(release)
	if in := <-stopped; in != 0 {
		t.Fatal("Stop returned while handle was running")
	}
	n := calls.Load()
	appendN(t, l, "msg", "n", 5)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != n {
		t.Fatalf("handle called %d times after Stop", calls.Load()-n)
	}
}

// TestSlowFollower checks that a follower that falls far behind the log
// (its handle blocked while thousands of entries are appended) still gets
// every entry, in order.
func TestSlowFollower(t *testing.T) {
	l := open(t, Config{Dir: t.TempDir()})
	release := make(chan struct{})
	ch := make(chan Entry, 10000)
	first := true
	f, err := l.Follow(1, func(e Entry) {
		if first {
			first = false
			<-release
		}
		ch <- e
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Stop() })
	const n = 5000
	appendN(t, l, "msg", "m", n)
	close(release)
	got := drain(t, ch, n)
	for i, e := range got {
		if e.Seq != uint64(i+1) {
			t.Fatalf("entry %d has seq %d", i, e.Seq)
		}
	}
	if len(got) != n {
		t.Fatalf("%d entries, want %d", len(got), n)
	}
}

// TestFollowerSurvivesReconnect drops the client's connection to the
// embedded server while entries are appended and followed: the follower
// must carry on after the last entry it handed over, without a gap or a
// repeat.
func TestFollowerSurvivesReconnect(t *testing.T) {
	l := open(t, Config{Dir: t.TempDir()})
	ch, _ := follow(t, l, 1)
	appendN(t, l, "msg", "a", 100)
	drain(t, ch, 50)
	if err := l.nc.ForceReconnect(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var last uint64
	for i := range 100 {
		seq, err := l.Append(ctx, "msg", fmt.Sprint("b-", i), nil)
		if err != nil {
			// A publish caught by the reconnect: retrying with its id is the
			// documented way to find out whether it was stored.
			if seq, err = l.Append(ctx, "msg", fmt.Sprint("b-", i), nil); err != nil {
				t.Fatal(err)
			}
		}
		last = seq
	}
	got := drain(t, ch, last)
	for i, e := range got {
		if e.Seq != uint64(51+i) {
			t.Fatalf("after reconnect: entry %d has seq %d, want %d", i, e.Seq, 51+i)
		}
	}
	if n := l.nc.Stats().Reconnects; n != 1 {
		t.Fatalf("%d reconnects, want 1", n)
	}
	if last != 200 {
		t.Fatalf("last seq %d, want 200", last)
	}
}

// TestFollowerOutlivesItsConsumer deletes the follower's consumer on the
// server, as the death of the server that held it does: the follower
// carries on with a new one after the last entry it handed over, without
// a gap or a repeat.
func TestFollowerOutlivesItsConsumer(t *testing.T) {
	l := open(t, Config{Ephemeral: true})
	ch, f := follow(t, l, 1)
	appendN(t, l, "msg", "a", 10)
	drain(t, ch, 10)
	if err := l.js.DeleteConsumer(context.Background(), l.name, f.name+"_0"); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "msg", "b", 10)
	if got := seqsOf(drain(t, ch, 20)); fmt.Sprint(got) != "[11 12 13 14 15 16 17 18 19 20]" {
		t.Fatalf("after the consumer's deletion: %v", got)
	}
}
