package server

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// clientFrame returns a masked client frame.
func clientFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	f := appendFrameHeader(nil, 0, len(payload))
	f[0] = b0
	f[1] |= 0x80
	key := []byte{0x12, 0x34, 0x56, 0x78}
	f = append(f, key...)
	at := len(f)
	f = append(f, payload...)
	unmask(f[at:], key)
	return f
}

// readMessages reads messages from stream until an error, recording the
// control frames seen on the way.
func readMessages(stream []byte, limit int) (msgs []string, controls []string, err error) {
	rd := &wsReader{r: bufio.NewReaderSize(bytes.NewReader(stream), 16), limit: limit,
		control: func(op byte, payload []byte) {
			controls = append(controls, string(rune('0'+op))+":"+string(payload))
		}}
	for {
		op, msg, err := rd.next()
		if err != nil {
			return msgs, controls, err
		}
		msgs = append(msgs, string(rune('0'+op))+":"+string(msg))
	}
}

func TestWSReader(t *testing.T) {
	cat := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	long := strings.Repeat("é", 200) // 400 bytes: a 16-bit length
	msgs, controls, err := readMessages(cat(
		clientFrame(true, opText, []byte("hello")),
		clientFrame(false, opText, []byte("frag")),
		clientFrame(true, opPing, []byte("p")),
		clientFrame(false, opContinuation, []byte("men")),
		clientFrame(true, opContinuation, []byte("ted")),
		clientFrame(true, opPong, nil),
		clientFrame(true, opText, []byte(long)),
		clientFrame(true, opBinary, []byte{0xff, 0}),
		clientFrame(true, opClose, []byte{0x03, 0xe9, 'b', 'y', 'e'}),
	), 1024)
	want := []string{"1:hello", "1:fragmented", "1:" + long, "2:\xff\x00"}
	if strings.Join(msgs, "|") != strings.Join(want, "|") {
		t.Errorf("messages %q, want %q", msgs, want)
	}
	if strings.Join(controls, "|") != "9:p|::" {
		t.Errorf("control frames %q", controls)
	}
	var peer *wsPeerClosed
	if !errors.As(err, &peer) || peer.status != 1001 {
		t.Errorf("ended with %v, want the peer's close 1001", err)
	}

	// A stream that ends mid-frame is the connection ending, not a message.
	if _, _, err := readMessages(clientFrame(true, opText, []byte("cut"))[:5], 1024); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut frame: %v", err)
	}
}

func TestWSReaderRefusals(t *testing.T) {
	unmasked := clientFrame(true, opText, []byte("x"))
	unmasked[1] &^= 0x80
	unmasked = append(unmasked[:2], 'x')
	for _, c := range []struct {
		name   string
		stream []byte
		status int
	}{
		{"unmasked", unmasked, statusProtocol},
		{"reserved bits", func() []byte { f := clientFrame(true, opText, []byte("x")); f[0] |= 0x40; return f }(), statusProtocol},
		{"unknown opcode", clientFrame(true, 0x3, nil), statusProtocol},
		{"fragmented ping", clientFrame(false, opPing, nil), statusProtocol},
		{"long ping", clientFrame(true, opPing, make([]byte, 126)), statusProtocol},
		{"lone continuation", clientFrame(true, opContinuation, []byte("x")), statusProtocol},
		{"message inside a message", append(clientFrame(false, opText, []byte("a")), clientFrame(true, opText, []byte("b"))...), statusProtocol},
		{"too big", clientFrame(true, opText, make([]byte, 101)), statusTooBig},
		{"too big in pieces", append(clientFrame(false, opText, make([]byte, 60)), clientFrame(true, opContinuation, make([]byte, 60))...), statusTooBig},
		{"huge length", append([]byte{0x81, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 1, 2, 3, 4), statusTooBig},
		{"length with the top bit set", append([]byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0}, 1, 2, 3, 4), statusProtocol},
		{"invalid utf-8", clientFrame(true, opText, []byte{0xc3, 0x28}), statusInvalidData},
		{"one-byte close", clientFrame(true, opClose, []byte{3}), statusProtocol},
		{"reserved close status", clientFrame(true, opClose, []byte{0x03, 0xed}), statusProtocol},
		{"close reason not UTF-8", clientFrame(true, opClose, []byte{0x03, 0xe8, 0xc3, 0x28}), statusInvalidData},
		{"close reason over 123 bytes", clientFrame(true, opClose, append([]byte{0x03, 0xe8}, make([]byte, 124)...)), statusProtocol},
	} {
		_, _, err := readMessages(c.stream, 100)
		var broken *wsError
		if !errors.As(err, &broken) || broken.status != c.status {
			t.Errorf("%s: %v, want status %d", c.name, err, c.status)
		}
	}
}

