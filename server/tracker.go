package server

import (
	"io"
	"sync"
)

// tracker counts the connections being served on both transports, so a
// graceful stop can wait for them, and cut them if they run late.
type tracker struct {
	mu       sync.Mutex
	conns    map[io.Closer]struct{}
	stopping bool
	wg       sync.WaitGroup
}

func newTracker() *tracker {
	return &tracker{conns: make(map[io.Closer]struct{})}
}

// add starts tracking c. It reports false once the server is stopping; the
// caller must then close c instead of serving it.
func (t *tracker) add(c io.Closer) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopping {
		return false
	}
	t.conns[c] = struct{}{}
	t.wg.Add(1)
	return true
}

// done stops tracking c, whose handler has returned.
func (t *tracker) done(c io.Closer) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
	t.wg.Done()
}

// stop refuses new connections; wait can then be called.
func (t *tracker) stop() {
	t.mu.Lock()
	t.stopping = true
	t.mu.Unlock()
}

// wait waits for every tracked handler to return.
func (t *tracker) wait() { t.wg.Wait() }

// closeAll closes every connection still open.
func (t *tracker) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c := range t.conns {
		c.Close()
	}
}
