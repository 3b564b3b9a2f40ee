package server

import (
	"strconv"
	"testing"
)

func TestHistoryKeepsTheLastN(t *testing.T) {
	h := newHistory(3)
	for i := range 5 {
		h.add(frame{tcp: []byte(strconv.Itoa(i))})
	}
	got := h.messages()
	if len(got) != 3 || string(got[0].tcp) != "2" || string(got[2].tcp) != "4" {
		t.Fatalf("history = %q", got)
	}
	off := newHistory(0)
	off.add(frame{tcp: []byte("x")})
	if len(off.messages()) != 0 {
		t.Fatalf("history 0 kept a message")
	}
}
