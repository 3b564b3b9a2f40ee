// Tests where time is the subject: the join delay, the linger after the
// last words, flood control and pings. They run the real connection
// handlers over in-memory connections in a synctest bubble, where the
// clock moves only when every goroutine waits, so each bound is exact and
// no test depends on how fast this machine is.

package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"testing/synctest"
	"time"
)

// pipeRoom is a server's pool and connection handlers over net.Pipe
// connections, inside a synctest bubble.
type pipeRoom struct {
	t        *testing.T
	s        *Server
	handlers sync.WaitGroup
	clients  []net.Conn
}

// startPipeRoom runs a pool for cfg; the room is torn down when the test
// ends: clients close, handlers return, the pool stops.
func startPipeRoom(t *testing.T, cfg Config) *pipeRoom {
	cfg.Ephemeral = true
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &pipeRoom{t: t, s: s}
	s.pool.roomLog = newMemLog()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.pool.Run(ctx); close(done) }()
	f, err := s.pool.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range r.clients {
			c.Close()
		}
		r.handlers.Wait()
		f.Stop()
		cancel()
		<-done
		s.pool.roomLog.Close()
	})
	return r
}

// pipeClient is the client's end of one connection.
type pipeClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	name string
}

// dial connects a client to the handler serve runs on the server's end.
func (r *pipeRoom) dial(serve func(net.Conn)) *pipeClient {
	server, client := net.Pipe()
	r.clients = append(r.clients, client)
	r.handlers.Go(func() { serve(server) })
	return &pipeClient{t: r.t, conn: client, r: bufio.NewReader(client)}
}

// dialTCP connects a netcat-like client.
func (r *pipeRoom) dialTCP() *pipeClient { return r.dial(r.s.serveTCP) }

// joinTCP connects and joins at once, reading the welcome and the roster.
func (r *pipeRoom) joinTCP() *pipeClient {
	c := r.dialTCP()
	c.send("")
	c.name = strings.TrimPrefix(c.expectPrefix("* welcome to poolchat, "), "* welcome to poolchat, ")
	c.expectPrefix("* online now (")
	return c
}

func (c *pipeClient) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, line+"\n"); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *pipeClient) readLine() (string, error) {
	l, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(l, "\r\n"), nil
}

func (c *pipeClient) expect(want string) {
	c.t.Helper()
	if got, err := c.readLine(); got != want || err != nil {
		c.t.Fatalf("%s: got %q (%v), want %q", c.name, got, err, want)
	}
}

func (c *pipeClient) expectPrefix(prefix string) string {
	c.t.Helper()
	got, err := c.readLine()
	if !strings.HasPrefix(got, prefix) || err != nil {
		c.t.Fatalf("%s: got %q (%v), want a line starting %q", c.name, got, err, prefix)
	}
	return got
}

// expectEnd reads until the server closes the connection and returns
// when it did, failing on any line.
func (c *pipeClient) expectEnd() time.Time {
	c.t.Helper()
	l, err := c.readLine()
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrClosedPipe) {
		c.t.Fatalf("%s: got %q (%v), want the connection closed", c.name, l, err)
	}
	return time.Now()
}

// TestJoinDelay: a TCP connection that sends nothing joins exactly
// JoinDelay after it opened, not before.
func TestJoinDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startPipeRoom(t, Config{})
		start := time.Now()
		c := r.dialTCP()
		time.Sleep(r.s.cfg.JoinDelay - time.Nanosecond)
		synctest.Wait()
		if n := len(r.s.pool.Members()); n != 0 {
			t.Fatalf("%d members before the join delay, want 0", n)
		}
		c.expectPrefix("* welcome to poolchat, ")
		if took := time.Since(start); took != r.s.cfg.JoinDelay {
			t.Fatalf("joined after %v, want %v", took, r.s.cfg.JoinDelay)
		}
	})
}

