package server

import (
	"bufio"
	"encoding/json"
	"errors"
	"math"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// defaultHistoryPage is how many messages a `history` request without a
// limit gets.
const defaultHistoryPage = 50

const (
	// wsReadLimit bounds one message from a client: a message of the
	// longest allowed text with every character escaped fits well within
	// it. A larger message ends the connection with 1009.
	wsReadLimit = 16 << 10
)

// wireInbound is any frame a client sends: `got_a_new_user` with a name,
// `resume` with a token and the last seq seen, `message` with a text, or
// `history` asking for messages before a seq.
type wireInbound struct {
	Type   string `json:"type"`
	Name   string `json:"name"`
	Text   string `json:"text"`
	Token  string `json:"token"`
	Since  uint64 `json:"since"`
	Before uint64 `json:"before"`
	Limit  int    `json:"limit"`
	To     string `json:"to"`
}

// typingEvery is the least time between two typing events from one
// member that are passed on; others are dropped.
const typingEvery = time.Second

// handleWS upgrades /ws to a WebSocket and serves one browser member on a
// goroutine of its own: the HTTP handler returns at once, so the request,
// its headers and the HTTP server's per-connection state are not held for
// the life of the member.
func (s *Server) handleWS() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip, addr := addrIP(r.RemoteAddr), r.RemoteAddr
		if s.unavailable.Load() {
			s.log.Info("refused", "via", ViaWeb, "addr", addr, "reason", "room unavailable")
			http.Error(w, "the room is unavailable", http.StatusServiceUnavailable)
			return
		}
		if why := s.gate.admit(ip); why != "" {
			s.pool.metrics.refusal(why).Inc()
			s.log.Info("refused", "via", ViaWeb, "addr", addr, "reason", why)
			http.Error(w, "server full", http.StatusServiceUnavailable)
			return
		}
		conn, br, err := upgradeWS(w, r, s.cfg.AllowedOrigins)
		if err != nil {
			if errors.Is(err, errForeignOrigin) {
				s.pool.metrics.refusal(refusedOrigin).Inc()
			}
			s.gate.release(ip)
			s.log.Info("refused", "via", ViaWeb, "addr", addr, "reason", err.Error())
			return // upgradeWS has answered (403 for a foreign Origin)
		}
		conn.SetDeadline(time.Time{}) // the HTTP server's, if any
		capSendBuffer(conn)
		if !s.conns.add(conn) {
			s.gate.release(ip)
			conn.Write(closeFrame(endShutdown.status, endShutdown.reason))
			conn.Close()
			return
		}
		ws := s.newWSSession(conn, br, addr)
		ws.done = func() {
			s.gate.release(ip)
			s.conns.done(conn)
		}
		go ws.serve()
	})
}

// wsSession is a browser member as its reader sees it. It is on the heap
// rather than in the reader's frames: see serve.
type wsSession struct {
	s          *Server
	m          *Member
	conn       net.Conn
	done       func() // lets go of the connection's place at the gate and in the tracker; nil for none
	rd         wsReader
	readErr    error // why reading stopped
	heard      func()
	stopPings  func()
	joined     bool
	flood      *floodGate
	lastTyping time.Time
}

// serve reads one browser member's messages until the connection ends.
// The first accepted message must be `got_a_new_user`; refused names may
// be retried.
//
// The reader spends its life blocked in a read, so what its stack holds
// there is kept small: the session is on the heap, and what a message
// needs (JSON decoding, the room) is in handle, whose frames are gone by
// the next read. The runtime halves an idle goroutine's stack at a
// collection only while less than a quarter of it is in use, so a few
// hundred bytes more on this path keep every member's reader at the 8 KB
// its join grew it to, instead of 4 KB.
func (ws *wsSession) serve() {
	defer ws.end()                // then the member ends and the connection is let go
	defer ws.s.contain(ws.m.addr) // first: a panic ends this member only
	for {
		op, data, err := ws.rd.next()
		if err != nil {
			ws.readErr = err
			return
		}
		ws.heard()
		ws.handle(op, data)
	}
}

// newWSSession starts a browser member's session: its member, pings and
// reader; serve runs it.
func (s *Server) newWSSession(conn net.Conn, br *bufio.Reader, addr string) *wsSession {
	ws := &wsSession{s: s, conn: conn, flood: newFloodGate(s.cfg.Flood, time.Now())}
	ws.m = newMember(ViaWeb, addr, conn, s.cfg.OutboxLimit)
	ws.heard, ws.stopPings = s.keepAlive(ws.m, conn)
	ws.rd = wsReader{r: br, limit: wsReadLimit, control: ws.control}
	return ws
}

// control takes a ping or pong; pings are answered.
func (ws *wsSession) control(op byte, payload []byte) {
	ws.heard()
	if op == opPing {
		ws.m.out.send(frame{web: controlFrame(opPong, payload)})
	}
}

// end ends the member once its reader has stopped. A close from the peer
// is answered with its status, a broken rule with ours, and what was
// queued is dropped: the client will not read it. The pool's own ending
// comes first if it ended the member (only the first close counts). A
// connection that just dropped keeps the member's place for the resume
// grace.
func (ws *wsSession) end() {
	s, m := ws.s, ws.m
	if ws.done != nil {
		defer ws.done()
	}
	ws.stopPings()
	var peer *wsPeerClosed
	var broken *wsError
	switch {
	case errors.As(ws.readErr, &peer):
		m.out.close(ending{status: peer.status, drop: true})
	case errors.As(ws.readErr, &broken):
		m.out.close(ending{status: broken.status, reason: broken.reason, drop: true})
	default:
		s.pool.Detach(m)
	}
	s.endMember(m, ws.conn, ws.readErr)
}

