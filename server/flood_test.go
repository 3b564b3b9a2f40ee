package server

import (
	"testing"
	"time"
)

func TestFloodGate(t *testing.T) {
	start := time.Unix(1_000_000, 0)
	g := newFloodGate(DefaultFloodLimit, start)
	for i := range 10 {
		if wait, _ := g.take(start); wait != 0 {
			t.Fatalf("line %d of the burst waits %v", i+1, wait)
		}
	}
	wait, started := g.take(start)
	if wait != 250*time.Millisecond || !started {
		t.Fatalf("11th line: wait %v, started %v; want 250ms, true", wait, started)
	}
	now := start.Add(wait)
	wait, started = g.take(now)
	if wait != 250*time.Millisecond || started {
		t.Fatalf("12th line after waiting: wait %v, started %v; want 250ms, false", wait, started)
	}
	// After a long quiet spell the burst is back, and a new episode is told again.
	now = now.Add(time.Minute)
	for range 10 {
		if wait, _ := g.take(now); wait != 0 {
			t.Fatalf("burst not restored")
		}
	}
	if _, started := g.take(now); !started {
		t.Fatalf("a new flood episode must be told")
	}
}

// TestFloodGateRate checks the long-run rate: n lines sent as fast as the
// gate allows take (n - burst) / rate seconds.
func TestFloodGateRate(t *testing.T) {
	now := time.Unix(0, 0)
	g := newFloodGate(DefaultFloodLimit, now)
	for range 410 {
		wait, _ := g.take(now)
		now = now.Add(wait)
	}
	if got, want := now.Sub(time.Unix(0, 0)), 100*time.Second; got < want-time.Millisecond || got > want+time.Millisecond {
		t.Fatalf("410 lines took %v, want %v", got, want)
	}
}
