// Tests of a member's outbox from inside the package.

package server

import (
	"bytes"
	"io"
	"net"
	"slices"
	"strings"
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

// TestPushRunJoins: events the pool broadcast one after another in the
// same run become one queued item, separated as the transport needs;
// anything else between them, a full run, or the limit keeps them apart.
func TestPushRunJoins(t *testing.T) {
	client, conn := net.Pipe()
	defer client.Close()
	defer conn.Close()
	queued := func(o *outbox) []string {
		var items []string
		for _, b := range o.queue {
			items = append(items, string(b))
		}
		return items
	}

	web := broadcastRun{sep: '\n'}
	o := newOutbox(ViaWeb, conn, 1<<20)
	for _, ev := range []string{`{"a":1}`, `{"b":2}`} {
		o.pushRun(frame{web: web.add([]byte(ev))})
	}
	o.push(frame{web: []byte(`{"c":3}`)})
	o.pushRun(frame{web: web.add([]byte(`{"d":4}`))})
	o.pushRun(frame{web: web.add([]byte(`{"e":5}`))})
	want := []string{`{"a":1}` + "\n" + `{"b":2}`, `{"c":3}`, `{"d":4}` + "\n" + `{"e":5}`}
	if got := queued(o); !slices.Equal(got, want) || o.queued != len(strings.Join(want, "")) {
		t.Errorf("WebSocket queue %q (%d bytes), want %q", got, o.queued, want)
	}

	tcp := broadcastRun{}
	o = newOutbox(ViaTCP, conn, 1<<20)
	quarter := strings.Repeat("x", runSize/4-2) + "\r\n"
	for range 5 { // the fifth starts a new run
		o.pushRun(frame{tcp: tcp.add([]byte(quarter))})
	}
	if got := queued(o); len(got) != 2 || got[0] != strings.Repeat(quarter, 4) || got[1] != quarter {
		t.Errorf("TCP queue of %d items, want 2: four in a run, then one in the next", len(got))
	}

	o = newOutbox(ViaWeb, conn, 10)
	o.pushRun(frame{web: web.add([]byte(`{"f":6}`))})
	if o.pushRun(frame{web: web.add([]byte(`{"g":7}`))}) {
		t.Errorf("the second event went past the limit of 10 bytes")
	}
	if got := queued(o); !slices.Equal(got, []string{`{"f":6}`}) || o.queued != 7 {
		t.Errorf("queue past the limit %q (%d bytes)", got, o.queued)
	}
}