// TestWSCloseStatuses tries every status a close frame can carry: the
// ones RFC 6455 section 7.4 and IANA's registry allow on the wire are
// echoed, every other fails the connection with 1002. coder/websocket
// (validWireCloseCode) accepts the same set.
func TestWSCloseStatuses(t *testing.T) {
	valid := func(code int) bool {
		switch {
		case code >= 1000 && code <= 1003, // normal, going away, protocol, unsupported data
			code >= 1007 && code <= 1011, // invalid data, policy, too big, extension, internal error
			code >= 1012 && code <= 1014, // registered by IANA: restart, try again later, bad gateway
			code >= 3000 && code <= 4999: // libraries, frameworks and applications
			return true
		}
		return false // 0-999, 1004-1006, 1015, 1016-2999, 5000 and up
	}
	type run struct {
		first, last int
		err         error
	}
	var wrong []run                    // statuses handled wrongly, in runs
	reason := strings.Repeat("r", 123) // the most a control frame has room for
	for code := range 1 << 16 {
		payload := append([]byte{byte(code >> 8), byte(code)}, reason...)
		_, _, err := readMessages(clientFrame(true, opClose, payload), 100)
		var peer *wsPeerClosed
		var broken *wsError
		echoed := errors.As(err, &peer) && peer.status == code
		failed := errors.As(err, &broken) && broken.status == statusProtocol
		if valid(code) && echoed || !valid(code) && failed {
			continue
		}
		if n := len(wrong); n > 0 && wrong[n-1].last == code-1 {
			wrong[n-1].last = code
		} else {
			wrong = append(wrong, run{code, code, err})
		}
	}
	for _, r := range wrong {
		t.Errorf("close statuses %d-%d: %d gave %v, want it echoed if valid, else 1002", r.first, r.last, r.first, r.err)
	}
}

func TestWSFraming(t *testing.T) {
	ping := controlFrame(opPing, nil)
	batch := [][]byte{[]byte(`{"a":1}`), []byte(`{"b":2}`), ping, []byte(`{"c":3}`)}
	var got [][]byte
	for len(batch) > 0 {
		b, tail, n := wsFraming{}.encode(nil, batch)
		if tail != nil {
			t.Fatalf("small events left uncopied")
		}
		got, batch = append(got, b), batch[n:]
	}
	want := [][]byte{append([]byte{0x81, 15}, `{"a":1}`+"\n"+`{"b":2}`...), ping, append([]byte{0x81, 7}, `{"c":3}`...)}
	if !bytes.Equal(bytes.Join(got, nil), bytes.Join(want, nil)) || len(got) != 3 {
		t.Errorf("encoded %q, want %q", got, want)
	}
	big := append([]byte("{"), bytes.Repeat([]byte("x"), maxPacked)...)
	if b, tail, n := (wsFraming{}).encode(nil, [][]byte{big, []byte("{}")}); n != 1 || &tail[0] != &big[0] || !bytes.Equal(b, appendFrameHeader(nil, opText, len(big))) {
		t.Errorf("a large event: header % x, n %d", b, n)
	}

	// A frame in pieces: the small ones copied together, a large one
	// uncopied after them, and the next event framed anew.
	head, list := []byte{0x81, 126, 0, 0}, append([]byte("["), bytes.Repeat([]byte("x"), maxPacked)...)
	batch = [][]byte{ping, head, list, []byte("]}"), []byte(`{"d":4}`)}
	b, tail, n := wsFraming{}.encode(nil, batch)
	if n != 3 || &tail[0] != &list[0] || !bytes.Equal(b, append(slices.Clone(ping), head...)) {
		t.Errorf("pieces before a large one: % x, tail of %d bytes, n %d", b, len(tail), n)
	}
	b, tail, n = wsFraming{}.encode(nil, batch[3:])
	if n != 1 || tail != nil || string(b) != "]}" {
		t.Errorf("the last piece: %q, n %d", b, n)
	}
	for _, size := range []int{125, 126, 65535, 65536} {
		h := appendFrameHeader(nil, opText, size)
		if len(h) != map[int]int{125: 2, 126: 4, 65535: 4, 65536: 10}[size] {
			t.Errorf("header for %d bytes: % x", size, h)
		}
	}
	if got := closeFrame(1008, "not reading fast enough"); !bytes.Equal(got[:4], []byte{0x88, 25, 0x03, 0xf0}) {
		t.Errorf("close frame % x", got)
	}
	if got := closeFrame(1000, strings.Repeat("é", 100)); len(got) != 2+2+122 || !utf8.Valid(got[4:]) {
		t.Errorf("a long reason: %d bytes, % x", len(got), got[len(got)-4:])
	}
}

