package server_test

import (
	"bufio"
	"io"
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

// TestKeepAliveOutlivesWriteTimeout sends requests on one connection,
// idle for longer than HTTPWriteTimeout in between: each response, the
// WebSocket upgrade included, has a write deadline of its own.
func TestKeepAliveOutlivesWriteTimeout(t *testing.T) {
	const writeTimeout = 300 * time.Millisecond // the 101 must go out within it, even on a loaded machine
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
