package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"time"

	"github.com/poolchat/poolchat/server"
	"github.com/poolchat/poolchat/server/roomlog"
)

// version is stamped at build time with -ldflags "-X main.version=v1.2.3".
var version string

// config is the command line, parsed.
type config struct {
	httpAddr       string
	tcpAddr        string
	allowedOrigins string
	allowedHosts   string
	history        int
	maxClients     int
	maxPerIP       int
	logFormat      string
	dataDir        string
	ephemeral      bool
	retain         int
	resumeGrace    time.Duration
	fsync          bool
	tlsCert        string
	tlsKey         string
	nats           string
	room           string
	node           string
	clusterListen  string
	clusterPeers   string
	showVersion    bool
	devReload      bool // POOLCHAT_DEV: set by `go tool task dev`
}

// usageError is a mistake on the command line; main exits 2 for it.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() + " (see poolchat --help)" }
func (e usageError) Unwrap() error { return e.err }

var errHelpShown = errors.New("help shown")

const usageHead = `poolchat runs one chat room that people join from a browser or from a
terminal (nc, telnet), all in the same pool.

Usage:
  poolchat [flags]

Flags:
`

const usageTail = `
Every flag but --version and --help can also be set in the environment, as
shown: POOLCHAT_ and the flag's name in capitals with _ for -. The command
line wins over the environment.

Then open http://localhost:8080 in a browser, or run: nc localhost 3000
`

// parseFlags reads the command line, with POOLCHAT_* environment variables as
// defaults. --help prints the usage to stdout and returns errHelpShown.
func parseFlags(args []string, getenv func(string) string, stdout io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("poolchat", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.httpAddr, "http-addr", ":8080", "serve the page and WebSocket on `ADDR`")
	fs.StringVar(&c.tcpAddr, "tcp-addr", ":3000", "listen for netcat/telnet on `ADDR`")
	fs.StringVar(&c.allowedOrigins, "allowed-origins", "", "also accept /ws from these Origin host patterns (comma-separated `LIST`)")
	fs.StringVar(&c.allowedHosts, "allowed-hosts", "", "also answer to these Host names (comma-separated `LIST`); IP\nliterals, localhost and this machine's hostname always work")
	fs.IntVar(&c.history, "history", 50, "replay the last `N` messages to each newcomer (0 turns it off)")
	fs.IntVar(&c.maxClients, "max-clients", 10000, "allow at most `N` members at once, both transports together")
	fs.IntVar(&c.maxPerIP, "max-per-ip", 32, "allow at most `N` connections at once from one address\n(0: no cap; loopback is exempt)")
	fs.StringVar(&c.logFormat, "log-format", "text", "write logs to stderr as `text|json`")
	fs.StringVar(&c.dataDir, "data", "poolchat-data", "keep the room's log (history, who is in) in `DIR`, created 0700")
	fs.BoolVar(&c.ephemeral, "ephemeral", false, "keep the room in memory only: nothing is written to disk, a restart forgets it")
	fs.IntVar(&c.retain, "retain", 10000, "keep the last `N` chat messages in the log, for history")
	fs.DurationVar(&c.resumeGrace, "resume-grace", 60*time.Second, "a web member whose connection drops keeps its place for `D`,\nand takes it back unseen if it returns (0 turns resume off)")
	fs.StringVar(&c.nats, "nats", "", "keep the room on this NATS cluster (JetStream enabled; comma-separated `URLS`)\ninstead of the embedded server; --data and --ephemeral are then unused")
	fs.StringVar(&c.room, "room", "pool", "the room's `NAME` on NATS: nodes with the same NATS and room share it\n(lower-case letters, digits, - and _)")
	fs.StringVar(&c.node, "node", "", "this node's `NAME` among the room's nodes (default: hostname and a random suffix)")
	fs.StringVar(&c.clusterListen, "cluster-listen", "", "let the embedded NATS server listen on `ADDR` for routes from other nodes'\n(needs --cluster-peers and --node; listen on a private network: routes are not authenticated)")
	fs.StringVar(&c.clusterPeers, "cluster-peers", "", "route the embedded NATS server to these other nodes' --cluster-listen\naddresses (comma-separated `LIST`); three nodes or more keep the room in 3 copies")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "serve HTTPS and WSS, and TLS on the TCP port beside plain lines, with the\ncertificate (chain) in `FILE`; read again on SIGHUP")
	fs.StringVar(&c.tlsKey, "tls-key", "", "the private key of --tls-cert, in `FILE`")
	fs.BoolVar(&c.fsync, "fsync", false, "make every event reach the disk before anyone sees it: slower,\nbut a power loss loses nothing (without it, up to 2 minutes)")
	fs.BoolVar(&c.showVersion, "version", false, "print the version and exit")

	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		if name == "" {
			return
		}
		if v := getenv(name); v != "" && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = usageError{fmt.Errorf("invalid value %q for %s: %v", v, name, err)}
			}
		}
	})
	if envErr != nil {
		return c, envErr
	}
	c.devReload = getenv("POOLCHAT_DEV") != ""
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout, fs)
			return c, errHelpShown
		}
		return c, usageError{err}
	}
	switch {
	case fs.NArg() > 0:
		return c, usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	case c.history < 0:
		return c, usageError{errors.New("--history must be 0 or more")}
	case c.maxClients < 1:
		return c, usageError{errors.New("--max-clients must be at least 1")}
	case c.maxPerIP < 0:
		return c, usageError{errors.New("--max-per-ip must be 0 or more")}
	case (c.tlsCert == "") != (c.tlsKey == ""):
		return c, usageError{errors.New("--tls-cert and --tls-key go together")}
	case c.resumeGrace < 0:
		return c, usageError{errors.New("--resume-grace must be 0 or more")}
	case c.retain < 1:
		return c, usageError{errors.New("--retain must be at least 1")}
	case c.dataDir == "" && !c.ephemeral:
		return c, usageError{errors.New("--data needs a directory (or use --ephemeral)")}
	case c.logFormat != "text" && c.logFormat != "json":
		return c, usageError{fmt.Errorf("--log-format must be text or json, not %q", c.logFormat)}
	}
	return c, checkNodeFlags(c)
}

// checkNodeFlags checks the flags of section 10 (--room, --node and the
// embedded cluster's), with the rules the room's log applies, so that a
// mistake there is a usage error before anything starts.
func checkNodeFlags(c config) error {
	switch {
	case c.clusterListen != "" && c.nats != "":
		return usageError{errors.New("--cluster-listen is for the embedded server; with --nats the cluster is NATS's own")}
	case c.clusterListen != "" && c.ephemeral:
		return usageError{errors.New("--cluster-listen cannot be --ephemeral: a clustered NATS keeps its state on disk")}
	case c.clusterListen != "" && c.node == "":
		return usageError{errors.New("--cluster-listen needs --node: the cluster knows each server by a name that stays the same")}
	case (c.clusterListen == "") != (c.clusterPeers == ""):
		return usageError{errors.New("--cluster-listen and --cluster-peers go together")}
	}
	if err := roomlog.CheckRoom(c.room); err != nil {
		return usageError{fmt.Errorf("--room: %w", err)}
	}
	if c.node != "" {
		if err := roomlog.CheckNode(c.node); err != nil {
			return usageError{fmt.Errorf("--node: %w", err)}
		}
	}
	if c.clusterListen == "" {
		return nil
	}
	if err := roomlog.CheckAddr(c.clusterListen); err != nil {
		return usageError{fmt.Errorf("--cluster-listen: %w", err)}
	}
	peers := splitList(c.clusterPeers)
	if len(peers) == 0 {
		return usageError{errors.New("--cluster-peers needs at least one address")}
	}
	for _, p := range peers {
		if err := roomlog.CheckAddr(p); err != nil {
			return usageError{fmt.Errorf("--cluster-peers: %w", err)}
		}
	}
	return nil
}

