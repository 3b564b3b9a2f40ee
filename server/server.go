package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/poolchat/poolchat/server/roomlog"
)

// Config is what a Server needs. The zero value of each tuning field means
// its default.
type Config struct {
	HTTPAddr       string   // web and WebSocket listener, e.g. ":8080"
	TCPAddr        string   // netcat/telnet listener, e.g. ":3000"
	AllowedOrigins []string // extra Origin host patterns for /ws
	AllowedHosts   []string // extra Host names the web server answers to
	History        int      // messages replayed to each newcomer
	MaxClients     int      // members at once, both transports together
	MaxPerIP       int      // connections at once from one address; 0: no cap
	CapLoopback    bool     // apply MaxPerIP to loopback addresses too (tests; loopback is exempt otherwise)
	Assets         fs.FS    // the browser files, a flat directory (nil: none)
	Version        string
	DevReload      bool // pages reload when the server restarts, for `go tool task dev`
	Logger         *slog.Logger

	OutboxLimit  int           // bytes queued for one member before it is dropped (default 1 MiB)
	Flood        FloodLimit    // input rate per member (default DefaultFloodLimit)
	JoinDelay    time.Duration // how long a TCP connection waits to join without a line (default 250 ms)
	StopTimeout  time.Duration // how long a graceful stop may take before connections are cut (default 4 s)
	PingInterval time.Duration // how often a WebSocket peer is pinged (default 25 s)
	PingTimeout  time.Duration // how long a pong may take before the peer is dropped (default 10 s)

	// HTTPWriteTimeout bounds each write of a web response, not the whole
	// response: a client that takes no bytes for that long is cut, a slow
	// one that keeps reading gets everything (default 30 s).
	HTTPWriteTimeout time.Duration

	DataDir   string // where the room's log keeps its files (default "poolchat-data")
	Ephemeral bool   // keep the room's log in memory only; DataDir is not used
	Retain    int    // messages the log keeps for history (default 10000)
	Fsync     bool   // every event reaches the disk before anyone sees it (slower; survives a power loss)

	TLSCert string // a PEM certificate (chain) file: serve HTTPS, WSS and TLS on the TCP port
	TLSKey  string // its private key file

	NATS string // URLs of an outside NATS cluster for the room's log, instead of the embedded server
	Room string // the room's name on NATS (default "pool")
	Node string // this node's name (default: hostname and a random suffix)

	// ClusterListen (host:port) lets the embedded NATS server listen for
	// routes from other nodes' embedded servers, and ClusterPeers are
	// their ClusterListen addresses: routed together, three or more nodes
	// share the room with no other service, its log in three copies. Node
	// then names this node's server in the cluster: set it, the same at
	// every start.
	ClusterListen string
	ClusterPeers  []string

	// ResumeGrace is how long a web member whose connection dropped keeps
	// its place (default 60 s; negative: not at all).
	ResumeGrace time.Duration
}

// Server runs one room on a TCP listener and an HTTP listener.
type Server struct {
	cfg  Config
	log  *slog.Logger
	pool *ClientPool
	gate *gate

	tcpLn  net.Listener
	httpLn net.Listener
	http   *http.Server

	cert   *certificate      // nil: no TLS
	conns  *tracker          // connections being served, both transports
	assets map[string]*asset // the browser files, by name

	unavailable atomic.Bool // lost the room (NATS out of reach): newcomers are refused
	lostMu      sync.Mutex
	lostTimer   *time.Timer // runs out when NATS has been out of reach for lostAfter
	stopping    bool        // under lostMu: Serve is ending, NATS's news no longer matters
}

