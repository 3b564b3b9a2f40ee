package server

import "net/http"

// routes lists every path the web server answers. Every request passes the
// Host check and carries the security headers. Responses give each write a
// deadline of its own; /ws takes the connection over and sets its own.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", s.writeDeadlines(s.handlePage()))
	mux.Handle("GET /ws", s.handleWS())
	mux.Handle("GET /assets/{name}", s.writeDeadlines(s.handleAssets()))
	mux.Handle("GET /healthz", s.writeDeadlines(s.handleHealth()))
	mux.Handle("GET /metrics", s.writeDeadlines(s.handleMetrics()))
	return s.hostCheck(securityHeaders(mux))
}
