package roomlog

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// startupTimeout bounds how long Open waits for the embedded server to
// finish starting; it is a safety net, never reached in a healthy start.
const startupTimeout = 30 * time.Second

// serverOptions are the options of an embedded NATS server with JetStream
// that listens on nothing: the only way in is an in-process connection.
// Open sets the store directory, and clusterOptions what a cluster needs.
func serverOptions() *natsserver.Options {
	return &natsserver.Options{
		ServerName:             "poolchat",
		DontListen:             true,
		JetStream:              true,
		NoSigs:                 true, // the program owns its signals
		DisableJetStreamBanner: true,
	}
}

// startServer starts an embedded NATS server with opts and waits until it
// is ready, or has failed.
func startServer(opts *natsserver.Options, logger *slog.Logger) (*natsserver.Server, error) {
	s, err := natsserver.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats server: %w", err)
	}
	// Always install a logger, even without a slog.Logger: the server
	// reports a failure to enable JetStream only through Fatalf, and
	// without a logger that failure would pass silently.
	nl := &natsLogger{slog: logger}
	s.SetLoggerV2(nl, false, false, false)
	s.Start()
	if err := nl.fatal(); err != nil {
		shutdown(s)
		return nil, fmt.Errorf("embedded nats server: %w", err)
	}
	// A listener that fails (a cluster port in use) fails on a goroutine
	// of the server's, which logs it as fatal: look for that while waiting.
	for deadline := time.Now().Add(startupTimeout); !s.ReadyForConnections(100 * time.Millisecond); {
		if err := nl.fatal(); err != nil {
			shutdown(s)
			return nil, fmt.Errorf("embedded nats server: %w", err)
		}
		if time.Now().After(deadline) {
			shutdown(s)
			return nil, errors.New("embedded nats server: not ready")
		}
	}
	return s, nil
}

// shutdown stops s and returns once all its goroutines are gone.
func shutdown(s *natsserver.Server) {
	s.Shutdown()
	s.WaitForShutdown()
}

// natsLogger passes the embedded server's lines to a slog.Logger at Debug
// level, and keeps the first fatal one, which the server logs instead of
// returning.
type natsLogger struct {
	slog *slog.Logger // nil: lines are dropped

	mu       sync.Mutex
	fatalMsg string
}

func (l *natsLogger) fatal() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fatalMsg == "" {
		return nil
	}
	return errors.New(l.fatalMsg)
}

func (l *natsLogger) log(level, format string, v []any) {
	if l.slog != nil {
		l.slog.Debug(fmt.Sprintf(format, v...), "nats_level", level)
	}
}

func (l *natsLogger) Noticef(format string, v ...any) { l.log("notice", format, v) }
func (l *natsLogger) Warnf(format string, v ...any)   { l.log("warn", format, v) }
func (l *natsLogger) Errorf(format string, v ...any)  { l.log("error", format, v) }
func (l *natsLogger) Debugf(format string, v ...any)  { l.log("debug", format, v) }
func (l *natsLogger) Tracef(format string, v ...any)  { l.log("trace", format, v) }

func (l *natsLogger) Fatalf(format string, v ...any) {
	l.log("fatal", format, v)
	l.mu.Lock()
	if l.fatalMsg == "" {
		l.fatalMsg = fmt.Sprintf(format, v...)
	}
	l.mu.Unlock()
}

// ephemeralStoreDir makes the directory an ephemeral log hands to JetStream.
// JetStream insists on a store directory even when every stream is in
// memory: it creates it and probes that it is writable as it starts. The
// directory is private to this process and Open removes it as soon as the
// server is up, so it exists for the length of Open only and never holds
// any of the room's entries.
func ephemeralStoreDir() (string, error) {
	dir, err := os.MkdirTemp("", "poolchat-ephemeral-")
	if err != nil {
		return "", fmt.Errorf("ephemeral store dir: %w", err)
	}
	return dir, nil
}
