//go:build linux

package main

// The second generator (-clients goroutine, issue 17): each WebSocket
// member is a goroutine reading through a real client library,
// coder/websocket, as most Go programs would, instead of a raw socket
// read by a poller. TCP members stay raw in both.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/coder/websocket"
)

// How the generator's WebSocket members are read (-clients).
const (
	epollClients     = "epoll"     // raw sockets, framed by hand, one poller per CPU
	goroutineClients = "goroutine" // a goroutine and a coder/websocket connection each
)

// wsClients is the -clients flag: epollClients or goroutineClients.
var wsClients = epollClients

// dialLib opens /ws with coder/websocket, sends hello if any, and reads on
// a goroutine of the member's own.
func dialLib(srv *serverProc, idx int, rec *receiver, hello []byte, ended func()) (*member, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+srv.httpAddr+"/ws", nil)
	if err != nil {
		return nil, fmt.Errorf("websocket dial: %w", err)
	}
	c.SetReadLimit(-1) // a roster of thousands is larger than the default 32 KB
	m := &member{idx: idx, web: true, proto: srv.proto, lib: c, rec: rec}
	if ended != nil {
		m.ended.Store(&ended)
	}
	if hello != nil {
		if err := m.writeFrame(opText, hello); err != nil {
			c.CloseNow()
			return nil, err
		}
	}
	go m.readLib()
	return m, nil
}

// readLib hands every message's events to the receiver until the
// connection ends; the library answers pings.
func (m *member) readLib() {
	var buf bytes.Buffer
	for {
		_, r, err := m.lib.Reader(context.Background())
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(r)
		}
		if err != nil && err != io.EOF {
			if f := m.ended.Load(); f != nil && !m.closing.Load() {
				(*f)()
			}
			return
		}
		m.rec.events(buf.Bytes())
		if buf.Cap() > 64<<10 {
			buf = bytes.Buffer{} // a long roster is over; do not keep its size
		}
	}
}

// writeLib sends one text message; the library frames, masks and answers
// control frames itself.
func (m *member) writeLib(op byte, payload []byte) error {
	if op != opText {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return m.lib.Write(ctx, websocket.MessageText, payload)
}
