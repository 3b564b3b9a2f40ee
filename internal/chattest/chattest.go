// Package chattest starts a poolchat server in a test and talks to it over
// real sockets, the way netcat users do.
package chattest

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolchat/poolchat/server"
)

// Timeout bounds every wait of a test client: a line that does not come
// within it fails the test instead of hanging it. It guards against hangs
// only, so it is generous: CI machines are shared, and the race detector
// slows everything down. Tests that are about time run in a synctest
// bubble instead.
const Timeout = 20 * time.Second

// Room is a running server with its bound addresses.
type Room struct {
	Server   *server.Server
	TCPAddr  string
	HTTPAddr string
	stop     context.CancelFunc
	done     chan error
	stopOnce sync.Once
}

// Start runs a server for cfg on loopback port-0 addresses (unless cfg
// names others) and stops it when the test ends.
func Start(t testing.TB, cfg server.Config) *Room {
	t.Helper()
	if cfg.TCPAddr == "" {
		cfg.TCPAddr = "127.0.0.1:0"
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:0"
	}
	if cfg.MaxClients == 0 {
		cfg.MaxClients = 1000
	}
	if cfg.DataDir == "" {
		cfg.Ephemeral = true // a test that keeps the room names where
	}
	if cfg.Flood == (server.FloodLimit{}) {
		cfg.Flood = server.FloodLimit{Burst: 1000, PerSecond: 1000} // tests of flood control set their own
	}
	s, err := server.New(cfg)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	if err := s.Listen(); err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Room{Server: s, TCPAddr: s.TCPAddr().String(), HTTPAddr: s.HTTPAddr().String(), stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Serve(ctx) }()
	t.Cleanup(func() { r.Stop(t) })
	return r
}

// BeginStop starts a graceful stop without waiting for it, so a test can
// watch its members being told; Stop then waits.
func (r *Room) BeginStop() { r.stop() }

// Stop stops the server gracefully and waits for it. It may be called more
// than once.
func (r *Room) Stop(t testing.TB) {
	t.Helper()
	r.stopOnce.Do(func() {
		r.stop()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(2 * Timeout):
			t.Fatal("server did not stop")
		}
	})
}

// TCPClient is one netcat-like connection.
type TCPClient struct {
	t    testing.TB
	Conn *net.TCPConn
	r    *bufio.Reader
	Name string // the name from the welcome line, kept up to date by Rename
}

// Dial connects to the room's TCP port without joining: the server joins
// it at its first line or after its join delay.
func (r *Room) Dial(t testing.TB) *TCPClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", r.TCPAddr, Timeout)
	if err != nil {
		t.Fatalf("dial %s: %v", r.TCPAddr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &TCPClient{t: t, Conn: conn.(*net.TCPConn), r: bufio.NewReaderSize(conn, 64<<10)}
}

// Join connects, joins at once with an empty first line, and reads the
// welcome and online lines. History lines, if any, are left unread.
func (r *Room) Join(t testing.TB) *TCPClient {
	t.Helper()
	c := r.Dial(t)
	c.Send("")
	welcome := c.ReadLine()
	name, ok := strings.CutPrefix(welcome, "* welcome to poolchat, ")
	if !ok {
		t.Fatalf("first line %q is not a welcome", welcome)
	}
	c.Name = name
	c.ExpectPrefix("* online now (")
	return c
}

// Send writes one line, ended by LF.
func (c *TCPClient) Send(line string) {
	c.t.Helper()
	c.SendRaw(line + "\n")
}

// SendRaw writes bytes as they are.
func (c *TCPClient) SendRaw(s string) {
	c.t.Helper()
	c.Conn.SetWriteDeadline(time.Now().Add(Timeout))
	if _, err := io.WriteString(c.Conn, s); err != nil {
		c.t.Fatalf("%s: write: %v", c.Name, err)
	}
}

// ReadLine returns the next line without its CRLF, failing the test if none
// comes within Timeout or a line does not end in CRLF.
func (c *TCPClient) ReadLine() string {
	c.t.Helper()
	l, err := c.TryReadLine(Timeout)
	if err != nil {
		c.t.Fatalf("%s: read: %v", c.Name, err)
	}
	return l
}

// TryReadLine is ReadLine returning errors (io.EOF at the end, a timeout
// error after d) instead of failing.
func (c *TCPClient) TryReadLine(d time.Duration) (string, error) {
	c.Conn.SetReadDeadline(time.Now().Add(d))
	l, err := c.r.ReadString('\n')
	if err != nil {
		if l != "" && errors.Is(err, io.EOF) {
			return l, errors.New("last line has no end: " + l)
		}
		return "", err
	}
	if !strings.HasSuffix(l, "\r\n") {
		return "", errors.New("line does not end in CRLF: " + l)
	}
	return strings.TrimSuffix(l, "\r\n"), nil
}

// Expect reads the next line and fails the test unless it is want.
func (c *TCPClient) Expect(want string) {
	c.t.Helper()
	if got := c.ReadLine(); got != want {
		c.t.Fatalf("%s: got line %q, want %q", c.Name, got, want)
	}
}

// ExpectPrefix reads the next line and fails the test unless it starts with
// prefix. It returns the line.
func (c *TCPClient) ExpectPrefix(prefix string) string {
	c.t.Helper()
	got := c.ReadLine()
	if !strings.HasPrefix(got, prefix) {
		c.t.Fatalf("%s: got line %q, want one starting %q", c.Name, got, prefix)
	}
	return got
}

// ExpectEOF reads until the server closes the connection, failing on any
// line or if it does not close within Timeout.
func (c *TCPClient) ExpectEOF() {
	c.t.Helper()
	l, err := c.TryReadLine(Timeout)
	switch {
	case errors.Is(err, io.EOF):
	case err != nil:
		c.t.Fatalf("%s: want EOF, got %v", c.Name, err)
	default:
		c.t.Fatalf("%s: want EOF, got line %q", c.Name, l)
	}
}

// Sync proves that nothing unexpected reached the observers: c says a
// unique marker, and each observer's next line must be that message.
func (c *TCPClient) Sync(marker string, observers ...*TCPClient) {
	c.t.Helper()
	c.Send(marker)
	want := c.Name + ": " + marker
	for _, o := range append([]*TCPClient{c}, observers...) {
		o.Expect(want)
	}
}
