package server

import "net/http"

// routes lists every path the web server answers. Every request passes the
// Host check and carries the security headers.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", s.handlePage())
	mux.Handle("GET /ws", s.handleWS())
	mux.Handle("GET /assets/{name}", s.handleAssets())
	mux.Handle("GET /healthz", s.handleHealth())
	return s.hostCheck(securityHeaders(mux))
}
