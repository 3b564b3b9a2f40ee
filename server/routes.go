package server

import "net/http"

// routes lists every path the web server answers.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", s.handleHealth())
	mux.Handle("GET /{$}", s.handlePage())
	return mux
}
