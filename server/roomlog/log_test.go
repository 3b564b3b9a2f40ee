package roomlog

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestAppendFollow(t *testing.T) {
	l := open(t, Config{Dir: t.TempDir()})
	if got := lastSeq(t, l); got != 0 {
		t.Fatalf("LastSeq of a new log = %d, want 0", got)
	}
	ctx := context.Background()
	var want []Entry
	for i, subj := range []string{"msg", "member.user_1", "msg"} {
		data := []byte("data " + subj)
		seq, err := l.Append(ctx, subj, "id"+string(rune('a'+i)), data)
		if err != nil {
			t.Fatal(err)
		}
		if seq != uint64(i+1) {
			t.Fatalf("Append %d: seq %d, want %d", i, seq, i+1)
		}
		want = append(want, Entry{Seq: seq, Subject: subj, Data: data})
	}

	ch, _ := follow(t, l, 0)
	got := drain(t, ch, 3)
	// Entries appended after Follow arrive too.
	seq, err := l.Append(ctx, "away.user_1", "idd", []byte("later"))
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, Entry{Seq: seq, Subject: "away.user_1", Data: []byte("later")})
	got = append(got, drain(t, ch, seq)...)

	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Seq != w.Seq || g.Subject != w.Subject || string(g.Data) != string(w.Data) {
			t.Errorf("entry %d = {%d %q %q}, want {%d %q %q}", i, g.Seq, g.Subject, g.Data, w.Seq, w.Subject, w.Data)
		}
		if g.Time.IsZero() {
			t.Errorf("entry %d has no time", i)
		}
		if i > 0 && g.Time.Before(got[i-1].Time) {
			t.Errorf("entry %d stored before entry %d", i, i-1)
		}
	}
	if got := lastSeq(t, l); got != 4 {
		t.Fatalf("LastSeq = %d, want 4", got)
	}
}

func TestFollowFromMiddle(t *testing.T) {
	l := open(t, Config{Dir: t.TempDir()})
	appendN(t, l, "msg", "m", 10)
	ch, _ := follow(t, l, 7)
	if got := seqsOf(drain(t, ch, 10)); !slices.Equal(got, []uint64{7, 8, 9, 10}) {
		t.Fatalf("Follow(7) got %v", got)
	}
	// From beyond the end: only what comes next.
	ch, _ = follow(t, l, 12)
	appendN(t, l, "msg", "n", 3) // 11, 12, 13
	if got := seqsOf(drain(t, ch, 13)); !slices.Equal(got, []uint64{12, 13}) {
		t.Fatalf("Follow(12) got %v", got)
	}
}

