package server_test

// An Autobahn-style table of frame-level cases, sent over a real socket to
// a real server: what a browser member's connection does with each kind
// of frame RFC 6455 allows or forbids. The cases follow the families of
// the Autobahn test suite that apply to a server that does not echo
// messages; where Autobahn would look at the echo, a case sends a JSON
// event of an unknown type, and the server's refusal names the type it
// read. Families 10 (fragmenting the echo), 12 and 13 (compression) do
// not apply: the server echoes nothing and agrees no extension.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/poolchat/poolchat/internal/chattest"
	"github.com/poolchat/poolchat/server"
)

// The first byte of a frame: FIN, the reserved bits and the opcode.
const (
	fin      = 0x80
	rsv1     = 0x40
	rsv2     = 0x20
	rsv3     = 0x10
	opCont   = 0x0
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xa
)

// pongReply is how readReplies says a pong with payload.
func pongReply(payload string) string { return fmt.Sprintf("pong %q", payload) }

// closeReply is how readReplies says a close frame with status.
func closeReply(status int) string { return fmt.Sprintf("close %d", status) }

// wsCase is one conformance case: the frames a client sends after the
// handshake, and the server's replies in order (see readReplies).
type wsCase struct {
	name   string
	frames [][]byte
	want   []string
}

func wsConformanceCases() []wsCase {
	// The masking key is not zero, so a server that did not unmask fails.
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	// header is a frame's first byte (FIN, RSV, opcode) and the length in
	// its shortest form, then the key if masked.
	header := func(b0 byte, masked bool, size uint64) []byte {
		var h []byte
		switch {
		case size < 126:
			h = []byte{b0, byte(size)}
		case size <= 0xffff:
			h = binary.BigEndian.AppendUint16([]byte{b0, 126}, uint16(size))
		default:
			h = binary.BigEndian.AppendUint64([]byte{b0, 127}, size)
		}
		if masked {
			h[1] |= 0x80
			h = append(h, key[:]...)
		}
		return h
	}
	// frame is a masked client frame.
	frame := func(b0 byte, payload string) []byte {
		f := header(b0, true, uint64(len(payload)))
		for i := range len(payload) {
			f = append(f, payload[i]^key[i&3])
		}
		return f
	}
	// unmasked is a frame no client may send.
	unmasked := func(b0 byte, payload string) []byte {
		return append(header(b0, false, uint64(len(payload))), payload...)
	}
	closeBody := func(status int, reason string) string {
		return string(binary.BigEndian.AppendUint16(nil, uint16(status))) + reason
	}
	// event is a JSON event of type typ padded to size bytes. The server
	// refuses it as an unknown type and names typ in the refusal, so the
	// reply shows that the whole message was read and put together.
	event := func(typ string, size int) string {
		head, tail := `{"type":"`+typ+`","pad":"`, `"}`
		return head + strings.Repeat("x", size-len(head)-len(tail)) + tail
	}
	small := func(typ string) string { return event(typ, len(typ)+20) }
	refused := func(typ string) string { return "error bad_request " + typ }
	join := func(frames ...[]byte) [][]byte { return frames }
	var cases []wsCase
	add := func(name string, frames [][]byte, want ...string) {
		cases = append(cases, wsCase{name, frames, want})
	}

	// 1: framing. A text or binary message of every length form; the read
	// limit (16 KiB) ends larger ones with 1009.
	add("1 text 0 bytes", join(frame(fin|opText, "")), "error bad_request") // not JSON
	for _, size := range []int{125, 126, 127, 16 << 10} {
		typ := fmt.Sprintf("text-%d", size)
		add(fmt.Sprintf("1 text %d bytes", size), join(frame(fin|opText, event(typ, size))), refused(typ))
	}
	for _, size := range []int{16<<10 + 1, 65535, 65536} {
		add(fmt.Sprintf("1 text %d bytes", size), join(frame(fin|opText, strings.Repeat("x", size))), closeReply(1009))
	}
	for _, size := range []int{0, 125, 126, 16 << 10} {
		// Binary messages are read whole, then refused: events are text.
		add(fmt.Sprintf("1 binary %d bytes", size), join(frame(fin|opBinary, strings.Repeat("\xfe", size)), frame(fin|opText, small("after"))),
			"error bad_request", refused("after"))
	}
	for _, size := range []int{65535, 65536} {
		add(fmt.Sprintf("1 binary %d bytes", size), join(frame(fin|opBinary, strings.Repeat("\xfe", size))), closeReply(1009))
	}

	// 2: pings and pongs. Every ping is answered with its payload, in
	// order; a pong nobody asked for is ignored.
	add("2 ping empty", join(frame(fin|opPing, "")), pongReply(""))
	add("2 ping text", join(frame(fin|opPing, "hello, server")), pongReply("hello, server"))
	add("2 ping binary", join(frame(fin|opPing, "\x00\xff\xfe\xfd\xfc\xfb\x00\xff")), pongReply("\x00\xff\xfe\xfd\xfc\xfb\x00\xff"))
	add("2 ping 125 bytes", join(frame(fin|opPing, strings.Repeat("\xfe", 125))), pongReply(strings.Repeat("\xfe", 125)))
	add("2 ping 126 bytes", join(frame(fin|opPing, strings.Repeat("\xfe", 126))), closeReply(1002))
	add("2 unsolicited pong", join(frame(fin|opPong, "unasked"), frame(fin|opText, small("after-pong"))), refused("after-pong"))
	add("2 unsolicited pong, then ping", join(frame(fin|opPong, "unasked"), frame(fin|opPing, "asked")), pongReply("asked"))
	var pings [][]byte
	var pongs []string
	for i := range 10 {
		pings = append(pings, frame(fin|opPing, fmt.Sprint("ping ", i)))
		pongs = append(pongs, pongReply(fmt.Sprint("ping ", i)))
	}
	add("2 ten pings", pings, pongs...)

	// 3: reserved bits, with no extension agreed.
	for _, c := range []struct {
		name string
		b0   byte
	}{
		{"RSV1 on text", fin | rsv1 | opText},
		{"RSV2 on text", fin | rsv2 | opText},
		{"RSV3 on text", fin | rsv3 | opText},
		{"RSV1-3 on text", fin | rsv1 | rsv2 | rsv3 | opText},
		{"RSV1 on binary", fin | rsv1 | opBinary},
		{"RSV2 on ping", fin | rsv2 | opPing},
		{"RSV3 on close", fin | rsv3 | opClose},
	} {
		add("3 "+c.name, join(frame(c.b0, small("x"))), closeReply(1002))
	}
	add("3 RSV1 on a continuation", join(frame(opText, `{"type":`), frame(fin|rsv1|opCont, `"x"}`)), closeReply(1002))
	add("3 RSV2 after a good message", join(frame(fin|opText, small("first")), frame(fin|rsv2|opText, small("x"))),
		refused("first"), closeReply(1002))

	// 4: reserved opcodes, data (3-7) and control (0xB-0xF).
	for _, op := range []byte{3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf} {
		add(fmt.Sprintf("4 opcode %#x", op), join(frame(fin|op, "")), closeReply(1002))
	}
	add("4 opcode 5 with payload after a good message", join(frame(fin|opText, small("first")), frame(fin|5, "reserved")),
		refused("first"), closeReply(1002))

	// 5: fragmentation.
	add("5 text in two fragments", join(frame(opText, `{"type":"frag`), frame(fin|opCont, `mented"}`)), refused("fragmented"))
	add("5 text in fragments of one byte", func() (frames [][]byte) {
		msg := small("bytes")
		for i := range len(msg) - 1 {
			op := byte(opCont)
			if i == 0 {
				op = opText
			}
			frames = append(frames, frame(op, msg[i:i+1]))
		}
		return append(frames, frame(fin|opCont, msg[len(msg)-1:]))
	}(), refused("bytes"))
	add("5 text with empty fragments", join(frame(opText, ""), frame(opCont, small("empties")), frame(fin|opCont, "")), refused("empties"))
	add("5 binary in fragments", join(frame(opBinary, "\x01"), frame(fin|opCont, "\x02"), frame(fin|opText, small("after"))),
		"error bad_request", refused("after"))
	add("5 ping between fragments", join(frame(opText, `{"type":"pin`), frame(fin|opPing, "between"), frame(fin|opCont, `ged"}`)),
		pongReply("between"), refused("pinged"))
	add("5 pong between fragments", join(frame(opText, `{"type":"pon`), frame(fin|opPong, "between"), frame(fin|opCont, `ged"}`)),
		refused("ponged"))
	add("5 continuation without a start", join(frame(fin|opCont, small("x"))), closeReply(1002))
	add("5 unfinished continuation without a start", join(frame(opCont, "x"), frame(fin|opCont, "y")), closeReply(1002))
	add("5 continuation after a finished message", join(frame(fin|opText, small("first")), frame(fin|opCont, "more")),
		refused("first"), closeReply(1002))
	add("5 text inside a fragmented text", join(frame(opText, "a"), frame(fin|opText, small("x"))), closeReply(1002))
	add("5 binary inside a fragmented text", join(frame(opText, "a"), frame(fin|opBinary, "b")), closeReply(1002))
	add("5 fragmented ping", join(frame(opPing, "a"), frame(fin|opCont, "b")), closeReply(1002))
	add("5 fragmented pong", join(frame(opPong, "a"), frame(fin|opCont, "b")), closeReply(1002))
	add("5 fragmented close", join(frame(opClose, closeBody(1000, "")), frame(fin|opCont, "")), closeReply(1002))
	add("5 fragments over the limit together", join(frame(opText, strings.Repeat("x", 10000)), frame(fin|opCont, strings.Repeat("x", 10000))),
		closeReply(1009))

	// 6: UTF-8 in text messages, checked on the whole message.
	add("6 four-byte character", join(frame(fin|opText, small("𝄞"))), refused("𝄞"))
	add("6 character split across fragments", join(frame(opText, `{"type":"`+"\xc3"), frame(fin|opCont, "\xa9"+`-split"}`)), refused("é-split"))
	add("6 four bytes over three fragments", join(frame(opText, `{"type":"`+"\xf0\x9d"), frame(opCont, "\x84"), frame(fin|opCont, "\x9e"+`"}`)),
		refused("𝄞"))
	add("6 invalid only when joined", join(frame(opText, `{"type":"`+"\xc3"), frame(fin|opCont, `("}`)), closeReply(1007))
	for _, c := range []struct{ name, bad string }{
		{"lone continuation byte", "\x80"},
		{"truncated sequence", "\xc3("},
		{"overlong slash", "\xc0\xaf"},
		{"surrogate half", "\xed\xa0\x80"},
		{"above U+10FFFF", "\xf4\x90\x80\x80"},
		{"0xff", "\xff"},
		{"cut at the end", "\xe2\x82"},
	} {
		add("6 "+c.name, join(frame(fin|opText, `{"type":"`+c.bad+`"}`)), closeReply(1007))
	}
	add("6 invalid UTF-8 in a later fragment", join(frame(opText, `{"type":"ok`), frame(opCont, "\xed\xa0\x80"), frame(fin|opCont, `"}`)),
		closeReply(1007))
	add("6 binary is not UTF-8 checked", join(frame(fin|opBinary, "\xff\xfe\xc0\xaf"), frame(fin|opText, small("after"))),
		"error bad_request", refused("after"))

	// 7: closing. A valid close is answered with its status; the server
	// reads nothing after it.
	add("7 close without a body", join(frame(fin|opClose, "")), closeReply(1000))
	add("7 close 1000", join(frame(fin|opClose, closeBody(1000, ""))), closeReply(1000))
	add("7 close with a reason", join(frame(fin|opClose, closeBody(1001, "going away"))), closeReply(1001))
	add("7 close reason of 123 bytes", join(frame(fin|opClose, closeBody(1000, strings.Repeat("r", 123)))), closeReply(1000))
	add("7 close reason of 124 bytes", join(frame(fin|opClose, closeBody(1000, strings.Repeat("r", 124)))), closeReply(1002))
	add("7 close body of 1 byte", join(frame(fin|opClose, "\x03")), closeReply(1002))
	add("7 close reason not UTF-8", join(frame(fin|opClose, closeBody(1000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"))), closeReply(1007))
	add("7 nothing read after close", join(frame(fin|opClose, closeBody(1000, "")), frame(fin|opText, small("x")), frame(fin|opPing, "late")),
		closeReply(1000))
	add("7 close inside a fragmented text", join(frame(opText, "a"), frame(fin|opClose, closeBody(1000, ""))), closeReply(1000))
	for _, status := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		add(fmt.Sprintf("7 close %d", status), join(frame(fin|opClose, closeBody(status, "ok"))), closeReply(status))
	}
	for _, status := range []int{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		add(fmt.Sprintf("7 invalid close %d", status), join(frame(fin|opClose, closeBody(status, ""))), closeReply(1002))
	}

	// 9: lengths a client cannot be trusted with. The server answers a
	// length over the limit from the header alone: these cases send no
	// payload at all.
	add("9 64-bit length with the top bit set", join(header(fin|opText, true, 1<<63)), closeReply(1002))
	add("9 64-bit length of all ones", join(header(fin|opBinary, true, 1<<64-1)), closeReply(1002))
	add("9 1 GiB declared", join(header(fin|opText, true, 1<<30)), closeReply(1009))
	add("9 16-bit length over the limit", join(header(fin|opBinary, true, 16<<10+1)), closeReply(1009))
	add("9 fragment over the limit", join(frame(opText, strings.Repeat("x", 16<<10)), header(fin|opCont, true, 1)), closeReply(1009))
	add("9 unmasked text", join(unmasked(fin|opText, small("x"))), closeReply(1002))
	add("9 unmasked ping", join(unmasked(fin|opPing, "p")), closeReply(1002))
	add("9 unmasked close", join(unmasked(fin|opClose, closeBody(1000, ""))), closeReply(1002))
	add("9 unmasked continuation", join(frame(opText, "a"), unmasked(fin|opCont, "b")), closeReply(1002))
	return cases
}

// TestWSConformance runs every case on its own connection to one server
// and compares the server's replies with the case's.
func TestWSConformance(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	for _, c := range wsConformanceCases() {
		t.Run(c.name, func(t *testing.T) {
			conn, br := dialRawWS(t, room.HTTPAddr, "HTTP/1.1")
			// The client writes while the server may already have closed
			// (a frame over the limit is refused from its header).
			written := make(chan struct{})
			go func() {
				defer close(written)
				conn.Write(bytes.Join(c.frames, nil))
			}()
			got := readReplies(t, conn, br, len(c.want))
			conn.Close()
			<-written
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("replies:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(c.want, "\n\t"))
			}
		})
	}
}

// TestWSHandshakeOnTheWire sends opening handshakes by hand to a real
// server: HTTP/1.0 is refused with 426 and the headers that say what to
// upgrade to (RFC 6455 section 4.2.1), HTTP/1.1 is switched.
func TestWSHandshakeOnTheWire(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	conn, err := net.DialTimeout("tcp", room.HTTPAddr, chattest.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp := writeHandshake(t, conn, bufio.NewReader(conn), room.HTTPAddr, "HTTP/1.0")
	if resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Upgrade") != "websocket" || resp.Header.Get("Sec-WebSocket-Version") != "13" {
		t.Errorf("HTTP/1.0: %s, Upgrade %q, Sec-WebSocket-Version %q; want 426, websocket, 13",
			resp.Status, resp.Header.Get("Upgrade"), resp.Header.Get("Sec-WebSocket-Version"))
	}

	dialRawWS(t, room.HTTPAddr, "HTTP/1.1") // switched, with the right answer to the key
}

// dialRawWS opens /ws on a socket of its own, with a handshake in proto
// (HTTP/1.1 or 1.0), and fails the test unless the server switches
// protocols.
func dialRawWS(t *testing.T, addr, proto string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, chattest.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	br := bufio.NewReader(conn)
	resp := writeHandshake(t, conn, br, addr, proto)
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("handshake: %s, Sec-WebSocket-Accept %q", resp.Status, resp.Header.Get("Sec-WebSocket-Accept"))
	}
	return conn, br
}

// writeHandshake writes an opening handshake in proto and reads the answer.
func writeHandshake(t *testing.T, conn net.Conn, br *bufio.Reader, addr, proto string) *http.Response {
	t.Helper()
	conn.SetDeadline(time.Now().Add(chattest.Timeout))
	fmt.Fprintf(conn, "GET /ws %s\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", proto, addr)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatalf("handshake over %s: %v", proto, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body.Close()
	}
	return resp
}

// readReplies reads the server's frames until it has n replies or the
// connection ends, and says each the way the cases do: "pong PAYLOAD",
// "error CODE" for a refusal (with the event type it names, if any),
// "event JSON" for any other event, "close STATUS". After its close frame
// the server must close the connection: anything it sends instead is one
// more reply. The server's own frames must be final, unmasked and use no
// reserved bits.
func readReplies(t *testing.T, conn net.Conn, br *bufio.Reader, n int) []string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(chattest.Timeout))
	var got []string
	closing := false
	for len(got) < n || closing {
		b0, payload, err := readServerFrame(br)
		switch {
		case err != nil && closing && errors.Is(err, os.ErrDeadlineExceeded):
			return append(got, "connection left open after the close frame")
		case err != nil && closing:
			return got
		case err != nil:
			return append(got, fmt.Sprintf("connection ended: %v", err))
		case b0&0xf0 != fin:
			t.Errorf("server frame starts %#x: not final, or reserved bits set", b0)
		}
		switch op := b0 & 0x0f; op {
		case opPing: // keep-alive; not a reply
		case opPong:
			got = append(got, pongReply(string(payload)))
		case opClose:
			if len(payload) < 2 {
				got = append(got, "close without a status")
			} else {
				got = append(got, closeReply(int(binary.BigEndian.Uint16(payload))))
			}
			closing = true
		case opText:
			for line := range strings.SplitSeq(string(payload), "\n") {
				var e struct{ Type, Code, Text string }
				if err := json.Unmarshal([]byte(line), &e); err != nil || e.Type != "error" {
					got = append(got, "event "+line)
					continue
				}
				reply := "error " + e.Code
				if typ, ok := strings.CutPrefix(e.Text, "unknown event type "); ok {
					reply += " " + typ
				}
				got = append(got, reply)
			}
		default:
			got = append(got, fmt.Sprintf("frame with opcode %#x", op))
		}
	}
	return got
}

// readServerFrame reads one frame from the server: its first byte and its
// payload.
func readServerFrame(br *bufio.Reader) (b0 byte, payload []byte, err error) {
	var hdr [10]byte
	if _, err := io.ReadFull(br, hdr[:2]); err != nil {
		return 0, nil, err
	}
	if hdr[1]&0x80 != 0 {
		return 0, nil, fmt.Errorf("a masked server frame")
	}
	size := uint64(hdr[1] & 0x7f)
	switch size {
	case 126:
		if _, err := io.ReadFull(br, hdr[2:4]); err != nil {
			return 0, nil, err
		}
		size = uint64(binary.BigEndian.Uint16(hdr[2:]))
	case 127:
		if _, err := io.ReadFull(br, hdr[2:10]); err != nil {
			return 0, nil, err
		}
		size = binary.BigEndian.Uint64(hdr[2:])
	}
	if size > 1<<20 {
		return 0, nil, fmt.Errorf("a server frame of %d bytes", size)
	}
	payload = make([]byte, size)
	_, err = io.ReadFull(br, payload)
	return hdr[0], payload, err
}
