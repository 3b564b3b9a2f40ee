//go:build linux

package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// marker starts every benchmark text: "~b SENDER SEQ UNIXNANO pad…". It
// survives the server's cleaning and is found without decoding JSON.
var marker = []byte("~b ")

// member is one simulated chat member on either transport. Both are raw
// sockets: the generator speaks the WebSocket framing itself, so that a
// delivery costs it one read and a scan for the marker, and nothing else.
// With -clients goroutine a WebSocket member is a coder/websocket
// connection read by its own goroutine instead (libclient.go).
type member struct {
	idx    int
	web    bool
	proto  protocol
	conn   *net.TCPConn // nil for a library client
	fd     int
	lib    *websocket.Conn // a library client's
	poller *poller         // nil for a member that never reads
	mu     sync.Mutex      // serialises writes
	rec    *receiver
	// ended, if set, is called on a goroutine of its own when the server
	// ends the connection, not when close does.
	ended   atomic.Pointer[func()]
	closing atomic.Bool // close was called

	// Owned by the poller goroutine.
	pending []byte // bytes received that do not yet make a whole line or frame
}

// memberDialer opens the connection of a TCP member, and of a WebSocket
// member with -clients epoll. Those send no TCP keepalive probes: the
// server's probes already keep an idle member's connection checked, and
// each probe is a packet through loopback, whose backlog of 1000 by
// default drops bursts of them (see checkBacklog).
var memberDialer = net.Dialer{Timeout: 10 * time.Second, KeepAlive: -1}

func dial(addr string) (*net.TCPConn, int, error) {
	c, err := memberDialer.Dial("tcp", addr)
	if err != nil {
		return nil, 0, err
	}
	conn := c.(*net.TCPConn)
	fd := -1
	if rc, err := conn.SyscallConn(); err == nil {
		rc.Control(func(f uintptr) { fd = int(f) })
	}
	return conn, fd, nil
}

// dialTCP connects a TCP member, and on poolchat joins at once.
func dialTCP(srv *serverProc, idx int, rec *receiver, read bool) (*member, error) {
	conn, fd, err := dial(srv.tcpAddr)
	if err != nil {
		return nil, err
	}
	m := &member{idx: idx, proto: srv.proto, conn: conn, fd: fd, rec: rec}
	if srv.proto == poolchatProtocol {
		if _, err := conn.Write([]byte("\n")); err != nil {
			conn.Close()
			return nil, err
		}
	}
	if read {
		watch(m)
	} else {
		conn.SetReadBuffer(4096)
	}
	return m, nil
}

// dialWS opens /ws with a hand-written handshake, and on poolchat joins.
func dialWS(srv *serverProc, idx int, rec *receiver) (*member, error) {
	var hello []byte
	if srv.proto == poolchatProtocol {
		hello = []byte(`{"type":"got_a_new_user","name":"m` + strconv.Itoa(idx) + `"}`)
	}
	return openWS(srv, idx, rec, hello, nil)
}

// resumeWS opens /ws again for a poolchat member whose connection ended and
// takes its place back with the token and the last seq its receiver holds;
// ended is called when this connection ends too.
func resumeWS(srv *serverProc, idx int, rec *receiver, ended func()) (*member, error) {
	rec.mu.Lock()
	hello := fmt.Appendf(nil, `{"type":"resume","token":%q,"since":%d}`, rec.token, rec.lastSeq)
	rec.mu.Unlock()
	return openWS(srv, idx, rec, hello, ended)
}

// openWS does the handshake, sends hello if any as the first frame, and
// starts reading, by the generator of -clients.
func openWS(srv *serverProc, idx int, rec *receiver, hello []byte, ended func()) (*member, error) {
	if wsClients == goroutineClients {
		return dialLib(srv, idx, rec, hello, ended)
	}
	addr := srv.httpAddr
	conn, fd, err := dial(addr)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var key [16]byte
	rand.Read(key[:])
	req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key[:]) + "\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err == nil && resp.StatusCode != http.StatusSwitchingProtocols {
		err = errors.New("websocket handshake: " + resp.Status)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	m := &member{idx: idx, web: true, proto: srv.proto, conn: conn, fd: fd, rec: rec}
	if ended != nil {
		m.ended.Store(&ended)
	}
	m.pending, _ = br.Peek(br.Buffered())
	m.pending = bytes.Clone(m.pending)
	if hello != nil {
		if err := m.writeFrame(opText, hello); err != nil {
			conn.Close()
			return nil, err
		}
	}
	watch(m)
	return m, nil
}

// WebSocket opcodes the generator handles.
const (
	opText  = 1
	opClose = 8
	opPing  = 9
	opPong  = 10
)

