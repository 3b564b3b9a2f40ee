package server

// history is a ring of the last messages said, replayed to each newcomer.
// It is owned by the pool goroutine.
type history struct {
	ring  []frame
	next  int // where the next message goes
	count int
}

func newHistory(size int) *history {
	return &history{ring: make([]frame, max(size, 0))}
}

func (h *history) add(f frame) {
	if len(h.ring) == 0 {
		return
	}
	h.ring[h.next] = f
	h.next = (h.next + 1) % len(h.ring)
	h.count = min(h.count+1, len(h.ring))
}

// messages returns the kept messages, oldest first.
func (h *history) messages() []frame {
	out := make([]frame, 0, h.count)
	start := (h.next - h.count + len(h.ring)) % max(len(h.ring), 1)
	for i := range h.count {
		out = append(out, h.ring[(start+i)%len(h.ring)])
	}
	return out
}