// TestLingerAfterLastWords: after the server's last line, a client that
// does not close is cut lingerAfter later; one that closes is let go at
// once.
func TestLingerAfterLastWords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startPipeRoom(t, Config{})
		stays := r.joinTCP()
		stays.send(`\quit`)
		stays.expect("* bye")
		said := time.Now()
		if cut := stays.expectEnd(); cut.Sub(said) != lingerAfter {
			t.Fatalf("cut %v after the last words, want %v", cut.Sub(said), lingerAfter)
		}

		leaves := r.joinTCP()
		leaves.send(`\quit`)
		leaves.expect("* bye")
		leaves.conn.Close()
		synctest.Wait()
		if n := len(r.s.pool.Members()); n != 0 {
			t.Fatalf("%d members after both quit", n)
		}
	})
}

// TestFloodRefill: a burst far over the limit is read at exactly the
// limit's pace (Burst lines at once, then PerSecond), every line arrives
// in order, and the sender is told once.
func TestFloodRefill(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		limit := FloodLimit{Burst: 5, PerSecond: 20}
		r := startPipeRoom(t, Config{Flood: limit})
		flooder, watcher := r.joinTCP(), r.joinTCP()
		flooder.expect("* " + watcher.name + " joined")
		const lines = 30
		var burst strings.Builder
		for i := range lines {
			fmt.Fprintf(&burst, "f%d\n", i)
		}
		start := time.Now()
		go io.WriteString(flooder.conn, burst.String())
		told := make(chan int)
		go func() {
			n := 0
			for range lines + 1 {
				if l, _ := flooder.readLine(); strings.HasPrefix(l, "! you are sending too fast") {
					n++
				}
			}
			told <- n
		}()
		for i := range lines {
			watcher.expect(fmt.Sprintf("%s: f%d", flooder.name, i))
			want := time.Duration(float64(max(0, i+1-limit.Burst)) / limit.PerSecond * float64(time.Second))
			if got := time.Since(start); got-want > time.Microsecond || want-got > time.Microsecond {
				t.Fatalf("line %d read after %v, want %v", i, got, want)
			}
		}
		if n := <-told; n != 1 {
			t.Fatalf("the flooder was told %d times, want once", n)
		}
	})
}

// TestPings: a WebSocket peer that answers pings stays however long it is
// quiet; one that does not is cut exactly PingInterval+PingTimeout after
// it last spoke, and announced as left when its resume grace is over.
func TestPings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A ping timeout apart from the write timeout, so that a peer
		// dropped for not taking the ping's bytes would show.
		r := startPipeRoom(t, Config{PingTimeout: 7 * time.Second})
		watcher := r.joinTCP()
		answers := r.joinWS("answers")
		watcher.expect("* answers joined")
		silent := r.joinWS("silent")
		joined := time.Now()
		watcher.expect("* silent joined")
		readAll := func(c *pipeClient, answer bool) {
			for {
				op, payload, err := c.readFrame()
				if err != nil {
					return
				}
				if op == opPing && answer {
					c.writeFrame(opPong, payload)
				}
			}
		}
		go readAll(answers, true)
		go readAll(silent, false)
		watcher.expect("* silent left")
		if took, want := time.Since(joined), r.s.cfg.PingInterval+r.s.cfg.PingTimeout+r.s.cfg.ResumeGrace; took != want {
			t.Fatalf("the silent peer was dropped after %v, want %v", took, want)
		}
		time.Sleep(10 * r.s.cfg.PingInterval)
		names := []string{}
		for _, m := range r.s.pool.Members() {
			names = append(names, m.Name)
		}
		if want := []string{watcher.name, "answers"}; fmt.Sprint(names) != fmt.Sprint(want) {
			t.Fatalf("members %v after ten ping intervals, want %v", names, want)
		}
	})
}

