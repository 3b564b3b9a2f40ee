package server

import (
	"cmp"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/poolchat/poolchat/templates"
)

// wasmAsset is the browser client's file name among the assets.
const wasmAsset = "poolchat.wasm"

// handlePage renders the room's page, already showing who is online.
func (s *Server) handlePage() http.Handler {
	wasmSize := 0
	if a := s.assets[wasmAsset]; a != nil {
		wasmSize = int(a.variants[""].size)
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

// handleHealth answers /healthz with the room's member counts (every
// node's), this node, its link to NATS and the last log entry it applied;
// 503 while it has lost the room.
func (s *Server) handleHealth() http.Handler {
	type health struct {
		Status  string `json:"status"`
		Members int    `json:"members"`
		Web     int    `json:"web"`
		TCP     int    `json:"tcp"`
		Node    string `json:"node"`
		NATS    string `json:"nats"` // embedded, connected or disconnected
		Seq     uint64 `json:"seq"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		web, tcp := s.pool.Counts()
		h := health{Status: "ok", Members: web + tcp, Web: web, TCP: tcp, Node: s.pool.node, NATS: "connected", Seq: s.pool.seq.Load()}
		switch l := s.pool.roomLog; {
		case l.Embedded():
			h.NATS = "embedded"
		case !l.Connected():
			h.NATS = "disconnected"
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if s.unavailable.Load() {
			h.Status = "unavailable"
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(h)
	})
}

// writeChunk is the most of a response written under one write deadline.
const writeChunk = 32 << 10

// writeDeadlines gives each write of next's response, in chunks of at most
// writeChunk, a deadline HTTPWriteTimeout ahead. A browser on a slow line
// gets all of the wasm however long that takes, as long as it keeps
// reading; one that stops is cut after HTTPWriteTimeout.
func (s *Server) writeDeadlines(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dw := &deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), timeout: s.cfg.HTTPWriteTimeout}
		next.ServeHTTP(dw, r)
		if errors.Is(dw.err, os.ErrDeadlineExceeded) {
			s.log.Info("web client too slow", "addr", r.RemoteAddr, "path", r.URL.Path)
		}
	})
}

// deadlineWriter moves the connection's write deadline forward before each
// chunk it writes.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	err     error // the first write error
}

func (d *deadlineWriter) Write(p []byte) (n int, err error) {
	for {
		chunk := p[:min(len(p), writeChunk)]
		d.rc.SetWriteDeadline(time.Now().Add(d.timeout))
		m, err := d.ResponseWriter.Write(chunk)
		n += m
		p = p[m:]
		if err != nil {
			d.err = cmp.Or(d.err, err)
			return n, err
		}
		if len(p) == 0 {
			return n, nil
		}
	}
}

// Unwrap lets an http.ResponseController reach the server's own writer.
func (d *deadlineWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }
