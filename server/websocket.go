package server

// The server side of the WebSocket protocol (RFC 6455), as much of it as
// poolchat needs: the opening handshake, reading a client's frames, and
// framing what the server sends.
//
// poolchat frames its own writes because the fan-out writes each member's
// queued events straight to the socket, without a goroutine, and only falls
// back to the member's writer when the socket is full (outbox.go). That
// needs every byte a connection sends to go through one place, which a
// WebSocket library's own writer (answering pings and closes by itself)
// does not allow. It also keeps an idle browser member at a few hundred
// bytes of buffers instead of a library's 8 KB.

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"
)

// WebSocket opcodes.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xa
)

// WebSocket close statuses poolchat sends.
const (
	statusNormal      = 1000
	statusProtocol    = 1002
	statusInvalidData = 1007
	statusTooBig      = 1009
)

// wsReadBuffer is the read buffer of a WebSocket connection: browsers send
// little, and larger frames are read past it.
const wsReadBuffer = 512

// wsError is a frame that breaks the protocol or the limits: the
// connection is closed with its status.
type wsError struct {
	status int
	reason string
}

func (e *wsError) Error() string { return "websocket: " + e.reason }

// wsPeerClosed is the client's close frame; the server answers with the
// same status.
type wsPeerClosed struct{ status int }

func (e *wsPeerClosed) Error() string {
	return "websocket: closed by the peer with " + strconv.Itoa(e.status)
}

// errForeignOrigin refuses a handshake from a page of another site.
var errForeignOrigin = errors.New("this page's origin may not open the chat")

// upgradeWS checks a WebSocket handshake and answers it with 101. It
// returns the hijacked connection and a reader of what the client sends
// next. When the handshake is refused, the error has been answered.
// Origins from other hosts are accepted only when their host matches one
// of the patterns (path.Match syntax, or scheme://host patterns).
func upgradeWS(w http.ResponseWriter, r *http.Request, originPatterns []string) (net.Conn, *bufio.Reader, error) {
	key, status, err := checkHandshake(r, originPatterns)
	if err != nil {
		if status == http.StatusUpgradeRequired {
			w.Header().Set("Upgrade", "websocket")
			w.Header().Set("Sec-WebSocket-Version", "13")
		}
		http.Error(w, err.Error(), status)
		return nil, nil, err
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		err := errors.New("websocket: the connection cannot be taken over")
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return nil, nil, err
	}
	h := w.Header()
	h.Set("Upgrade", "websocket")
	h.Set("Connection", "Upgrade")
	h.Set("Sec-WebSocket-Accept", acceptKey(key))
	w.WriteHeader(http.StatusSwitchingProtocols)
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	// Keep what the client sent after its request; otherwise drop the
	// HTTP server's 4 KB buffers for a small one.
	br := brw.Reader
	if br.Buffered() == 0 {
		br = bufio.NewReaderSize(conn, wsReadBuffer)
	}
	return conn, br, nil
}

// checkHandshake returns the client's key, or the HTTP status and reason
// for refusing the request.
func checkHandshake(r *http.Request, originPatterns []string) (key string, status int, err error) {
	switch {
	case !r.ProtoAtLeast(1, 1):
		return "", http.StatusUpgradeRequired, errors.New("a WebSocket handshake needs HTTP/1.1 or later")
	case r.Method != http.MethodGet:
		return "", http.StatusMethodNotAllowed, errors.New("a WebSocket handshake is a GET")
	case !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket"):
		return "", http.StatusUpgradeRequired, errors.New("this address speaks WebSocket: Connection: Upgrade and Upgrade: websocket are required")
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		return "", http.StatusUpgradeRequired, errors.New("only WebSocket version 13 is supported")
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return "", http.StatusBadRequest, errors.New("one Sec-WebSocket-Key is required")
	}
	key = strings.TrimSpace(keys[0])
	if raw, err := base64.StdEncoding.DecodeString(key); err != nil || len(raw) != 16 {
		return "", http.StatusBadRequest, errors.New("Sec-WebSocket-Key must be 16 bytes in base64")
	}
	if !originAllowed(r, originPatterns) {
		return "", http.StatusForbidden, errForeignOrigin
	}
	return key, 0, nil
}

// originAllowed accepts requests without an Origin (not from a browser),
// from the server's own host, and from hosts matching a pattern.
func originAllowed(r *http.Request, patterns []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); ok {
			return true
		}
	}
	return false
}

// headerHasToken reports whether a comma-separated header holds token,
// ignoring case.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// acceptKey is the Sec-WebSocket-Accept answer to a client's key.
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// wsReader reads a client's frames and puts messages together.
type wsReader struct {
	r     *bufio.Reader
	limit int // bytes in one message at most
	msg   []byte
	// control is called with each ping and pong; pings are its to answer.
	control func(op byte, payload []byte)
}

