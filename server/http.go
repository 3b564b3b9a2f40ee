package server

import (
	"encoding/json"
	"net/http"
)

// handleHealth answers /healthz with the pool's member counts.
func (s *Server) handleHealth() http.Handler {
	type health struct {
		Status  string `json:"status"`
		Members int    `json:"members"`
		Web     int    `json:"web"`
		TCP     int    `json:"tcp"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		web, tcp := s.pool.Counts()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(health{Status: "ok", Members: web + tcp, Web: web, TCP: tcp})
	})
}

// handlePage serves the room's page.
func (s *Server) handlePage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, s.cfg.Assets, "index.html")
	})
}
