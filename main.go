// Command poolchat runs one chat room that people join from a browser or
// from a terminal with nc or telnet, all in the same pool.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	"github.com/poolchat/poolchat/server"
)

// gcPercent is the collector's target when GOGC is not set: the heap may
// grow to 1.5× what is live instead of Go's 2×. Under load most of what a
// room allocates is short-lived (frames, log entries), so the headroom is
// what a busy server's memory grows by; at 50 the fan-out's CPU per
// delivery did not move (bench/NOTES.md, issue 17).
const gcPercent = 50

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "poolchat:", err)
	if errors.As(err, new(usageError)) {
		os.Exit(2)
	}
	os.Exit(1)
}

// run is the whole program: it parses the command line, opens the room and
// serves it until ctx is done or SIGINT/SIGTERM arrives.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, getenv, stdout)
	if errors.Is(err, errHelpShown) {
		return nil
	}
	if err != nil {
		return err
	}
	if cfg.showVersion {
		fmt.Fprintln(stdout, versionLine())
		return nil
	}
	srv, err := newServer(cfg, stderr)
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	v, _ := buildVersion()
	fmt.Fprintf(stdout, "poolchat %s: the room is open\n", v)
	scheme := "http"
	if srv.TLS() {
		scheme = "https"
	}
	fmt.Fprintf(stdout, "web  %s://%s\n", scheme, displayAddr(srv.HTTPAddr()))
	fmt.Fprintf(stdout, "tcp  nc %s\n", displayHostPort(srv.TCPAddr()))
	if srv.TLS() {
		fmt.Fprintf(stdout, "tls  openssl s_client -quiet -connect %s\n", displayAddr(srv.TCPAddr()))
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go reloadOnHangUp(ctx, srv, stderr)
	if path := getenv("POOLCHAT_MEMPROFILE"); path != "" {
		go writeHeapProfileAtStop(ctx, path)
	}
	if path := getenv("POOLCHAT_CPUPROFILE"); path != "" {
		stopProfile, err := startCPUProfile(path)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	return srv.Serve(ctx)
}

// reloadOnHangUp reads the TLS certificate again at each SIGHUP (after a
// renewal, say), until ctx is done.
func reloadOnHangUp(ctx context.Context, srv *server.Server, stderr io.Writer) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := srv.ReloadTLS(); err != nil {
				fmt.Fprintln(stderr, "poolchat: SIGHUP:", err)
			}
		}
	}
}

// writeHeapProfileAtStop writes a heap profile when ctx is done, before the
// members are gone: the benchmark sets POOLCHAT_MEMPROFILE to see what an
// idle member costs.
func writeHeapProfileAtStop(ctx context.Context, path string) {
	<-ctx.Done()
	runtime.GC()
	if f, err := os.Create(path); err == nil {
		pprof.WriteHeapProfile(f)
		f.Close()
	}
}

// startCPUProfile profiles the server until the returned function is
// called; the benchmark sets POOLCHAT_CPUPROFILE to find hot spots.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