// next returns the next whole message, text or binary. The returned bytes
// are valid until the next call. Pings and pongs go to control; a close
// frame ends reading with *wsPeerClosed, a broken rule with *wsError.
func (rd *wsReader) next() (op byte, msg []byte, err error) {
	if cap(rd.msg) > wsReadBuffer {
		rd.msg = nil // do not keep a large message's buffer while idle
	}
	msg = rd.msg[:0]
	var started bool
	for {
		var hdr [14]byte
		if _, err := io.ReadFull(rd.r, hdr[:2]); err != nil {
			return 0, nil, err
		}
		fin, frameOp := hdr[0]&0x80 != 0, hdr[0]&0x0f
		if hdr[0]&0x70 != 0 {
			return 0, nil, &wsError{statusProtocol, "reserved bits set; no extension was agreed"}
		}
		if hdr[1]&0x80 == 0 {
			return 0, nil, &wsError{statusProtocol, "client frames must be masked"}
		}
		size, extra := uint64(hdr[1]&0x7f), 0
		switch size {
		case 126:
			extra = 2
		case 127:
			extra = 8
		}
		if _, err := io.ReadFull(rd.r, hdr[2:2+extra+4]); err != nil {
			return 0, nil, err
		}
		switch extra {
		case 2:
			size = uint64(binary.BigEndian.Uint16(hdr[2:]))
		case 8:
			size = binary.BigEndian.Uint64(hdr[2:])
			if size>>63 != 0 {
				return 0, nil, &wsError{statusProtocol, "a 64-bit length must have its top bit clear"}
			}
		}
		mask := hdr[2+extra : 2+extra+4]

		control := frameOp >= opClose
		switch {
		case frameOp > opPong || (frameOp > opBinary && !control):
			return 0, nil, &wsError{statusProtocol, "unknown opcode " + strconv.Itoa(int(frameOp))}
		case control && (!fin || size > 125):
			return 0, nil, &wsError{statusProtocol, "control frames are short and whole"}
		case frameOp == opContinuation && !started:
			return 0, nil, &wsError{statusProtocol, "continuation of no message"}
		case !control && frameOp != opContinuation && started:
			return 0, nil, &wsError{statusProtocol, "new message inside a fragmented one"}
		case !control && size > uint64(rd.limit-len(msg)):
			return 0, nil, &wsError{statusTooBig, "message too big: at most " + strconv.Itoa(rd.limit) + " bytes"}
		}

		if control {
			if err := rd.readControl(frameOp, int(size), mask); err != nil {
				return 0, nil, err
			}
			continue
		}

		at := len(msg)
		msg = append(msg, make([]byte, size)...)
		if _, err := io.ReadFull(rd.r, msg[at:]); err != nil {
			return 0, nil, err
		}
		unmask(msg[at:], mask)
		if !started {
			op, started = frameOp, true
		}
		if fin {
			rd.msg = msg
			if op == opText && !utf8.Valid(msg) {
				return 0, nil, &wsError{statusInvalidData, "text frames must be UTF-8"}
			}
			return op, msg, nil
		}
	}
}

// readControl reads the payload of a control frame of size bytes and
// hands a ping or pong to control; a close frame ends reading. Its buffer
// is in its own frame, not next's, where the reader waits between
// messages (see wsSession.serve): hence no inlining.
//
//go:noinline
func (rd *wsReader) readControl(op byte, size int, mask []byte) error {
	var buf [125]byte
	payload := buf[:size]
	if _, err := io.ReadFull(rd.r, payload); err != nil {
		return err
	}
	unmask(payload, mask)
	if op == opClose {
		return closeStatus(payload)
	}
	rd.control(op, payload)
	return nil
}

// closeStatus reads a close frame's payload: the status to echo, or the
// error that fails the connection.
func closeStatus(payload []byte) error {
	switch {
	case len(payload) == 0:
		return &wsPeerClosed{statusNormal}
	case len(payload) == 1:
		return &wsError{statusProtocol, "malformed close frame"}
	case !utf8.Valid(payload[2:]):
		return &wsError{statusInvalidData, "close reasons must be UTF-8"}
	}
	code := int(binary.BigEndian.Uint16(payload))
	if !validCloseStatus(code) {
		return &wsError{statusProtocol, "invalid close status " + strconv.Itoa(code)}
	}
	return &wsPeerClosed{code}
}

// validCloseStatus reports whether a peer may send status in a close
// frame: the statuses RFC 6455 section 7.4.1 defines for the wire, the
// ones IANA registered since (1012-1014), and the 3000-4999 left to
// libraries and applications. 1004 is reserved, 1005, 1006 and 1015 are
// never sent, and the rest up to 2999 is unassigned. coder/websocket
// accepts the same set.
func validCloseStatus(status int) bool {
	switch {
	case status >= 1000 && status <= 1003, status >= 1007 && status <= 1014:
		return true
	default:
		return status >= 3000 && status <= 4999
	}
}

// unmask undoes the client's masking in place.
func unmask(b, key []byte) {
	for i := range b {
		b[i] ^= key[i&3]
	}
}

// appendFrameHeader appends the header of an unmasked, final server frame.
func appendFrameHeader(b []byte, op byte, size int) []byte {
	b = append(b, 0x80|op)
	switch {
	case size < 126:
		return append(b, byte(size))
	case size <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, 126), uint16(size))
	default:
		return binary.BigEndian.AppendUint64(append(b, 127), uint64(size))
	}
}

// controlFrame returns a whole server control frame.
func controlFrame(op byte, payload []byte) []byte {
	return append(appendFrameHeader(make([]byte, 0, 2+len(payload)), op, len(payload)), payload...)
}

// closeFrame returns a close frame with status and reason, the reason cut
// to the 123 bytes a control frame has room for.
func closeFrame(status int, reason string) []byte {
	for len(reason) > 123 || !utf8.ValidString(reason) {
		reason = reason[:min(len(reason), 123)-1]
	}
	payload := binary.BigEndian.AppendUint16(nil, uint16(status))
	return controlFrame(opClose, append(payload, reason...))
}
