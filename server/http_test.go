package server_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/poolchat/poolchat/internal/chattest"
	"github.com/poolchat/poolchat/server"
)

func get(t *testing.T, url string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultTransport.RoundTrip(req) // no transparent gzip
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestPageHTML(t *testing.T) {
	room := chattest.Start(t, server.Config{Assets: fstest.MapFS{"poolchat.wasm": {Data: []byte("\x00asm")}}})
	nc := room.Join(t)
	resp, body := get(t, "http://"+room.HTTPAddr+"/", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self' 'wasm-unsafe-eval'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q", csp)
	}
	for _, hook := range []string{`<dialog id="name-dialog"`, `name="name"`, `id="users"`, `id="log"`, `<form id="send"`,
		`id="message"`, `id="status"`, `/assets/poolchat.wasm`, `data-user-id="user_`, ">" + nc.Name + "<", `aria-live="polite"`} {
		if !strings.Contains(body, hook) {
			t.Errorf("page lacks %s", hook)
		}
	}
	if strings.Contains(body, "<script>") {
		t.Errorf("page has an inline script")
	}
	if resp, _ := get(t, "http://"+room.HTTPAddr+"/nothing-here", nil); resp.StatusCode != 404 {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}
}

func TestAssets(t *testing.T) {
	fsys := fstest.MapFS{
		"poolchat.wasm":    {Data: []byte("raw wasm")},
		"poolchat.wasm.br": {Data: []byte("brotli wasm")},
		"poolchat.wasm.gz": {Data: []byte("gzip wasm")},
		"app.js":           {Data: []byte("js")},
		"style.css":        {Data: []byte("css")},
	}
	room := chattest.Start(t, server.Config{Assets: fsys})
	base := "http://" + room.HTTPAddr + "/assets/"
	tests := []struct {
		name, accept, body, encoding, ctype string
	}{
		{"poolchat.wasm", "gzip, deflate, br", "brotli wasm", "br", "application/wasm"},
		{"poolchat.wasm", "gzip", "gzip wasm", "gzip", "application/wasm"},
		{"poolchat.wasm", "br;q=0, gzip", "gzip wasm", "gzip", "application/wasm"},
		{"poolchat.wasm", "", "raw wasm", "", "application/wasm"},
		{"app.js", "br", "js", "", "text/javascript; charset=utf-8"},
		{"style.css", "", "css", "", "text/css; charset=utf-8"},
	}
	for _, tt := range tests {
		resp, body := get(t, base+tt.name, map[string]string{"Accept-Encoding": tt.accept})
		if resp.StatusCode != 200 || body != tt.body || resp.Header.Get("Content-Encoding") != tt.encoding ||
			resp.Header.Get("Content-Type") != tt.ctype || resp.Header.Get("ETag") == "" || resp.Header.Get("Cache-Control") == "" {
			t.Errorf("%s with Accept-Encoding %q: %d %q %v", tt.name, tt.accept, resp.StatusCode, body, resp.Header)
		}
		again, _ := get(t, base+tt.name, map[string]string{"Accept-Encoding": tt.accept, "If-None-Match": resp.Header.Get("ETag")})
		if again.StatusCode != http.StatusNotModified {
			t.Errorf("%s revalidation: %d, want 304", tt.name, again.StatusCode)
		}
	}
	if resp, _ := get(t, base+"poolchat.wasm.br", nil); resp.StatusCode != 404 {
		t.Errorf("a compressed copy is served by its own name: %d", resp.StatusCode)
	}
}

// TestSlowDownload fetches a large asset over a link slower than the
// whole body allows in one HTTPWriteTimeout: a browser on a slow line still
// gets all of the wasm, because the timeout bounds each write, not the
// response. A client that stops reading is still cut.
func TestSlowDownload(t *testing.T) {
	const writeTimeout = 500 * time.Millisecond
	// Larger than what the kernel buffers on loopback (about 4 MB on
	// Linux), so the server's writes wait for the client.
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<20)
	logs := &logWatch{msg: "web client too slow", seen: make(chan struct{}, 1)}
	room := chattest.Start(t, server.Config{
		Assets:           fstest.MapFS{"poolchat.wasm": {Data: body}},
		HTTPWriteTimeout: writeTimeout,
		Logger:           slog.New(logs),
	})
	url := "http://" + room.HTTPAddr + "/assets/poolchat.wasm"

	t.Run("slow", func(t *testing.T) {
		resp := slowClientGet(t, url)
		defer resp.Body.Close()
		// At most 64 KB per read, and a pause after each: the download takes
		// at least len(body)/64 KB pauses, several write timeouts in all,
		// while each write finds room within a small part of one.
		buf := make([]byte, 64<<10)
		var got bytes.Buffer
		for {
			n, err := resp.Body.Read(buf)
			got.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("after %d of %d bytes: %v", got.Len(), len(body), err)
			}
			time.Sleep(writeTimeout / 100) // the slow line, not a synchronisation
		}
		if !bytes.Equal(got.Bytes(), body) {
			t.Fatalf("got %d bytes, want the %d of the asset", got.Len(), len(body))
		}
		select {
		case <-logs.seen:
			t.Fatal("the server logged a client too slow, but this one kept reading")
		default:
		}
	})

	t.Run("stalled", func(t *testing.T) {
		resp := slowClientGet(t, url)
		defer resp.Body.Close()
		<-logs.seen // the server gave up on the client
		got, err := io.ReadAll(resp.Body)
		if err == nil || len(got) >= len(body) {
			t.Fatalf("a client that stopped reading got %d of %d bytes (%v); want the response cut", len(got), len(body), err)
		}
	})
}

// slowClientGet starts a GET on a connection of its own whose receive
// buffer is small, so the server's writes wait for the test to read.
func slowClientGet(t *testing.T, url string) *http.Response {
	t.Helper()
	transport := &http.Transport{
		DisableCompression: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := new(net.Dialer).DialContext(ctx, network, addr)
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetReadBuffer(64 << 10)
			}
			return conn, err
		},
	}
	t.Cleanup(transport.CloseIdleConnections)
	req, _ := http.NewRequest("GET", url, nil)
	resp, err := transport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return resp
}

// TestKeepAliveOutlivesWriteTimeout sends requests on one connection,
// idle for longer than HTTPWriteTimeout in between: each response, the
// WebSocket upgrade included, has a write deadline of its own.
func TestKeepAliveOutlivesWriteTimeout(t *testing.T) {
	const writeTimeout = 50 * time.Millisecond
	room := chattest.Start(t, server.Config{HTTPWriteTimeout: writeTimeout})
	conn, err := net.Dial("tcp", room.HTTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for _, req := range []string{
		"GET /healthz HTTP/1.1\r\nHost: " + room.HTTPAddr + "\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: " + room.HTTPAddr + "\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: " + room.HTTPAddr + "\r\nOrigin: http://" + room.HTTPAddr +
			"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
	} {
		time.Sleep(2 * writeTimeout) // idle on the connection, the case under test
		if _, err := io.WriteString(conn, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%.20q: %v", req, err)
		}
		if resp.StatusCode != 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("%.20q: %s", req, resp.Status)
		}
		if resp.StatusCode == 200 {
			io.Copy(io.Discard, resp.Body)
		}
		resp.Body.Close()
	}
}

// logWatch is a slog handler that signals on seen when a record with its
// message is logged.
type logWatch struct {
	msg  string
	seen chan struct{}
}

func (w *logWatch) Enabled(context.Context, slog.Level) bool { return true }

func (w *logWatch) Handle(_ context.Context, r slog.Record) error {
	if r.Message == w.msg {
		select {
		case w.seen <- struct{}{}:
		default:
		}
	}
	return nil
}

func (w *logWatch) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *logWatch) WithGroup(string) slog.Handler      { return w }
