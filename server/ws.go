package server

import (
	"context"
	"encoding/json"
	"math"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
)

const (
	// wsReadLimit bounds one frame from a client: a message of the longest
	// allowed text with every character escaped fits well within it. A
	// larger frame ends the connection with 1009.
	wsReadLimit = 16 << 10
)

// wireInbound is any frame a client sends: `got_a_new_user` with a name, or
// `message` with a text.
type wireInbound struct {
	Type string `json:"type"`
	Name string `json:"name"`
	Text string `json:"text"`
}

// handleWS upgrades /ws to a WebSocket and serves one browser member on a
// goroutine of its own: the HTTP handler returns at once, so the request,
// its headers and the HTTP server's per-connection state are not held for
// the life of the member.
func (s *Server) handleWS() http.Handler {
	accept := &websocket.AcceptOptions{OriginPatterns: s.cfg.AllowedOrigins}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip, addr := addrIP(r.RemoteAddr), r.RemoteAddr
		if !s.gate.admit(ip) {
			s.log.Info("refused", "via", ViaWeb, "addr", addr, "reason", "server full")
			http.Error(w, "server full", http.StatusServiceUnavailable)
			return
		}
		raw := netConnOf(r.Context())
		if raw != nil {
			capSendBuffer(raw)
		}
		conn, err := websocket.Accept(w, r, accept)
		if err != nil {
			s.gate.release(ip)
			s.log.Info("refused", "via", ViaWeb, "addr", addr, "reason", err.Error())
			return // Accept has answered (403 for a foreign Origin)
		}
		closer := wsCloser{conn}
		if !s.conns.add(closer) {
			s.gate.release(ip)
			conn.Close(websocket.StatusGoingAway, endShutdown.reason)
			return
		}
		go func() {
			defer s.conns.done(closer)
			defer s.gate.release(ip)
			defer s.contain(addr)
			s.serveWS(conn, raw, addr)
		}()
	})
}

// serveWS reads one browser member's frames until the connection ends. The
// first accepted frame must be `got_a_new_user`; refused names may be
// retried.
func (s *Server) serveWS(conn *websocket.Conn, raw net.Conn, addr string) {
	conn.SetReadLimit(wsReadLimit)
	m := newMember(ViaWeb, addr, &wsSink{conn: conn, deadline: writeDeadline{conn: raw}}, s.cfg.OutboxLimit)
	stopPings := s.keepAlive(conn)
	defer func() {
		stopPings()
		s.pool.Unregister(m)
		conn.CloseNow()
		m.out.wait()
	}()

	joined := false
	answer := func(r *Refusal) {
		if joined {
			s.pool.Tell(m, r) // in order with the member's other events
		} else {
			m.out.send(refusalFrame(r))
		}
	}
	flood := newFloodGate(s.cfg.Flood, time.Now())
	for {
		typ, data, err := conn.Read(context.Background())
		if err != nil {
			return
		}
		flood.throttle(answer)
		var in wireInbound
		switch {
		case typ != websocket.MessageText:
			answer(refuse(CodeBadRequest, "frames must be text, each one JSON object"))
		case json.Unmarshal(data, &in) != nil:
			answer(refuse(CodeBadRequest, "a frame must be one JSON object with a type"))
		case in.Type == "got_a_new_user" && joined:
			answer(refuse(CodeBadRequest, "you have already joined; to change your name send \\nick NEW"))
		case in.Type == "got_a_new_user" && strings.TrimSpace(in.Name) == "":
			answer(refuse(CodeNameInvalid, "a name needs at least one character"))
		case in.Type == "got_a_new_user":
			if r := s.pool.Register(m, in.Name); r != nil {
				answer(r)
			} else {
				joined = true
			}
		case in.Type == "message" && !joined:
			answer(refuse(CodeBadRequest, "join first: send got_a_new_user with your name"))
		case in.Type == "message":
			s.pool.Input(m, in.Text)
		default:
			answer(refuse(CodeBadRequest, "unknown event type "+truncate(in.Type, 32)))
		}
	}
}

// keepAlive pings the peer every PingInterval and closes the connection if
// a pong does not come within PingTimeout. It holds a timer, not a
// goroutine, between pings. The returned function stops it.
func (s *Server) keepAlive(conn *websocket.Conn) (stop func()) {
	var timer *time.Timer
	ping := func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.PingTimeout)
		defer cancel()
		if err := conn.Ping(ctx); err != nil {
			conn.CloseNow()
			return
		}
		timer.Reset(s.cfg.PingInterval)
	}
	timer = time.AfterFunc(math.MaxInt64, ping)
	timer.Reset(s.cfg.PingInterval)
	return func() { timer.Stop() }
}

// wsSink writes a browser member's outbox: queued events packed into as few
// frames as possible. Write timeouts are deadlines on the socket under the
// WebSocket, which cost far less per write than a context.
type wsSink struct {
	conn     *websocket.Conn
	deadline writeDeadline
}

func (w *wsSink) write(batch [][]byte) error {
	w.deadline.refresh()
	return writePacked(batch, '\n', func(frame []byte) error {
		return w.conn.Write(context.Background(), websocket.MessageText, frame)
	})
}

func (w *wsSink) finish(end ending) {
	if end.line == "" {
		w.conn.CloseNow()
		return
	}
	w.conn.Close(websocket.StatusCode(end.status), end.reason)
}

func (w *wsSink) hurry() { w.deadline.hurry() }

func (w *wsSink) abort() { w.conn.CloseNow() }

// wsCloser lets the connection tracker cut a WebSocket.
type wsCloser struct{ conn *websocket.Conn }

func (c wsCloser) Close() error { return c.conn.CloseNow() }
