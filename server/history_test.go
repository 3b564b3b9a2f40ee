package server

import (
	"fmt"
	"strconv"
	"testing"
)

func TestHistoryKeepsTheLastN(t *testing.T) {
	h := newHistory(4, 3)
	for i := range 6 {
		h.add(uint64(10+i), frame{tcp: []byte(strconv.Itoa(i))})
	}
	got := h.forNewcomer()
	if len(got) != 3 || string(got[0].tcp) != "3" || string(got[2].tcp) != "5" {
		t.Fatalf("history for a newcomer = %q", got)
	}
	off := newHistory(0, 50)
	off.add(1, frame{tcp: []byte("x")})
	if len(off.forNewcomer()) != 0 {
		t.Fatalf("history 0 kept a message")
	}
}

func TestHistoryPaging(t *testing.T) {
	h := newHistory(5, 2)
	for i := range 8 { // keeps seqs 16, 18, 20, 22, 24
		h.add(uint64(10+2*i), frame{})
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