// New returns a Server for cfg, with defaults filled in. It does not listen
// yet. It fails only if cfg.Assets cannot be read.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OutboxLimit <= 0 {
		cfg.OutboxLimit = 1 << 20
	}
	if cfg.Flood == (FloodLimit{}) {
		cfg.Flood = DefaultFloodLimit
	}
	if cfg.JoinDelay <= 0 {
		cfg.JoinDelay = 250 * time.Millisecond
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 4 * time.Second
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 25 * time.Second
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = 10 * time.Second
	}
	if cfg.HTTPWriteTimeout <= 0 {
		cfg.HTTPWriteTimeout = 30 * time.Second
	}
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = 10000
	}
	if cfg.DataDir == "" {
		cfg.DataDir = "poolchat-data"
	}
	if cfg.Retain <= 0 {
		cfg.Retain = 10000
	}
	if cfg.Node == "" {
		cfg.Node = defaultNodeName()
	}
	if cfg.ResumeGrace == 0 {
		cfg.ResumeGrace = 60 * time.Second
	}
	s := &Server{
		cfg:   cfg,
		log:   cfg.Logger,
		pool:  newClientPool(nil, cfg.Retain, cfg.History, cfg.Logger),
		gate:  newGate(cfg.MaxClients, cfg.MaxPerIP, cfg.CapLoopback),
		conns: newTracker(),
	}
	s.pool.metrics.buildInfo(cfg.Version)
	s.pool.grace = cfg.ResumeGrace
	s.pool.recentFor = cfg.ResumeGrace + max(recentSlack, cfg.PingInterval+cfg.PingTimeout+writeTimeout)
	s.pool.node = cfg.Node
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		var err error
		if s.cert, err = loadCertificate(cfg.TLSCert, cfg.TLSKey); err != nil {
			return nil, err
		}
	}
	if cfg.Assets != nil {
		var err error
		if s.assets, err = loadAssets(cfg.Assets); err != nil {
			return nil, err
		}
	}
	s.http = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      cfg.HTTPWriteTimeout, // the first write's; writeDeadlines moves it for the rest
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// Listen opens the room's log and binds both listeners. Port 0 picks a
// free port; TCPAddr and HTTPAddr report what was bound. If it fails,
// nothing stays open.
func (s *Server) Listen() error {
	if err := s.openLog(); err != nil {
		return err
	}
	var err error
	if s.tcpLn, err = net.Listen("tcp", s.cfg.TCPAddr); err != nil {
		s.pool.roomLog.Close()
		return fmt.Errorf("tcp listener: %w", err)
	}
	if s.httpLn, err = net.Listen("tcp", s.cfg.HTTPAddr); err != nil {
		s.tcpLn.Close()
		s.pool.roomLog.Close()
		return fmt.Errorf("http listener: %w", err)
	}
	return nil
}

// openLog opens the room's log: on disk under DataDir, or in memory, on
// the embedded server (alone or routed to its ClusterPeers), or on NATS.
func (s *Server) openLog() error {
	cfg := roomlog.Config{
		Dir: s.cfg.DataDir, Ephemeral: s.cfg.Ephemeral, SyncAlways: s.cfg.Fsync,
		URLs: s.cfg.NATS, Room: s.cfg.Room, OnConnection: s.natsChanged, Logger: s.log,
		ClusterListen: s.cfg.ClusterListen, ClusterPeers: s.cfg.ClusterPeers, Node: s.cfg.Node,
	}
	switch {
	case s.cfg.NATS != "":
		cfg.Replicas = 3 // so the room outlives a server of the cluster
	case s.cfg.ClusterListen != "":
		servers := 1 // this one and its peers, but its own address may be among them
		for _, p := range s.cfg.ClusterPeers {
			if p != s.cfg.ClusterListen {
				servers++
			}
		}
		cfg.Replicas = min(servers, 3)
		s.log.Info("waiting for the cluster to form", "node", s.cfg.Node, "listen", s.cfg.ClusterListen, "peers", strings.Join(s.cfg.ClusterPeers, ","), "replicas", cfg.Replicas)
	}
	l, err := roomlog.Open(cfg)
	if err != nil && s.cfg.NATS != "" && (strings.Contains(err.Error(), "insufficient resources") || strings.Contains(err.Error(), "not supported in non-clustered mode")) {
		s.log.Warn("the nats cluster cannot keep 3 copies of the room; keeping 1", "err", err)
		cfg.Replicas = 1
		l, err = roomlog.Open(cfg)
	}
	if err != nil {
		return err
	}
	s.pool.roomLog = natsLog{l}
	return nil
}

