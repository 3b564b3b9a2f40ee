// Tests of a member's outbox from inside the package.

package server

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// deadlineSpy is a TCP connection that remembers the write deadlines set
// on it.
type deadlineSpy struct {
	*net.TCPConn
	mu      sync.Mutex
	set     int       // deadlines set, not counting clears
	current time.Time // the one in force
}

func (s *deadlineSpy) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	if !t.IsZero() {
		s.set++
	}
	s.current = t
	s.mu.Unlock()
	return s.TCPConn.SetWriteDeadline(t)
}

// TestWriterLeavesNoDeadline: the writer goroutine, which waits for the
// socket under a write deadline, clears it when it has nothing left, so
// later direct writes (which set none) do not meet it once it is stale.
func TestWriterLeavesNoDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	spy := &deadlineSpy{TCPConn: conn.(*net.TCPConn)}
	defer spy.Close()

	o := newOutbox(ViaTCP, spy, 1<<30)
	big := bytes.Repeat([]byte("x"), 4*maxPacked) // large events always go through the writer
	o.send(frame{tcp: big})
	if _, err := io.ReadFull(client, make([]byte, len(big))); err != nil {
		t.Fatal(err)
	}
	o.writer.Wait()

	spy.mu.Lock()
	defer spy.mu.Unlock()
	if spy.set == 0 {
		t.Fatal("the writer set no deadline: it did not write")
	}
	if !spy.current.IsZero() {
		t.Errorf("deadline left at %v after the writer finished", spy.current)
	}
}
