package server

import (
	"net"
	"net/http"
	"os"
	"strings"
)

// hostCheck refuses requests whose Host header names a host this server
// does not answer to, so a page on another site cannot reach a local
// server through DNS rebinding. IP literals, localhost (and *.localhost),
// this machine's hostname and the --allowed-hosts names always pass; an
// allowed name starting with "*." also allows its subdomains.
func (s *Server) hostCheck(next http.Handler) http.Handler {
	allowed := map[string]bool{"localhost": true}
	var suffixes []string
	if name, err := os.Hostname(); err == nil {
		name = strings.ToLower(name)
		allowed[name] = true
		short, _, _ := strings.Cut(name, ".")
		allowed[short] = true
	}
	for _, h := range s.cfg.AllowedHosts {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if rest, ok := strings.CutPrefix(h, "*."); ok {
			suffixes = append(suffixes, "."+rest)
			continue
		}
		allowed[h] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := hostOnly(r.Host)
		ok := allowed[host] || net.ParseIP(host) != nil || strings.HasSuffix(host, ".localhost")
		for _, suffix := range suffixes {
			ok = ok || strings.HasSuffix(host, suffix)
		}
		if !ok {
			s.pool.metrics.refusal(refusedHost).Inc()
			s.log.Info("refused", "via", ViaWeb, "addr", r.RemoteAddr, "reason", "host not allowed", "host", r.Host)
			http.Error(w, "421 misdirected request: this server does not answer to the host "+truncate(r.Host, 64)+
				"; start it with --allowed-hosts to allow it", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hostOnly returns the host of a Host header, lowercased, without port,
// brackets or trailing dot.
func hostOnly(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	return strings.ToLower(host)
}

// contentSecurityPolicy allows only the page's own scripts, styles and
// WebSocket, and the compilation of its WebAssembly: no inline script.
const contentSecurityPolicy = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// securityHeaders sets the headers every response carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}
