package roomlog

import (
	"context"
	"fmt"
	"testing"
)

// open opens a Log for the test and closes it when the test ends.
func open(t testing.TB, cfg Config) *Log {
	t.Helper()
	l, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

// appendN appends n entries "<prefix> 0", "<prefix> 1", ... on subject,
// with message ids "<prefix>-0", ..., and returns their sequences.
func appendN(t testing.TB, l *Log, subject, prefix string, n int) []uint64 {
	t.Helper()
	seqs := make([]uint64, n)
	for i := range n {
		seq, err := l.Append(context.Background(), subject, fmt.Sprintf("%s-%d", prefix, i), fmt.Appendf(nil, "%s %d", prefix, i))
		if err != nil {
			t.Fatalf("Append %s %d: %v", subject, i, err)
		}
		seqs[i] = seq
	}
	return seqs
}

// follow follows l from from, handing entries to the returned channel,
// and stops the follower when the test ends.
func follow(t testing.TB, l *Log, from uint64) (<-chan Entry, *Follower) {
	t.Helper()
	ch := make(chan Entry, 1024)
	f, err := l.Follow(from, func(e Entry) { ch <- e })
	if err != nil {
		t.Fatalf("Follow(%d): %v", from, err)
	}
	t.Cleanup(func() { f.Stop() })
	return ch, f
}

// drain returns the entries a follower hands over up to and including seq
// last.
func drain(t testing.TB, ch <-chan Entry, last uint64) []Entry {
	t.Helper()
	var got []Entry
	for e := range ch {
		got = append(got, e)
		if e.Seq >= last {
			break
		}
	}
	return got
}

func lastSeq(t testing.TB, l *Log) uint64 {
	t.Helper()
	seq, err := l.LastSeq(context.Background())
	if err != nil {
		t.Fatalf("LastSeq: %v", err)
	}
	return seq
}

func seqsOf(es []Entry) []uint64 {
	s := make([]uint64, len(es))
	for i, e := range es {
		s[i] = e.Seq
	}
	return s
}