func TestDuplicateMsgID(t *testing.T) {
	dir := t.TempDir()
	l := open(t, Config{Dir: dir})
	ctx := context.Background()
	first, err := l.Append(ctx, "msg", "same", []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "msg", "other", 2)
	again, err := l.Append(ctx, "msg", "same", []byte("retry"))
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Fatalf("retried Append got seq %d, want the first one's %d", again, first)
	}
	if got := lastSeq(t, l); got != 3 {
		t.Fatalf("LastSeq after a retry = %d, want 3", got)
	}
	// No id: stored every time.
	a, _ := l.Append(ctx, "msg", "", []byte("x"))
	b, _ := l.Append(ctx, "msg", "", []byte("x"))
	if a == b {
		t.Fatalf("two Appends without an id got the same seq %d", a)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// The server rebuilds its ids from the stored entries on restart.
	l = open(t, Config{Dir: dir})
	again, err = l.Append(ctx, "msg", "same", []byte("retry after restart"))
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Fatalf("Append retried after a restart got seq %d, want %d", again, first)
	}
	if got := lastSeq(t, l); got != 5 {
		t.Fatalf("LastSeq after restart and retry = %d, want 5", got)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	l := open(t, Config{Dir: dir, Room: "lobby"})
	epoch := l.Epoch()
	if epoch == "" {
		t.Fatal("empty epoch")
	}
	appendN(t, l, "msg", "m", 5)
	appendN(t, l, "member.u1", "j", 1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = open(t, Config{Dir: dir, Room: "lobby"})
	if l.Epoch() != epoch {
		t.Fatalf("epoch after reopen = %q, want %q", l.Epoch(), epoch)
	}
	if got := lastSeq(t, l); got != 6 {
		t.Fatalf("LastSeq after reopen = %d, want 6", got)
	}
	ch, _ := follow(t, l, 1)
	got := drain(t, ch, 6)
	if !slices.Equal(seqsOf(got), []uint64{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("replay after reopen: %v", seqsOf(got))
	}
	if string(got[2].Data) != "m 2" || got[5].Subject != "member.u1" {
		t.Fatalf("replay after reopen: entry 3 %q, entry 6 subject %q", got[2].Data, got[5].Subject)
	}
	if seq := appendN(t, l, "msg", "after", 1)[0]; seq != 7 {
		t.Fatalf("first Append after reopen: seq %d, want 7", seq)
	}
}

func TestEpoch(t *testing.T) {
	a := open(t, Config{Dir: t.TempDir()})
	b := open(t, Config{Dir: t.TempDir()})
	if a.Epoch() == b.Epoch() {
		t.Fatalf("two new logs share epoch %q", a.Epoch())
	}
	e1 := open(t, Config{Ephemeral: true})
	e2 := open(t, Config{Ephemeral: true})
	if e1.Epoch() == "" || e1.Epoch() == e2.Epoch() {
		t.Fatalf("ephemeral epochs %q and %q", e1.Epoch(), e2.Epoch())
	}
	// Two rooms in one Dir are two streams, two epochs.
	dir := t.TempDir()
	r1 := open(t, Config{Dir: dir, Room: "one"})
	e := r1.Epoch()
	r1.Close()
	r2 := open(t, Config{Dir: dir, Room: "two"})
	if r2.Epoch() == e {
		t.Fatalf("rooms one and two share epoch %q", e)
	}
}

func TestSeqNeverReused(t *testing.T) {
	dir := t.TempDir()
	l := open(t, Config{Dir: dir})
	appendN(t, l, "msg", "m", 3)           // 1-3
	appendN(t, l, "member.user_9", "j", 1) // 4: the last entry
	ctx := context.Background()

	// Forgetting the last entry keeps its sequence.
	if err := l.Forget(ctx, "member.user_9"); err != nil {
		t.Fatal(err)
	}
	if got := lastSeq(t, l); got != 4 {
		t.Fatalf("LastSeq after forgetting the last entry = %d, want 4", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open(t, Config{Dir: dir})
	if got := lastSeq(t, l); got != 4 {
		t.Fatalf("LastSeq after forgetting the last entry and reopening = %d, want 4", got)
	}
	if seq := appendN(t, l, "msg", "n", 1)[0]; seq != 5 {
		t.Fatalf("Append after forgetting the last entry: seq %d, want 5", seq)
	}

	// Purging everything keeps the last sequence, also across a restart.
	if err := l.Trim(ctx, ">", 0); err != nil {
		t.Fatal(err)
	}
	if got := lastSeq(t, l); got != 5 {
		t.Fatalf("LastSeq after purging all = %d, want 5", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open(t, Config{Dir: dir})
	if got := lastSeq(t, l); got != 5 {
		t.Fatalf("LastSeq of an emptied log after reopening = %d, want 5", got)
	}
	if seq := appendN(t, l, "msg", "o", 1)[0]; seq != 6 {
		t.Fatalf("Append to an emptied, reopened log: seq %d, want 6", seq)
	}
	ch, _ := follow(t, l, 1)
	if got := seqsOf(drain(t, ch, 6)); !slices.Equal(got, []uint64{6}) {
		t.Fatalf("Follow(1) of an emptied log got %v, want [6]", got)
	}
}

func TestTrimForget(t *testing.T) {
	l := open(t, Config{Dir: t.TempDir()})
	ctx := context.Background()
	appendN(t, l, "msg.public", "p", 3)    // 1-3
	appendN(t, l, "member.user_1", "j", 2) // 4-5
	appendN(t, l, "msg.private", "q", 3)   // 6-8
	appendN(t, l, "member.user_2", "k", 1) // 9

	// Keep the last 4 of msg.>, across both its subjects.
	if err := l.Trim(ctx, "msg.>", 4); err != nil {
		t.Fatal(err)
	}
	if err := l.Forget(ctx, "member.user_1"); err != nil {
		t.Fatal(err)
	}
	// Keep more than there are: nothing happens.
	if err := l.Trim(ctx, "member.*", 5); err != nil {
		t.Fatal(err)
	}
	ch, _ := follow(t, l, 1)
	if got := seqsOf(drain(t, ch, 9)); !slices.Equal(got, []uint64{3, 6, 7, 8, 9}) {
		t.Fatalf("after Trim and Forget: %v, want [3 6 7 8 9]", got)
	}
	if err := l.Trim(ctx, "msg", -1); err == nil {
		t.Fatal("Trim with a negative keep: no error")
	}
}

func TestDirInUse(t *testing.T) {
	dir := t.TempDir()
	l := open(t, Config{Dir: dir})
	_, err := Open(Config{Dir: dir})
	if !errors.Is(err, ErrDirInUse) {
		t.Fatalf("second Open of one Dir: %v, want ErrDirInUse", err)
	}
	if !strings.Contains(err.Error(), dir) {
		t.Errorf("error %q does not name the directory", err)
	}
	t.Log(err)
	// The refused Open left the first alone.
	appendN(t, l, "msg", "m", 1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open(t, Config{Dir: dir})
	if got := lastSeq(t, l); got != 1 {
		t.Fatalf("LastSeq = %d, want 1", got)
	}
}

func TestClose(t *testing.T) {
	l, err := Open(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "msg", "m", 2)
	ch := make(chan Entry, 10)
	f, err := l.Follow(1, func(e Entry) { ch <- e })
	if err != nil {
		t.Fatal(err)
	}
	drain(t, ch, 2)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	<-f.Done() // Close stopped the follower
	if err := f.Stop(); err != nil {
		t.Errorf("Stop after Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	ctx := context.Background()
	if _, err := l.Append(ctx, "msg", "x", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}
	if _, err := l.LastSeq(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("LastSeq after Close: %v", err)
	}
	if err := l.Forget(ctx, "msg"); !errors.Is(err, ErrClosed) {
		t.Errorf("Forget after Close: %v", err)
	}
	if _, err := l.Follow(1, func(Entry) {}); !errors.Is(err, ErrClosed) {
		t.Errorf("Follow after Close: %v", err)
	}
}

func TestNames(t *testing.T) {
	for _, room := range []string{"Pool", "a.b", "a b", "a*", "a>", strings.Repeat("x", 65), "é"} {
		if _, err := Open(Config{Ephemeral: true, Room: room}); err == nil {
			t.Errorf("Open with room %q: no error", room)
		}
	}
	l := open(t, Config{Ephemeral: true, Room: "the-pool_2"})
	ctx := context.Background()
	for _, subj := range []string{"", ".", "msg.", ".msg", "a..b", "msg.*", "msg.>", ">", "a b", "a\tb", "m*", "x>"} {
		if _, err := l.Append(ctx, subj, "", nil); err == nil {
			t.Errorf("Append to %q: no error", subj)
		}
	}
	for _, subj := range []string{"", "a..b", "a.>.b", "m*", "a b"} {
		if err := l.Forget(ctx, subj); err == nil {
			t.Errorf("Forget %q: no error", subj)
		}
	}
	for _, subj := range []string{"msg.*", "*.user_1", ">", "member.>"} {
		if err := l.Forget(ctx, subj); err != nil {
			t.Errorf("Forget %q: %v", subj, err)
		}
	}
}
