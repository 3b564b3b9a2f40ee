package server

// TLS on both listeners (SPEC §12): HTTPS and WSS on the web port, and on
// the TCP port TLS beside plain lines, told apart by the first byte a
// client sends (a TLS handshake starts with 0x16, which no chat line
// does). The certificate is read again by ReloadTLS (on SIGHUP), without
// dropping anyone: connections keep the certificate they started with.

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// certificate holds the certificate the server presents, swapped whole on
// a reload.
type certificate struct {
	certFile, keyFile string
	current           atomic.Pointer[tls.Certificate]
}

// loadCertificate reads a certificate and its key.
func loadCertificate(certFile, keyFile string) (*certificate, error) {
	c := &certificate{certFile: certFile, keyFile: keyFile}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// reload reads the files again; on an error the certificate in use stays.
func (c *certificate) reload() error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("reading the certificate: %w", err)
	}
	c.current.Store(&cert)
	return nil
}

// config is the TLS configuration of both listeners.
func (c *certificate) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.current.Load(), nil
		},
	}
}

// ReloadTLS reads the certificate and key files again (the program calls
// it on SIGHUP). New connections get the new certificate; open ones keep
// theirs. Without TLS it does nothing.
func (s *Server) ReloadTLS() error {
	if s.cert == nil {
		return nil
	}
	if err := s.cert.reload(); err != nil {
		return err
	}
	s.log.Info("tls certificate reloaded", "cert", s.cert.certFile)
	return nil
}

// tlsHandshake is how long a TLS client on the TCP port has to finish its
// handshake.
const tlsHandshake = 10 * time.Second

// startTLS looks at the first byte a TCP connection sends before joinBy
// (the end of its join delay). A TLS handshake (when TLS is on) gets the connection wrapped in
// TLS; anything else is plain lines. It returns the connection to serve
// and what its line reader reads: the plain connection's first byte is
// read already, so it comes first.
func (s *Server) startTLS(conn net.Conn, joinBy time.Time) (net.Conn, io.Reader, error) {
	if s.cert == nil {
		return conn, conn, nil
	}
	var first [1]byte
	conn.SetReadDeadline(joinBy)
	n, err := conn.Read(first[:])
	conn.SetReadDeadline(time.Time{})
	switch {
	case n == 0 && errors.Is(err, os.ErrDeadlineExceeded):
		return conn, conn, nil // a quiet nc: plain, joining after the delay
	case n == 0:
		return nil, nil, err
	case first[0] != 0x16:
		return conn, io.MultiReader(bytes.NewReader(first[:]), conn), nil
	}
	tc := tls.Server(&replayConn{Conn: conn, first: first[:]}, s.cert.config())
	tc.SetDeadline(time.Now().Add(tlsHandshake))
	if err := tc.Handshake(); err != nil {
		return nil, nil, err
	}
	tc.SetDeadline(time.Time{})
	return tc, tc, nil
}

// replayConn reads first before the rest of its connection.
type replayConn struct {
	net.Conn
	first []byte
}

func (c *replayConn) Read(b []byte) (int, error) {
	if len(c.first) > 0 {
		n := copy(b, c.first)
		c.first = c.first[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}