// TCPAddr returns the bound address of the netcat listener.
func (s *Server) TCPAddr() net.Addr { return s.tcpLn.Addr() }

// HTTPAddr returns the bound address of the web listener.
func (s *Server) HTTPAddr() net.Addr { return s.httpLn.Addr() }

// TLS reports whether the server speaks TLS (HTTPS, WSS, and on the TCP
// port beside plain lines).
func (s *Server) TLS() bool { return s.cert != nil }

// Pool returns the server's room.
func (s *Server) Pool() *ClientPool { return s.pool }

// Serve runs the room until ctx is done, then stops gracefully: it stops
// accepting, tells every member the server is shutting down, and waits for
// their connections to end, cutting those still open after StopTimeout.
// Listen must have been called.
func (s *Server) Serve(ctx context.Context) error {
	defer s.pool.roomLog.Close()
	defer s.pool.bg.Wait() // the leaves still being appended, once the pool has stopped
	poolCtx, stopPool := context.WithCancel(context.Background())
	var background sync.WaitGroup
	defer background.Wait()
	defer stopPool()
	background.Go(func() { s.pool.Run(poolCtx) })
	aliveCtx, cancelAlive := context.WithTimeout(context.Background(), appendTimeout)
	err := s.pool.roomLog.Alive(aliveCtx, s.pool.node)
	cancelAlive()
	watchCtx, stopWatching := context.WithCancel(context.Background())
	defer stopWatching()
	started := make(chan struct{})
	var follower follower
	if err == nil {
		background.Go(func() { s.watchNodes(watchCtx, started) })
		follower, err = s.pool.Start() // a stop asked for now comes after the replay
	}
	if err != nil {
		s.tcpLn.Close()
		s.httpLn.Close()
		return err
	}
	defer follower.Stop()
	stopSignals, err := s.pool.roomLog.OnSignal(s.pool.heardSignal)
	if err != nil {
		s.tcpLn.Close()
		s.httpLn.Close()
		return err
	}
	defer stopSignals()
	close(started)
	background.Go(func() { s.acceptTCP() })
	httpErr := make(chan error, 1)
	background.Go(func() {
		ln := s.httpLn
		if s.cert != nil {
			ln = tls.NewListener(ln, s.cert.config()) // HTTP/1.1 only: a WebSocket takes its connection over
		}
		if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			httpErr <- err
		}
	})
	s.log.Info("poolchat started", "version", s.cfg.Version, "web", s.HTTPAddr().String(), "tcp", s.TCPAddr().String(), "epoch", s.pool.roomLog.Epoch())

	select {
	case <-ctx.Done():
	case err = <-httpErr:
	}
	s.log.Info("poolchat stopping")
	stopWatching()
	s.lostMu.Lock()
	s.stopping = true
	if s.lostTimer != nil {
		s.lostTimer.Stop()
	}
	s.lostMu.Unlock()
	start := time.Now()
	s.tcpLn.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.cfg.StopTimeout)
	defer cancel()
	s.conns.stop()
	s.pool.Shutdown()
	if err := s.http.Shutdown(shutdownCtx); err != nil {
		s.http.Close()
	}
	if !waitTimeout(s.conns.wait, s.cfg.StopTimeout-time.Since(start)) {
		s.log.Warn("cutting connections still open", "after", s.cfg.StopTimeout)
		s.conns.closeAll()
		s.conns.wait()
	}
	s.log.Info("poolchat stopped", "took", time.Since(start).Round(time.Millisecond))
	return err
}

// contain turns a panic in one connection's goroutine into a log line, so
// it ends that connection only.
func (s *Server) contain(addr string) {
	if v := recover(); v != nil {
		s.log.Error("panic in connection", "addr", addr, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	}
}

// waitTimeout runs wait for at most d and reports whether it returned.
func waitTimeout(wait func(), d time.Duration) bool {
	done := make(chan struct{})
	go func() { wait(); close(done) }()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}