// answer tells the member its message was refused.
func (ws *wsSession) answer(r *Refusal) {
	if ws.joined {
		ws.s.pool.Tell(ws.m, r) // in order with the member's other events
	} else {
		ws.s.pool.metrics.refusal(r.Code).Inc()
		ws.m.out.send(refusalFrame(r))
	}
}

// handle acts on one message from the member.
func (ws *wsSession) handle(op byte, data []byte) {
	s, m := ws.s, ws.m
	ws.flood.throttle(ws.answer)
	var in wireInbound
	switch {
	case op != opText:
		ws.answer(refuse(CodeBadRequest, "frames must be text, each one JSON object"))
	case json.Unmarshal(data, &in) != nil:
		ws.answer(refuse(CodeBadRequest, "a frame must be one JSON object with a type"))
	case in.Type == "got_a_new_user" && ws.joined:
		ws.answer(refuse(CodeBadRequest, "you have already joined; to change your name send \\nick NEW"))
	case in.Type == "got_a_new_user" && strings.TrimSpace(in.Name) == "":
		ws.answer(refuse(CodeNameInvalid, "a name needs at least one character"))
	case in.Type == "got_a_new_user":
		if r := s.pool.Register(m, in.Name); r != nil {
			ws.answer(r)
		} else {
			ws.joined = true
		}
	case in.Type == "resume" && ws.joined:
		ws.answer(refuse(CodeBadRequest, "you are in the room already"))
	case in.Type == "resume":
		if r := s.pool.Resume(m, in.Token, in.Since); r != nil {
			ws.answer(r)
		} else {
			ws.joined = true
		}
	case in.Type == "history" && ws.joined:
		limit := in.Limit
		if limit == 0 {
			limit = defaultHistoryPage
		}
		if limit < 1 {
			ws.answer(refuse(CodeBadRequest, "limit is a number of messages from 1 to 200"))
			break
		}
		s.pool.History(m, in.Before, min(limit, maxHistoryLines))
	case in.Type == "private" && ws.joined:
		s.pool.Private(m, in.To, in.Text)
	case in.Type == "typing" && ws.joined:
		if now := time.Now(); now.Sub(ws.lastTyping) >= typingEvery {
			ws.lastTyping = now
			s.pool.Typing(m)
		}
	case (in.Type == "message" || in.Type == "history" || in.Type == "private" || in.Type == "typing") && !ws.joined:
		ws.answer(refuse(CodeBadRequest, "join first: send got_a_new_user with your name"))
	case in.Type == "message":
		s.pool.Input(m, in.Text)
	default:
		ws.answer(refuse(CodeBadRequest, "unknown event type "+truncate(in.Type, 32)))
	}
}

// wsPing is the server's ping frame.
var wsPing = controlFrame(opPing, nil)

// keepAlive pings the peer every PingInterval and cuts the connection if
// nothing, not even a pong, comes within PingTimeout of a ping. It holds a
// timer, not a goroutine, between pings. The reader calls heard for every
// frame; stop ends the pings.
func (s *Server) keepAlive(m *Member, conn net.Conn) (heard, stop func()) {
	var last atomic.Int64 // when the peer was last heard, in Unix ns
	var pinged int64      // when the unanswered ping went out; timer only
	var timer *time.Timer
	tick := func() {
		if pinged != 0 {
			if last.Load() < pinged {
				conn.Close() // the reader sees it and ends the member
				return
			}
			pinged = 0
			timer.Reset(max(s.cfg.PingInterval-s.cfg.PingTimeout, 0))
			return
		}
		pinged = time.Now().UnixNano()
		m.out.send(frame{web: wsPing})
		timer.Reset(s.cfg.PingTimeout)
	}
	timer = time.AfterFunc(math.MaxInt64, tick)
	timer.Reset(s.cfg.PingInterval)
	heard = func() { last.Store(time.Now().UnixNano()) }
	return heard, func() { timer.Stop() }
}

// wsFraming puts events on a WebSocket: queued events packed, one per
// line, into as few text frames as possible. Every event is JSON and
// starts with '{'; anything else queued is already on the wire's terms
// (a control frame, or a piece of a frame whose first piece carries its
// header: roster.go) and goes as it is.
type wsFraming struct{}

func (wsFraming) encode(buf []byte, batch [][]byte) (out, tail []byte, n int) {
	if isWire(batch[0]) {
		for n < len(batch) && isWire(batch[n]) {
			if len(batch[n]) > maxPacked {
				return buf, batch[n], n + 1 // a large piece goes uncopied, after the ones before it
			}
			if n > 0 && len(buf)+len(batch[n]) > maxPacked {
				break
			}
			buf = append(buf, batch[n]...)
			n++
		}
		return buf, nil, n
	}
	if len(batch[0]) > maxPacked {
		return appendFrameHeader(buf, opText, len(batch[0])), batch[0], 1
	}
	events := 1
	for events < len(batch) && !isWire(batch[events]) {
		events++
	}
	n, size := packed(batch[:events], 1)
	buf = appendFrameHeader(buf, opText, size)
	for i, e := range batch[:n] {
		if i > 0 {
			buf = append(buf, '\n')
		}
		buf = append(buf, e...)
	}
	return buf, nil, n
}

func (wsFraming) lastWords(end ending) []byte {
	if end.status == 0 {
		return nil
	}
	return closeFrame(end.status, end.reason)
}

// isWire reports whether a queued item goes on the wire as it is, rather
// than being an event to frame.
func isWire(b []byte) bool { return b[0] != '{' }
