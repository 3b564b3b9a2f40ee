package server

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

func TestHistoryKeepsTheLastN(t *testing.T) {
	h := newHistory(4, 3)
	for i := range 6 {
		h.add(uint64(10+i), time.Time{}, frame{tcp: []byte(strconv.Itoa(i))})
	}
	got, more := h.forNewcomer()
	if len(got) != 3 || string(got[0].f.tcp) != "3" || string(got[2].f.tcp) != "5" || !more {
		t.Fatalf("history for a newcomer = %v, %v", got, more)
	}
	off := newHistory(0, 50)
	off.add(1, time.Time{}, frame{tcp: []byte("x")})
	if msgs, _ := off.forNewcomer(); len(msgs) != 0 {
		t.Fatalf("history 0 kept a message")
	}
}

func TestHistoryPaging(t *testing.T) {
	h := newHistory(5, 2)
	for i := range 8 { // keeps seqs 16, 18, 20, 22, 24
		h.add(uint64(10+2*i), time.Time{}, frame{})
	}
	seqs := func(msgs []heldMessage) string {
		var out []uint64
		for _, m := range msgs {
			out = append(out, m.seq)
		}
		return fmt.Sprint(out)
	}
	for _, tt := range []struct {
		before uint64
		limit  int
		want   string
		more   bool
	}{
		{0, 2, "[22 24]", true},
		{0, 10, "[16 18 20 22 24]", false},
		{22, 2, "[18 20]", true},
		{21, 2, "[18 20]", true},
		{18, 5, "[16]", false},
		{16, 5, "[]", false},
		{100, 1, "[24]", true},
	} {
		msgs, more := h.before(tt.before, tt.limit)
		if got := seqs(msgs); got != tt.want || more != tt.more {
			t.Errorf("before(%d, %d) = %s, %v; want %s, %v", tt.before, tt.limit, got, more, tt.want, tt.more)
		}
	}
}

func TestHistorySince(t *testing.T) {
	h := newHistory(3, 0)
	for _, seq := range []uint64{5, 7, 9, 11} { // 5 is dropped
		h.add(seq, time.Time{}, frame{})
	}
	for _, tt := range []struct {
		seq, from uint64
		want      string
		complete  bool
	}{
		{7, 0, "[9 11]", true},
		{8, 0, "[9 11]", true},
		{11, 0, "[]", true},
		{5, 0, "[7 9 11]", true},
		{4, 0, "[]", false}, // 5 was missed and is gone
		{8, 9, "[]", false}, // the log forgot what came before 9
	} {
		got, complete := h.since(tt.seq, tt.from, "")
		var seqs []uint64
		for _, m := range got {
			seqs = append(seqs, m.seq)
		}
		if s := fmt.Sprint(seqs); s != tt.want || complete != tt.complete {
			t.Errorf("since(%d, %d) = %s, %v; want %s, %v", tt.seq, tt.from, s, complete, tt.want, tt.complete)
		}
	}
}

// TestHistoryForgetThrough: forgotten events are gone for since, whose
// answer for a seq before them is incomplete; a ring emptied by it is let
// go, and grows again as events come.
func TestHistoryForgetThrough(t *testing.T) {
	h := newHistory(4, 0)
	seqs := func(seq uint64) string {
		got, complete := h.since(seq, 0, "")
		var out []uint64
		for _, m := range got {
			out = append(out, m.seq)
		}
		return fmt.Sprint(out, complete)
	}
	for _, seq := range []uint64{1, 2, 3} {
		h.add(seq, time.Time{}, frame{})
	}
	if n := h.forgetThrough(2); n != 2 || seqs(2) != "[3] true" || seqs(1) != "[] false" {
		t.Fatalf("forgetThrough(2) = %d; since(2) = %s, since(1) = %s", n, seqs(2), seqs(1))
	}
	for _, seq := range []uint64{4, 5, 6, 7} { // full at 6; 7 drops 3
		h.add(seq, time.Time{}, frame{})
	}
	if got := seqs(3); got != "[4 5 6 7] true" {
		t.Fatalf("since(3) after the ring wrapped = %s", got)
	}
	if n := h.forgetThrough(5); n != 2 || seqs(5) != "[6 7] true" || seqs(4) != "[] false" {
		t.Fatalf("forgetThrough(5) = %d; since(5) = %s, since(4) = %s", n, seqs(5), seqs(4))
	}
	if n := h.forgetThrough(100); n != 2 || h.ring != nil || seqs(7) != "[] true" || seqs(6) != "[] false" {
		t.Fatalf("forgetThrough(100) = %d, ring %v; since(7) = %s, since(6) = %s", n, h.ring, seqs(7), seqs(6))
	}
	h.add(8, time.Time{}, frame{})
	if got := seqs(7); got != "[8] true" {
		t.Fatalf("since(7) after the ring was let go and grew again = %s", got)
	}
}
