package server

// history keeps the last messages said, with their log seq, for newcomers
// (the last few) and for anyone paging back (all it keeps). It is owned by
// the pool goroutine, and rebuilt from the room's log when the pool starts.
type history struct {
	ring   []heldMessage
	next   int // where the next message goes
	count  int
	replay int // how many a newcomer is sent
}

// heldMessage is one kept message and its place in the log.
type heldMessage struct {
	seq uint64
	f   frame
}

// newHistory keeps up to size messages and replays the last replay.
func newHistory(size, replay int) *history {
	return &history{ring: make([]heldMessage, max(size, 0)), replay: min(max(replay, 0), max(size, 0))}
}

func (h *history) add(seq uint64, f frame) {
	if len(h.ring) == 0 {
		return
	}
	h.ring[h.next] = heldMessage{seq, f}
	h.next = (h.next + 1) % len(h.ring)
	h.count = min(h.count+1, len(h.ring))
}

// at returns the i-th kept message, oldest first.
func (h *history) at(i int) heldMessage {
	return h.ring[(h.next-h.count+i+2*len(h.ring))%len(h.ring)]
}

// forNewcomer returns the messages a newcomer is sent, oldest first.
func (h *history) forNewcomer() []frame {
	n := min(h.replay, h.count)
	out := make([]frame, 0, n)
	for i := h.count - n; i < h.count; i++ {
		out = append(out, h.at(i).f)
	}
	return out
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