// received takes bytes from the socket: whole lines (TCP) or whole frames
// (WebSocket) go to the receiver, the rest waits for more. False when the
// server closed the WebSocket.
func (m *member) received(b []byte) bool {
	if len(m.pending) > 0 {
		m.pending = append(m.pending, b...)
		b = m.pending
	}
	var rest []byte
	var open bool
	if m.web {
		rest, open = m.frames(b)
	} else {
		rest, open = m.lines(b), true
	}
	switch {
	case len(rest) == 0 && cap(m.pending) > 64<<10:
		m.pending = nil // a long roster is over; do not keep its size
	case len(rest) == 0:
		m.pending = m.pending[:0]
	default:
		m.pending = append(m.pending[:0], rest...)
	}
	return open
}

// lines hands every whole line to the receiver and returns the rest.
func (m *member) lines(b []byte) []byte {
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return b
		}
		m.rec.event(b[:i+1], false)
		b = b[i+1:]
	}
}

// frames hands every whole frame's events to the receiver, answers pings,
// and returns the rest. Server frames are never masked.
func (m *member) frames(b []byte) (rest []byte, open bool) {
	for len(b) >= 2 {
		op, n, hdr := b[0]&0x0f, int(b[1]&0x7f), 2
		switch n {
		case 126:
			if len(b) < 4 {
				return b, true
			}
			n, hdr = int(binary.BigEndian.Uint16(b[2:])), 4
		case 127:
			if len(b) < 10 {
				return b, true
			}
			n, hdr = int(binary.BigEndian.Uint64(b[2:])), 10
		}
		if len(b) < hdr+n {
			return b, true
		}
		payload := b[hdr : hdr+n]
		b = b[hdr+n:]
		switch op {
		case opClose:
			return nil, false
		case opPing:
			m.writeFrame(opPong, payload)
		case opText, 0:
			m.rec.events(payload)
		}
	}
	return b, true
}

// say sends one message.
func (m *member) say(text string) error {
	if m.web && m.proto == gorillaProtocol {
		return m.writeFrame(opText, []byte(text))
	}
	if m.web {
		return m.writeFrame(opText, []byte(`{"type":"message","text":"`+text+`"}`))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := m.conn.Write([]byte(text + "\n"))
	return err
}

// writeFrame sends one client frame, masked (with a zero key, which leaves
// the payload as it is) as the protocol requires of clients.
func (m *member) writeFrame(op byte, payload []byte) error {
	if m.lib != nil {
		return m.writeLib(op, payload)
	}
	f := make([]byte, 0, 8+len(payload))
	f = append(f, 0x80|op)
	if n := len(payload); n < 126 {
		f = append(f, 0x80|byte(n))
	} else {
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	}
	f = append(f, 0, 0, 0, 0)
	f = append(f, payload...)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := m.conn.Write(f)
	return err
}

// onEnd sets m.ended.
func (m *member) onEnd(f func()) { m.ended.Store(&f) }

func (m *member) close() {
	m.closing.Store(true)
	if m.lib != nil {
		m.lib.CloseNow()
		return
	}
	if m.poller != nil {
		m.poller.remove(m)
	}
	m.conn.Close()
}

// receiver keeps one member's delivery statistics.
type receiver struct {
	mu      sync.Mutex
	next    []int32 // next sequence number expected from each sender
	got     int64
	dups    int64  // repeated or out of order
	order   uint64 // FNV-1a of every (sender, seq) received, in the order received
	hist    histogram
	roster  int  // members this one knows of, for the join storm
	started bool // the snapshot's first event has arrived
	badSnap bool // a live event came before the snapshot
	target  int
	full    chan struct{} // closed when roster reaches target

	presence int64 // joins and leaves of others seen since the last reset

	// For resuming (WebSocket only): the token of the last welcome, and
	// the highest seq of any event received.
	token   string
	lastSeq uint64
	back    *comeback // set while a restart is watched
	probe   []byte    // a text awaited by expectProbe
	probed  chan struct{}
}

// comeback is what one member's return after a restart measured.
type comeback struct {
	welcomeSeq uint64
	resumed    time.Time     // welcome with resumed:true arrived
	recovered  bool          // it said every missed event follows
	flowing    time.Time     // the first message after the resume's seq arrived
	failed     bool          // resume_failed
	done       chan struct{} // closed at flowing or failed
}

func newReceiver(senders, target int) *receiver {
	return &receiver{next: make([]int32, senders), order: fnvOffset, target: target, full: make(chan struct{})}
}

// FNV-1a's 64-bit constants, for receiver.order.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// events takes a WebSocket message: one event, or several packed one per
// line.
func (r *receiver) events(payload []byte) {
	for len(payload) > 0 {
		line := payload
		if i := bytes.IndexByte(payload, '\n'); i >= 0 {
			line, payload = payload[:i], payload[i+1:]
		} else {
			payload = nil
		}
		r.event(line, true)
	}
}

// event takes one TCP line or one WebSocket event (nil for a skipped line).
func (r *receiver) event(b []byte, web bool) {
	now := time.Now().UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	var seq uint64
	if web {
		seq = seqOf(b)
		r.lastSeq = max(r.lastSeq, seq)
	}
	if i := bytes.Index(b, marker); i >= 0 {
		r.message(b[i+len(marker):], now)
		if k := r.back; k != nil && !k.resumed.IsZero() && k.flowing.IsZero() && seq > k.welcomeSeq {
			k.flowing = time.Unix(0, now)
			close(k.done)
		}
		return
	}
	if r.probe != nil && bytes.Contains(b, r.probe) {
		r.probe = nil
		close(r.probed)
		return
	}
	r.status(b, web)
}

// seqOf is the last "seq" in a WebSocket event, 0 if there is none. A
// member's text cannot fake one: its quotes are escaped.
func seqOf(b []byte) uint64 {
	i := bytes.LastIndex(b, []byte(`"seq":`))
	if i < 0 {
		return 0
	}
	n, _ := parseInt(b[i+len(`"seq":`):])
	return uint64(max(n, 0))
}

// expectProbe returns a channel closed when an event carrying text
// arrives; text must not start with the marker.
func (r *receiver) expectProbe(text string) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.probe, r.probed = []byte(text), make(chan struct{})
	return r.probed
}

