package server

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"
)

// lingerAfter is how long a client has to close after the server's last
// words before the connection is reset.
const lingerAfter = 500 * time.Millisecond

// acceptTCP accepts netcat and telnet connections until the listener closes.
func (s *Server) acceptTCP() {
	var backoff time.Duration
	for {
		conn, err := s.tcpLn.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors or similar: wait, then try again.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("tcp accept", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if !s.conns.add(conn) {
			conn.Close() // stopping
			continue
		}
		go func() {
			defer s.conns.done(conn)
			s.serveTCP(conn)
		}()
	}
}

// serveTCP runs one TCP connection: it joins the pool at its first line or
// after JoinDelay, then feeds each line to the pool until either side ends
// the connection.
func (s *Server) serveTCP(conn net.Conn) {
	addr := conn.RemoteAddr().String()
	defer s.contain(addr)
	defer conn.Close()
	lr := NewLineReader(conn)

	ip := addrIP(conn.RemoteAddr().String())
	if s.unavailable.Load() {
		s.log.Info("refused", "via", ViaTCP, "addr", addr, "reason", "room unavailable")
		hangUp(conn, lr, "! the room is unavailable")
		return
	}
	if why := s.gate.admit(ip); why != "" {
		s.pool.metrics.refusal(why).Inc()
		s.log.Info("refused", "via", ViaTCP, "addr", addr, "reason", why)
		hangUp(conn, lr, endFull.line)
		return
	}
	defer s.gate.release(ip)

	joinBy := time.Now().Add(s.cfg.JoinDelay)
	conn, r, err := s.startTLS(conn, joinBy)
	if err != nil {
		return // closed, or a failed TLS handshake: never announced
	}
	defer conn.Close()
	lr = NewLineReader(r)
	first, err := s.firstLine(conn, lr, joinBy)
	if err != nil {
		return // closed or refused before joining: never announced
	}
	capSendBuffer(conn)
	m := newMember(ViaTCP, addr, conn, s.cfg.OutboxLimit)
	if r := s.pool.Register(m, ""); r != nil {
		hangUp(conn, lr, "! "+r.Text)
		return
	}
	line, err := first.line, first.err
	// Deferred, so that even a panic below takes the member out of the pool.
	defer func() { s.endMember(m, conn, err) }()

	flood := newFloodGate(s.cfg.Flood, time.Now())
	for {
		switch {
		case errors.Is(err, ErrLineTooLong):
			s.pool.Tell(m, refuse(CodeTooLong, "line too long: at most "+strconv.Itoa(MaxLineBytes)+" bytes; the rest of it was discarded"))
		case err != nil:
			return
		case line != nil:
			flood.throttle(func(r *Refusal) { s.pool.Tell(m, r) })
			s.pool.Input(m, string(line))
		}
		line, err = lr.ReadLine()
	}
}

// firstRead is what a connection sent before it joined.
type firstRead struct {
	line []byte // nil if nothing came within JoinDelay
	err  error  // only ErrLineTooLong
}

// firstLine waits until joinBy for a first line. It returns an error if
// the connection closed, or sent something that is not chat (an HTTP or TLS
// request), in which case it is closed without ever joining.
func (s *Server) firstLine(conn net.Conn, lr *LineReader, joinBy time.Time) (firstRead, error) {
	conn.SetReadDeadline(joinBy)
	defer conn.SetReadDeadline(time.Time{})
	line, err := lr.ReadLine()
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return firstRead{}, nil
	case errors.Is(err, ErrLineTooLong):
		return firstRead{err: err}, nil
	case err != nil:
		return firstRead{}, err
	case notChat(line):
		s.log.Info("refused", "via", ViaTCP, "addr", conn.RemoteAddr().String(), "reason", "not a chat client")
		return firstRead{}, errNotChat
	}
	return firstRead{line: bytes.Clone(line)}, nil
}

var errNotChat = errors.New("not a chat client")

// httpMethods start the request line of an HTTP request sent to the chat port.
var httpMethods = []string{"GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE ", "PRI "}

// notChat reports whether a first line is another protocol's: an HTTP
// request line, or a TLS handshake when TLS is off.
func notChat(line []byte) bool {
	if len(line) >= 2 && line[0] == 0x16 && line[1] == 0x03 {
		return true
	}
	for _, m := range httpMethods {
		if rest, ok := bytes.CutPrefix(line, []byte(m)); ok {
			return bytes.HasPrefix(rest, []byte("/")) || bytes.HasPrefix(rest, []byte("*")) ||
				bytes.Contains(rest, []byte(" HTTP/"))
		}
	}
	return false
}

// hangUp sends a last line to a connection that never joined, half-closes
// it, and waits briefly for the client to close before the caller closes it.
func hangUp(conn net.Conn, lr *LineReader, last string) {
	conn.SetWriteDeadline(time.Now().Add(hurryTimeout))
	if _, err := conn.Write(line(last)); err != nil {
		return
	}
	closeWrite(conn)
	conn.SetReadDeadline(time.Now().Add(lingerAfter))
	for {
		if _, err := lr.ReadLine(); err != nil && !errors.Is(err, ErrLineTooLong) {
			closeAfterRead(conn, err)
			return
		}
	}
}

// tcpFraming puts events on a TCP connection: the lines as they are.
type tcpFraming struct{}

func (tcpFraming) encode(buf []byte, batch [][]byte) (out, tail []byte, n int) {
	if len(batch[0]) > maxPacked {
		return buf, batch[0], 1
	}
	n, _ = packed(batch, 0)
	for _, l := range batch[:n] {
		buf = append(buf, l...)
	}
	return buf, nil, n
}

func (tcpFraming) lastWords(end ending) []byte {
	if end.line == "" {
		return nil
	}
	return line(end.line)
}

// addrIP returns the IP address of a host:port address.
func addrIP(hostport string) netip.Addr {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return ap.Addr()
	}
	return netip.Addr{}
}