// joinWS connects a WebSocket client (past the HTTP upgrade) and joins as
// name, reading its snapshot.
func (r *pipeRoom) joinWS(name string) *pipeClient {
	c := r.dial(func(conn net.Conn) { r.s.newWSSession(conn, bufio.NewReader(conn), "pipe").serve() })
	c.name = name
	c.writeFrame(opText, fmt.Appendf(nil, `{"type":"got_a_new_user","name":%q}`, name))
	var events []string // a frame may carry several, one per line
	for _, want := range []string{`{"type":"welcome"`, `{"type":"existing_users"`, `{"type":"history"`} {
		if len(events) == 0 {
			_, payload, err := c.readFrame()
			if err != nil {
				c.t.Fatalf("%s: %v, want an event starting %s", name, err, want)
			}
			events = strings.Split(string(payload), "\n")
		}
		if !strings.HasPrefix(events[0], want) {
			c.t.Fatalf("%s: got %q, want an event starting %s", name, events[0], want)
		}
		events = events[1:]
	}
	return c
}

// writeFrame sends one masked frame, as a client must.
func (c *pipeClient) writeFrame(op byte, payload []byte) {
	b := []byte{0x80 | op, 0x80 | byte(len(payload))}
	if len(payload) > 125 {
		b = binary.BigEndian.AppendUint16([]byte{0x80 | op, 0x80 | 126}, uint16(len(payload)))
	}
	b = append(b, 0, 0, 0, 0) // a zero mask leaves the payload as it is
	if _, err := c.conn.Write(append(b, payload...)); err != nil {
		c.t.Errorf("%s: write: %v", c.name, err)
	}
}

// readFrame reads one unmasked server frame.
func (c *pipeClient) readFrame() (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		return 0, nil, err
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(c.r, ext[:]); err != nil {
			return 0, nil, err
		}
		n = int(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(c.r, ext[:]); err != nil {
			return 0, nil, err
		}
		n = int(binary.BigEndian.Uint64(ext[:]))
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(c.r, payload)
	return h[0] & 0x0f, payload, err
}

// pipeListener is a listener of net.Pipe connections.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// dial connects a client through the listener.
func (l *pipeListener) dial(t *testing.T) *pipeClient {
	server, client := net.Pipe()
	t.Cleanup(func() { client.Close() })
	l.conns <- server
	return &pipeClient{t: t, conn: client, r: bufio.NewReader(client)}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// TestShutdownDeadline: a graceful stop tells every member at once, and
// ends within StopTimeout even when a member neither reads nor closes.
func TestShutdownDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := New(Config{Ephemeral: true})
		if err != nil {
			t.Fatal(err)
		}
		s.pool.roomLog = newMemLog()
		tcp, web := newPipeListener(), newPipeListener()
		s.tcpLn, s.httpLn = tcp, web
		ctx, stop := context.WithCancel(context.Background())
		served := make(chan error)
		go func() { served <- s.Serve(ctx) }()

		reads := tcp.dial(t)
		reads.send("")
		reads.name = strings.TrimPrefix(reads.expectPrefix("* welcome to poolchat, "), "* welcome to poolchat, ")
		reads.expectPrefix("* online now (1)")
		stuck := tcp.dial(t) // joins, then reads nothing more
		stuck.send("")
		reads.expectPrefix("* guest-")

		stopped := time.Now()
		stop()
		reads.expect("* server is shutting down")
		if told := time.Since(stopped); told != 0 {
			t.Errorf("told %v after the stop, want at once", told)
		}
		reads.conn.Close()
		if err := <-served; err != nil {
			t.Fatal(err)
		}
		if took := time.Since(stopped); took != s.cfg.StopTimeout {
			t.Fatalf("stopped after %v with a stuck member, want %v", took, s.cfg.StopTimeout)
		}
		if s.cfg.StopTimeout >= 5*time.Second {
			t.Fatalf("StopTimeout %v: SPEC §7 wants the process gone within 5 s", s.cfg.StopTimeout)
		}
	})
}

