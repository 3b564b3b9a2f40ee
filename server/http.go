package server

import (
	"encoding/json"
	"net"
	"net/http"

	"github.com/poolchat/poolchat/templates"
)

// wasmAsset is the browser client's file name among the assets.
const wasmAsset = "poolchat.wasm"

// handlePage renders the room's page, already showing who is online.
func (s *Server) handlePage() http.Handler {
	wasmSize := 0
	if a := s.assets[wasmAsset]; a != nil {
		wasmSize = len(a.variants[""].data)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		members := s.pool.Members()
		users := make([]templates.User, len(members))
		for i, m := range members {
			users[i] = templates.User{ID: m.ID, Name: m.Name, Via: string(m.Via)}
		}
		_, port, _ := net.SplitHostPort(s.TCPAddr().String())
		page := templates.Page{
			Users:     users,
			WasmURL:   "/assets/" + wasmAsset,
			WasmSize:  wasmSize,
			Terminal:  "nc " + hostOnly(r.Host) + " " + port,
			Version:   s.cfg.Version,
			DevReload: s.cfg.DevReload,
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := templates.Room(page).Render(r.Context(), w); err != nil {
			s.log.Debug("render page", "err", err)
		}
	})
}

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