// commandLineOnly names the flags no environment variable sets. They ask
// for an action instead of configuring the server, so a variable left in a
// shell or a unit file must not turn every start into that action.
var commandLineOnly = map[string]bool{"version": true, "help": true}

// envName returns the environment variable that sets the named flag, or ""
// if only the command line does.
func envName(flagName string) string {
	if commandLineOnly[flagName] {
		return ""
	}
	return "POOLCHAT_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// printUsage writes --help: each flag with its default and environment
// variable.
func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, usageHead)
	line := func(left, usage string) {
		usage = strings.ReplaceAll(usage, "\n", "\n"+strings.Repeat(" ", 28))
		fmt.Fprintf(w, "  %-25s %s\n", left, usage)
	}
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		left := "--" + f.Name
		if arg != "" {
			left += " " + arg
		}
		var notes []string
		if f.DefValue != "" && f.DefValue != "false" {
			notes = append(notes, fmt.Sprintf("default %q", f.DefValue))
		}
		if env := envName(f.Name); env != "" {
			notes = append(notes, "env "+env)
		}
		if len(notes) > 0 {
			usage += "\n(" + strings.Join(notes, ", ") + ")"
		}
		line(left, usage)
	})
	line("--help", "print this help and exit")
	fmt.Fprint(w, usageTail)
}

// newServer builds the server the command line describes, logging to logw.
func newServer(c config, logw io.Writer) (*server.Server, error) {
	var handler slog.Handler = slog.NewTextHandler(logw, nil)
	if c.logFormat == "json" {
		handler = slog.NewJSONHandler(logw, nil)
	}
	v, _ := buildVersion()
	return server.New(server.Config{
		HTTPAddr:       c.httpAddr,
		TCPAddr:        c.tcpAddr,
		AllowedOrigins: splitList(c.allowedOrigins),
		AllowedHosts:   splitList(c.allowedHosts),
		History:        c.history,
		MaxClients:     c.maxClients,
		MaxPerIP:       c.maxPerIP,
		DataDir:        c.dataDir,
		Ephemeral:      c.ephemeral,
		Retain:         c.retain,
		ResumeGrace:    cmp.Or(c.resumeGrace, -1), // 0 on the command line: off
		Fsync:          c.fsync,
		TLSCert:        c.tlsCert,
		TLSKey:         c.tlsKey,
		NATS:           c.nats,
		Room:           c.room,
		Node:           c.node,
		ClusterListen:  c.clusterListen,
		ClusterPeers:   splitList(c.clusterPeers),
		Assets:         assets(),
		Version:        v,
		DevReload:      c.devReload,
		Logger:         slog.New(handler),
	})
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// buildVersion returns the version stamped with -ldflags
// "-X main.version=...", else the one the Go toolchain recorded: the module
// version (a release tag, or a pseudo-version naming the VCS revision, with
// +dirty for uncommitted changes), else the bare VCS revision. known is
// false when the build recorded none; the version is then "devel".
func buildVersion() (v string, known bool) {
	if version != "" {
		return version, true
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel", false
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v, true
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev != "" {
		return "devel-" + rev[:min(12, len(rev))] + dirty, true
	}
	return "devel", false
}

// versionLine is what --version prints. A build without a version says how
// to make one that has it: `go run` and `go test` record no VCS
// information, nor does `go build` with -buildvcs=false in GOFLAGS.
func versionLine() string {
	v, known := buildVersion()
	if !known {
		v += ` (no version recorded: build in a git clone with -buildvcs=true, or stamp one with -ldflags "-X main.version=...")`
	}
	return "poolchat " + v
}

// displayAddr returns a bound address as a person would type it: an
// unspecified host (all interfaces) becomes localhost.
func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// displayHostPort returns a bound address as nc's two arguments.
func displayHostPort(a net.Addr) string {
	host, port, err := net.SplitHostPort(displayAddr(a))
	if err != nil {
		return a.String()
	}
	return host + " " + port
}