func (r *receiver) message(b []byte, now int64) {
	sender, b := parseInt(b)
	seq, b := parseInt(b)
	sent, _ := parseInt(b)
	if sender < 0 || int(sender) >= len(r.next) {
		return
	}
	r.order = (r.order ^ uint64(sender)<<32 ^ uint64(seq)) * fnvPrime
	if int32(seq) < r.next[sender] {
		r.dups++
		return
	}
	if int32(seq) > r.next[sender] {
		r.dups++ // a gap: something before it is late or lost
	}
	r.next[sender] = int32(seq) + 1
	r.got++
	r.hist.add(time.Duration(now - sent))
}

// status counts who this member knows of and the joins and leaves it
// sees, checks that its snapshot comes before any live event, and keeps
// what a resume needs.
func (r *receiver) status(b []byte, web bool) {
	switch {
	case !web && bytes.HasPrefix(b, []byte("* welcome")):
		r.started = true
		return
	case web && bytes.Contains(b, []byte(`"type":"welcome"`)):
		r.started = true
		r.welcome(b)
		return
	case web && bytes.Contains(b, []byte(`"code":"resume_failed"`)):
		if k := r.back; k != nil && !k.failed && k.flowing.IsZero() {
			k.failed = true
			close(k.done)
		}
		return
	case !web && bytes.HasSuffix(b, []byte(" left\r\n")), web && bytes.Contains(b, []byte(`"type":"disconnect_user"`)):
		r.presence++
		return
	case !web && bytes.HasPrefix(b, []byte("* online now (")):
		n, _ := parseInt(b[len("* online now ("):])
		r.roster = int(n)
	case web && bytes.Contains(b, []byte(`"type":"existing_users"`)):
		r.roster = bytes.Count(b, []byte(`{"id":`))
	case !web && bytes.HasSuffix(b, []byte(" joined\r\n")), web && bytes.Contains(b, []byte(`"type":"new_user"`)):
		if !r.started {
			r.badSnap = true
		}
		r.roster++
		r.presence++
	default:
		return
	}
	if r.target > 0 && r.roster >= r.target {
		select {
		case <-r.full:
		default:
			close(r.full)
		}
	}
}

// welcome keeps a poolchat welcome's token and seq, and notes a resume.
func (r *receiver) welcome(b []byte) {
	var w struct {
		Seq       uint64
		Resume    string
		Resumed   bool
		Recovered bool
	}
	if json.Unmarshal(b, &w) != nil {
		return
	}
	r.token = w.Resume
	if k := r.back; k != nil && w.Resumed {
		k.welcomeSeq, k.resumed, k.recovered = w.Seq, time.Now(), w.Recovered
	}
}

// reset clears the delivery statistics between runs.
func (r *receiver) reset(senders int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next = make([]int32, senders)
	r.got, r.dups, r.presence, r.order = 0, 0, 0, fnvOffset
	r.hist = histogram{}
}

// parseInt reads a decimal number after optional spaces and returns the
// rest; -1 if there is none.
func parseInt(b []byte) (int64, []byte) {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	var n int64 = -1
	for len(b) > 0 && b[0] >= '0' && b[0] <= '9' {
		if n < 0 {
			n = 0
		}
		n = n*10 + int64(b[0]-'0')
		b = b[1:]
	}
	return n, b
}