// TestSlowDownload: the web server's write timeout bounds each write, not
// the response: a browser on a line slower than the whole body allows in
// one timeout still gets all of it, and one that stops reading is cut.
func TestSlowDownload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = time.Second
		body := strings.Repeat("0123456789abcdef", 64<<10) // 1 MiB
		s, err := New(Config{Assets: fstest.MapFS{"poolchat.wasm": {Data: []byte(body)}}, HTTPWriteTimeout: timeout})
		if err != nil {
			t.Fatal(err)
		}
		ln := newPipeListener()
		go s.http.Serve(ln)
		defer s.http.Close()
		get := func() *http.Response {
			transport := &http.Transport{DisableCompression: true, DialContext: func(context.Context, string, string) (net.Conn, error) {
				server, client := net.Pipe()
				ln.conns <- server
				return client, nil
			}}
			defer transport.CloseIdleConnections()
			resp, err := transport.RoundTrip(httptest.NewRequest("GET", "http://localhost/assets/poolchat.wasm", nil))
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("GET: %v %v", resp, err)
			}
			return resp
		}

		slow := get()
		start := time.Now()
		var got strings.Builder
		buf := make([]byte, 16<<10)
		for {
			time.Sleep(timeout / 4) // a slow line: 64 KB a second
			n, err := slow.Body.Read(buf)
			got.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("after %d of %d bytes: %v", got.Len(), len(body), err)
			}
		}
		slow.Body.Close()
		if got.String() != body || time.Since(start) < 10*timeout {
			t.Fatalf("got %d of %d bytes in %v", got.Len(), len(body), time.Since(start))
		}

		stalled := get()
		first, _ := stalled.Body.Read(buf)
		time.Sleep(timeout) // not reading: the server's write runs out of time
		synctest.Wait()
		rest, err := io.ReadAll(stalled.Body)
		if n := first + len(rest); err == nil || n == len(body) {
			t.Fatalf("a client that stopped reading got %d of %d bytes (%v)", n, len(body), err)
		}
		stalled.Body.Close()
	})
}

// TestTypingIsThrottled: of a page's typing events, one a second at most
// is passed on; the rest are dropped.
func TestTypingIsThrottled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startPipeRoom(t, Config{})
		ann := r.joinWS("Ann")
		bea := r.joinWS("Bea")
		typing := []byte(`{"type":"typing"}`)
		events := make(chan string, 16)
		go func() {
			for {
				_, payload, err := bea.readFrame()
				if err != nil {
					close(events)
					return
				}
				for _, e := range strings.Split(string(payload), "\n") {
					events <- e
				}
			}
		}()
		go func() { // Ann reads what comes her way
			for {
				if _, _, err := ann.readFrame(); err != nil {
					return
				}
			}
		}()
		start := time.Now()
		for _, at := range []time.Duration{0, typingEvery / 2, typingEvery, typingEvery + 1} {
			time.Sleep(at - time.Since(start))
			ann.writeFrame(opText, typing)
		}
		ann.writeFrame(opText, []byte(`{"type":"message","text":"done"}`))
		var got []string
		for e := range events {
			if strings.Contains(e, `"type":"message"`) {
				break
			}
			if strings.Contains(e, `"type":"typing"`) {
				got = append(got, e)
			}
		}
		if len(got) != 2 {
			t.Fatalf("Bea got %d typing events, want 2 (at 0 and at %v): %v", len(got), typingEvery, got)
		}
	})
}

// TestTakenForDeadIsCut: a member of this node whose leave another node
// recorded (it took this node for dead) is told and cut, not left
// connected outside the room.
func TestTakenForDeadIsCut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startPipeRoom(t, Config{})
		watcher, victim := r.joinTCP(), r.joinTCP()
		watcher.expect("* " + victim.name + " joined")
		var id string
		for _, m := range r.s.pool.Members() {
			if m.Name == victim.name {
				id = m.ID
			}
		}
		if _, err := r.s.pool.append(nil, leaveEntry(id, "", whyNodeLost)); err != nil {
			t.Fatal(err)
		}
		watcher.expect("* " + victim.name + " left")
		victim.expect("* lost the room; reconnect to another server")
		victim.expectEnd()
	})
}
