package server

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"
)

// Write timeouts, on both transports: a member whose socket takes no bytes
// for writeTimeout is gone; one being dropped for not reading gets
// hurryTimeout to take its last words.
const (
	writeTimeout = 10 * time.Second
	hurryTimeout = 500 * time.Millisecond
)

// writeDeadline keeps a connection's write deadline about writeTimeout
// ahead. It moves the deadline only when half of it has passed, so a busy
// member does not pay for a timer update on every write.
type writeDeadline struct {
	conn    net.Conn
	mu      sync.Mutex
	set     time.Time // when the deadline was last moved
	hurried bool
}

// refresh is called before each write.
func (d *writeDeadline) refresh() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if now := time.Now(); !d.hurried && now.Sub(d.set) > writeTimeout/2 {
		d.conn.SetWriteDeadline(now.Add(writeTimeout))
		d.set = now
	}
}

// rest clears the deadline when the writer has nothing left, so the
// pool's direct writes, which never wait and so set none, do not find a
// stale one later and fall back to the writer for it.
func (d *writeDeadline) rest() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.hurried && !d.set.IsZero() {
		d.conn.SetWriteDeadline(time.Time{})
		d.set = time.Time{}
	}
}

// hurry makes pending and later writes give up within hurryTimeout.
func (d *writeDeadline) hurry() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.hurried = true
	d.conn.SetWriteDeadline(time.Now().Add(hurryTimeout))
}

// sendBuffer caps the kernel's send buffer of each member's socket. Chat
// needs little of it, and the cap keeps a member that stops reading from
// hiding megabytes in the kernel: its writes block sooner, and it is
// dropped after tcpWriteTimeout instead of never.
const sendBuffer = 32 << 10

// capSendBuffer applies sendBuffer to a connection, if it is TCP.
func capSendBuffer(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(sendBuffer)
	}
}

// closeWrite half-closes a connection that can (TCP): the client reads
// the end of what the server sends, and may still send its own.
func closeWrite(c net.Conn) {
	if hc, ok := c.(interface{ CloseWrite() error }); ok {
		hc.CloseWrite()
	}
}

// closeAfterRead closes a member's connection once its reader stopped
// with err: at once (a reset) if the server had said its last words and
// the client did not close within lingerAfter.
func closeAfterRead(conn net.Conn, err error) {
	if tc, ok := conn.(*net.TCPConn); ok && errors.Is(err, os.ErrDeadlineExceeded) {
		tc.SetLinger(0)
	}
	conn.Close()
}
