package server_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/poolchat/poolchat/internal/chattest"
	"github.com/poolchat/poolchat/server"
)

// writeCert writes a self-signed certificate for 127.0.0.1 with the given
// serial to certFile and keyFile, and returns it.
func writeCert(t *testing.T, certFile, keyFile string, serial int64) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "poolchat test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// tlsLines is a TLS client on the TCP port, reading lines.
type tlsLines struct {
	conn *tls.Conn
	r    *bufio.Reader
}

func dialTLSLines(t *testing.T, addr string, roots *x509.CertPool) *tlsLines {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(chattest.Timeout))
	return &tlsLines{conn: conn, r: bufio.NewReader(conn)}
}

func (c *tlsLines) line(t *testing.T) string {
	t.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// TestTLS: with a certificate, the TCP port takes TLS and plain lines side
// by side, the web port serves HTTPS and WSS, and a reload swaps the
// certificate for new connections while a member stays connected.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := writeCert(t, certFile, keyFile, 1)
	room := chattest.Start(t, server.Config{TLSCert: certFile, TLSKey: keyFile})
	roots := x509.NewCertPool()
	roots.AddCert(first)

	quiet := room.Dial(t) // sends nothing: plain, joining after its delay
	quiet.ExpectPrefix("* welcome to poolchat, ")
	plain := room.Join(t)
	secure := dialTLSLines(t, room.TCPAddr, roots)
	secure.conn.Write([]byte("hello over tls\n"))
	name := strings.TrimPrefix(secure.line(t), "* welcome to poolchat, ")
	if !strings.HasPrefix(secure.line(t), "* online now (3)") {
		t.Fatal("no online line over TLS")
	}
	if l := secure.line(t); l != name+": hello over tls" {
		t.Fatalf("over TLS: %q", l)
	}
	plain.Expect("* " + name + " joined")
	plain.Expect(name + ": hello over tls")
	plain.Send("hello in the clear")
	plain.Expect(plain.Name + ": hello in the clear")
	if l := secure.line(t); l != plain.Name+": hello in the clear" {
		t.Fatalf("over TLS: %q", l)
	}

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := client.Get("https://" + room.HTTPAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("https healthz: %s", resp.Status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), chattest.Timeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "wss://"+room.HTTPAddr+"/ws", &websocket.DialOptions{
		HTTPClient: client, HTTPHeader: http.Header{"Origin": {"https://" + room.HTTPAddr}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.Write(ctx, websocket.MessageText, []byte(`{"type":"got_a_new_user","name":"Secure"}`))
	if _, data, err := ws.Read(ctx); err != nil || !strings.Contains(string(data), `"type":"welcome"`) {
		t.Fatalf("wss: %q %v", data, err)
	}
	plain.Expect("* Secure joined")

	second := writeCert(t, certFile, keyFile, 2)
	if err := room.Server.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	roots.AddCert(second)
	after := dialTLSLines(t, room.TCPAddr, roots)
	if got := after.conn.ConnectionState().PeerCertificates[0].SerialNumber; got.Int64() != 2 {
		t.Fatalf("after the reload the certificate's serial is %v, want 2", got)
	}
	after.conn.Write([]byte("\n"))
	plain.ExpectPrefix("* guest-")
	secure.conn.Write([]byte("still here\n"))
	plain.Expect(name + ": still here")
}
