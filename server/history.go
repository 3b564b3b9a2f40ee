package server

import "time"

// history keeps the last events of one kind with their log seq: the
// messages said, for newcomers (the last few) and for anyone paging back
// (all it keeps); or every numbered event, for members who resume, for as
// long as they may (forgetOldEvents). It is owned by the pool goroutine,
// and rebuilt from the room's log when the pool starts.
type history struct {
	ring    []heldMessage // grown as events come, up to size; nil while none is kept
	size    int
	next    int // where the next message goes: len(ring) until ring is full
	count   int
	replay  int    // how many a newcomer is sent
	dropped uint64 // the seq of the newest event no longer kept
}

// heldMessage is one kept event, its place in the log and its time.
type heldMessage struct {
	seq  uint64
	at   time.Time
	f    frame
	pair [2]string // the two members a private event is for; empty for everyone
}

// newHistory keeps up to size messages and replays the last replay.
func newHistory(size, replay int) *history {
	size = max(size, 0)
	return &history{size: size, replay: min(max(replay, 0), size)}
}

func (h *history) add(seq uint64, at time.Time, f frame) {
	h.addFor(seq, at, f, "", "")
}

// addFor keeps an event that only the members a and b may be sent.
func (h *history) addFor(seq uint64, at time.Time, f frame, a, b string) {
	held := heldMessage{seq, at, f, [2]string{a, b}}
	switch {
	case h.size == 0:
		h.dropped = seq
		return
	case len(h.ring) < h.size: // still growing: next is len(ring)
		if len(h.ring) == cap(h.ring) {
			grown := make([]heldMessage, len(h.ring), min(max(2*cap(h.ring), 64), h.size))
			copy(grown, h.ring)
			h.ring = grown
		}
		h.ring = append(h.ring, held)
	default:
		if h.count == len(h.ring) {
			h.dropped = h.ring[h.next].seq
		}
		h.ring[h.next] = held
	}
	h.next = (h.next + 1) % h.size
	h.count = min(h.count+1, h.size)
}

// forgetThrough lets go of the kept events up to seq, oldest first, and
// returns how many that was. With none left, the ring goes too.
func (h *history) forgetThrough(seq uint64) int {
	n := 0
	for ; h.count > 0; n++ {
		i := (h.next - h.count + len(h.ring)) % len(h.ring)
		if h.ring[i].seq > seq {
			break
		}
		h.dropped = h.ring[i].seq
		h.ring[i] = heldMessage{}
		h.count--
	}
	if h.count == 0 {
		h.ring, h.next = nil, 0
	}
	return n
}

// at returns the i-th kept message, oldest first.
func (h *history) at(i int) heldMessage {
	return h.ring[(h.next-h.count+i+2*len(h.ring))%len(h.ring)]
}

// forNewcomer returns the messages a newcomer is sent, oldest first, and
// whether older ones are kept.
func (h *history) forNewcomer() ([]heldMessage, bool) {
	return h.before(0, h.replay)
}

// since returns every kept event after seq that the member id may be
// sent, oldest first, and whether that is all of them: none after seq was
// dropped, or known only to a log that has since forgotten it (from: the
// first seq kept whole).
func (h *history) since(seq, from uint64, id string) ([]heldMessage, bool) {
	if seq < h.dropped || seq < from {
		return nil, false
	}
	i := h.count
	for i > 0 && h.at(i-1).seq > seq {
		i--
	}
	var out []heldMessage
	for ; i < h.count; i++ {
		if e := h.at(i); e.pair[0] == "" || e.pair[0] == id || e.pair[1] == id {
			out = append(out, e)
		}
	}
	return out, true
}

// before returns up to limit messages strictly before seq (0: from the
// newest), oldest first, and whether older ones are kept.
func (h *history) before(seq uint64, limit int) (msgs []heldMessage, more bool) {
	end := h.count // the first kept message at or after seq
	if seq > 0 {
		lo, hi := 0, h.count
		for lo < hi {
			mid := (lo + hi) / 2
			if h.at(mid).seq < seq {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		end = lo
	}
	start := max(end-limit, 0)
	for i := start; i < end; i++ {
		msgs = append(msgs, h.at(i))
	}
	return msgs, start > 0
}
