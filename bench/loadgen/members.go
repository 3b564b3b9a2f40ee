package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// marker starts every benchmark text: "~b SENDER SEQ UNIXNANO pad…". It
// survives the server's cleaning and is found without decoding JSON.
var marker = []byte("~b ")

// member is one simulated chat member on either transport.
type member struct {
	idx  int
	tcp  net.Conn
	ws   *websocket.Conn
	mu   sync.Mutex // serialises writes
	rec  *receiver
	done chan struct{} // closed when the reader stops
}

func dialTCP(addr string, idx int, rec *receiver, read bool) (*member, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	m := &member{idx: idx, tcp: conn, rec: rec, done: make(chan struct{})}
	if _, err := conn.Write([]byte("\n")); err != nil { // join at once
		conn.Close()
		return nil, err
	}
	if read {
		go m.readTCP()
	} else {
		conn.(*net.TCPConn).SetReadBuffer(4096)
		close(m.done)
	}
	return m, nil
}

func dialWS(addr string, idx int, rec *receiver) (*member, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", nil)
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(-1)
	m := &member{idx: idx, ws: conn, rec: rec, done: make(chan struct{})}
	join := `{"type":"got_a_new_user","name":"m` + strconv.Itoa(idx) + `"}`
	if err := conn.Write(ctx, websocket.MessageText, []byte(join)); err != nil {
		conn.CloseNow()
		return nil, err
	}
	go m.readWS()
	return m, nil
}

func (m *member) readTCP() {
	defer close(m.done)
	r := bufio.NewReaderSize(m.tcp, 64<<10)
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			for errors.Is(err, bufio.ErrBufferFull) { // a long roster line: skip it
				_, err = r.ReadSlice('\n')
			}
			m.rec.event(nil, false)
			continue
		}
		if err != nil {
			return
		}
		m.rec.event(line, false)
	}
}

func (m *member) readWS() {
	defer close(m.done)
	var buf bytes.Buffer
	for {
		_, r, err := m.ws.Reader(context.Background())
		if err != nil {
			return
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return
		}
		data := buf.Bytes()
		for len(data) > 0 {
			line := data
			if i := bytes.IndexByte(data, '\n'); i >= 0 {
				line, data = data[:i], data[i+1:]
			} else {
				data = nil
			}
			m.rec.event(line, true)
		}
	}
}

// say sends one message.
func (m *member) say(text string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tcp != nil {
		m.tcp.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, err := m.tcp.Write([]byte(text + "\n"))
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return m.ws.Write(ctx, websocket.MessageText, []byte(`{"type":"message","text":"`+text+`"}`))
}

func (m *member) close() {
	if m.tcp != nil {
		m.tcp.Close()
	} else {
		m.ws.CloseNow()
	}
	<-m.done
}

// receiver keeps one member's delivery statistics.
type receiver struct {
	mu      sync.Mutex
	next    []int32 // next sequence number expected from each sender
	got     int64
	dups    int64 // repeated or out of order
	hist    histogram
	roster  int  // members this one knows of, for the join storm
	started bool // the snapshot's first event has arrived
	badSnap bool // a live event came before the snapshot
	target  int
	full    chan struct{} // closed when roster reaches target
}

func newReceiver(senders, target int) *receiver {
	return &receiver{next: make([]int32, senders), target: target, full: make(chan struct{})}
}

// event takes one TCP line or one WebSocket event (nil for a skipped line).
func (r *receiver) event(b []byte, web bool) {
	now := time.Now().UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	if i := bytes.Index(b, marker); i >= 0 {
		r.message(b[i+len(marker):], now)
		return
	}
	r.presence(b, web)
}

func (r *receiver) message(b []byte, now int64) {
	sender, b := parseInt(b)
	seq, b := parseInt(b)
	sent, _ := parseInt(b)
	if sender < 0 || int(sender) >= len(r.next) {
		return
	}
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

// presence counts who this member knows of, and checks that its snapshot
// comes before any live event.
func (r *receiver) presence(b []byte, web bool) {
	switch {
	case !web && bytes.HasPrefix(b, []byte("* welcome")), web && bytes.Contains(b, []byte(`"type":"welcome"`)):
		r.started = true
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
	case b == nil:
		r.roster = r.target // an over-long roster line: the storm's rosters are shorter
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

// reset clears the delivery statistics between runs.
func (r *receiver) reset(senders int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next = make([]int32, senders)
	r.got, r.dups = 0, 0
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