func TestWSHandshakeRefusals(t *testing.T) {
	good := func() *http.Request {
		r := httptest.NewRequest("GET", "http://chat.example/ws", nil)
		r.Header.Set("Connection", "keep-alive, Upgrade")
		r.Header.Set("Upgrade", "websocket")
		r.Header.Set("Sec-WebSocket-Version", "13")
		r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		return r
	}
	for _, c := range []struct {
		name   string
		change func(r *http.Request)
		status int
	}{
		{"a POST", func(r *http.Request) { r.Method = "POST" }, http.StatusMethodNotAllowed},
		{"HTTP/1.0", func(r *http.Request) { r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.0", 1, 0 }, http.StatusUpgradeRequired},
		{"no upgrade", func(r *http.Request) { r.Header.Del("Upgrade") }, http.StatusUpgradeRequired},
		{"version 8", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Version", "8") }, http.StatusUpgradeRequired},
		{"no key", func(r *http.Request) { r.Header.Del("Sec-WebSocket-Key") }, http.StatusBadRequest},
		{"short key", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", "c2hvcnQ=") }, http.StatusBadRequest},
		{"foreign origin", func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }, http.StatusForbidden},
		{"same origin", func(r *http.Request) { r.Header.Set("Origin", "https://CHAT.example") }, 0},
		{"allowed origin", func(r *http.Request) { r.Header.Set("Origin", "https://a.friends.example") }, 0},
	} {
		r := good()
		c.change(r)
		_, status, err := checkHandshake(r, []string{"*.friends.example"})
		if status != c.status || (status == 0) != (err == nil) {
			t.Errorf("%s: %d %v, want %d", c.name, status, err, c.status)
		}
	}
	// The example from RFC 6455, section 1.3.
	if got := acceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("accept key %s", got)
	}
}

// FuzzWSReader feeds arbitrary client bytes to the frame reader: it must
// never panic, never return a message over the limit, and always end
// with an error once the bytes run out.
func FuzzWSReader(f *testing.F) {
	f.Add(clientFrame(true, opText, []byte(`{"type":"message","text":"hi"}`)))
	f.Add(append(clientFrame(false, opText, []byte("a")), clientFrame(true, opContinuation, []byte("b"))...))
	f.Add(clientFrame(true, opPing, []byte("ping")))
	f.Add(clientFrame(true, opClose, []byte{0x03, 0xe8}))
	f.Add([]byte{0x81, 0xfe, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, stream []byte) {
		const limit = 64
		rd := &wsReader{r: bufio.NewReaderSize(bytes.NewReader(stream), 16), limit: limit,
			control: func(op byte, payload []byte) {
				if (op != opPing && op != opPong) || len(payload) > 125 {
					t.Fatalf("control %d with %d bytes", op, len(payload))
				}
			}}
		for range len(stream) + 1 {
			op, msg, err := rd.next()
			if err != nil {
				return
			}
			if len(msg) > limit || (op != opText && op != opBinary) {
				t.Fatalf("message op %d of %d bytes", op, len(msg))
			}
		}
		t.Fatal("more messages than bytes")
	})
}
