//go:build linux

// Command loadgen is poolchat's load benchmark (SPEC §8): it starts the
// real binary, drives it over loopback with TCP and WebSocket members from
// this separate process, and writes results.md and results.json.
//
// `go tool task bench` builds both and runs every scenario; -quick runs
// them at smoke-test sizes.
//
// Scenario 7 runs poolchat beside other servers, each on the transport it
// speaks: the relay floor (bench/relay) and gorilla/websocket's chat
// example, given by -relay and -gorilla.
//
// Scenario 8 restarts the server under load while its WebSocket members
// resume (restart.go); scenario 9 spreads scenario 1 over three nodes of
// one room (cluster.go).
//
// With -baseline, scenarios 1 to 5, 8 and 9 compare two poolchat
// binaries: each runs the baseline and then -server, for -rounds rounds,
// and the report sets every measure side by side with the ratio (see
// baseline.go).
//
// -clients chooses how the generator's WebSocket members read: raw
// sockets polled with epoll (the default), or a goroutine and a
// coder/websocket connection each (libclient.go).
//
// Usage: loadgen -server bin/poolchat [-relay bin/relay] [-gorilla bin/chat] [-quick] [-only 1,3] [-clients epoll|goroutine] [-out bench]
//
//	loadgen -server bin/poolchat -baseline /tmp/poolchat-old [-rounds 2] [-only 1,2,3,4] [-out DIR]
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"
)

// results is everything one benchmark run measured.
type results struct {
	Date    string `json:"date"`
	Machine string `json:"machine"`
	Quick   bool   `json:"quick"`
	// Clients is how the generator's WebSocket members read (-clients).
	Clients string `json:"websocket_clients"`
	measures
	// Against a baseline (-baseline) the measures above stay empty: each
	// round has both binaries' instead.
	Baseline string   `json:"baseline,omitempty"`
	Server   string   `json:"server,omitempty"`
	Rounds   []round  `json:"rounds,omitempty"`
	Errors   []string `json:"errors,omitempty"`
}

// measures are what the scenarios measured of one binary.
type measures struct {
	FanOut     *runResult     `json:"fanout,omitempty"`
	Saturation []runResult    `json:"saturation,omitempty"`
	IdleTCP    *idleResult    `json:"idle_tcp,omitempty"`
	IdleWeb    *idleResult    `json:"idle_web,omitempty"`
	Storm      *stormResult   `json:"join_storm,omitempty"`
	Slow       *runResult     `json:"slow_members,omitempty"`
	Page       *pageResult    `json:"page,omitempty"`
	Compare    *comparisons   `json:"compare,omitempty"`
	Restart    *restartResult `json:"restart,omitempty"`
	Cluster    *clusterResult `json:"three_nodes,omitempty"`
}

// config is what one run is asked to do.
type config struct {
	bin      string // the poolchat binary
	baseline string // if set, each scenario alternates between it and bin
	assets   string
	peers    []target // scenario 7's other servers
	quick    bool
	only     string
}

func main() {
	bin := flag.String("server", "bin/poolchat", "the poolchat binary to benchmark")
	out := flag.String("out", "bench", "directory for results.md and results.json")
	assets := flag.String("assets", "web/assets", "the built browser files, for their sizes")
	quick := flag.Bool("quick", false, "run every scenario at smoke-test sizes")
	only := flag.String("only", "1,2,3,4,5,6,7,8,9", "scenarios to run, comma-separated")
	relay := flag.String("relay", "", "the relay floor's binary, for scenario 7")
	gorilla := flag.String("gorilla", "", "gorilla/websocket's chat example's binary, for scenario 7")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "have the server write a CPU profile to this `file`")
	flag.StringVar(&memProfile, "memprofile", "", "have the server write a heap profile to this `file` when stopped")
	flag.StringVar(&serverLogs, "serverlogs", "", "write each server's stderr to a file in this `directory` (default: discarded)")
	idle := flag.Int("idle", 0, "members per transport for the idle-memory scenario (default: the scenario's)")
	soakFor := flag.Duration("soak", 0, "instead of the scenarios, soak the server for this long and append the result to bench/NOTES.md")
	selfProfile := flag.String("selfprofile", "", "write the load generator's own CPU profile to this `file`")
	flag.StringVar(&wsClients, "clients", epollClients, "how the generator's WebSocket members read: `epoll` (raw sockets, one poller per CPU) or goroutine (a coder/websocket client each)")
	baseline := flag.String("baseline", "", "run scenarios 1 to 5, 8 and 9 against this poolchat `binary` too, alternating with -server round by round")
	nRounds := flag.Int("rounds", 0, "rounds of each alternation, in scenario 7 and with -baseline (default 3, 1 with -quick)")
	flag.Parse()
	if wsClients != epollClients && wsClients != goroutineClients {
		fmt.Fprintf(os.Stderr, "loadgen: -clients is %s or %s, not %q\n", epollClients, goroutineClients, wsClients)
		os.Exit(2)
	}
	if *selfProfile != "" {
		f, err := os.Create(*selfProfile)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	if *soakFor > 0 {
		r, err := soak(*bin, *soakFor)
		f, ferr := os.OpenFile(filepath.Join(*out, "NOTES.md"), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
		if ferr == nil {
			f.WriteString(soakMarkdown(r, time.Now().UTC().Format(time.RFC3339)))
			f.Close()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen: soak:", err)
			os.Exit(1)
		}
		return
	}
	if *idle > 0 {
		fullSizes.Idle, quickSizes.Idle = *idle, *idle
	}
	if *nRounds > 0 {
		fullSizes.Rounds, quickSizes.Rounds = *nRounds, *nRounds
	}
	var peers []target
	if *relay != "" {
		peers = append(peers, target{relayProtocol, *relay})
	}
	if *gorilla != "" {
		peers = append(peers, target{gorillaProtocol, *gorilla})
	}
	res, runErr := runAll(config{bin: *bin, baseline: *baseline, assets: *assets, peers: peers, quick: *quick, only: *only})
	if err := write(*out, res); err != nil {
		runErr = err
	}
	if runErr != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", runErr)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func runAll(cfg config) (*results, error) {
	sz := sizesOf(cfg.quick)
	if cfg.quick {
		idleSettle = 3 * time.Second
	}
	want := chosen(cfg.only)
	res := &results{Date: time.Now().UTC().Format(time.RFC3339), Machine: fmt.Sprintf("%s/%s, %d CPUs", runtime.GOOS, runtime.GOARCH, runtime.NumCPU()), Quick: cfg.quick, Clients: wsClients}
	if cfg.baseline != "" {
		res.Baseline, res.Server, res.Rounds = cfg.baseline, cfg.bin, make([]round, sz.Rounds)
	}
	// A failed scenario is reported and the others still run.
	step := func(name, bin string, f func(string) error) {
		fmt.Fprintf(os.Stderr, "loadgen: %s, %s…\n", name, bin)
		start := time.Now()
		err := f(bin)
		fmt.Fprintf(os.Stderr, "loadgen: %s done in %v\n", name, time.Since(start).Round(time.Millisecond))
		if err != nil {
			fmt.Fprintf(os.Stderr, "loadgen: %s: %v\n", name, err)
			res.Errors = append(res.Errors, name+", "+bin+": "+err.Error())
		}
	}
	for _, sc := range scenarios(cfg, sz) {
		if !want[sc.id] {
			continue
		}
		name := sc.id + " " + sc.name
		if cfg.baseline == "" {
			step(name, cfg.bin, func(bin string) error { return sc.run(bin, &res.measures) })
			continue
		}
		if len(sc.compared) == 0 {
			fmt.Fprintf(os.Stderr, "loadgen: %s is not compared against a baseline; skipped\n", name)
			continue
		}
		// Baseline and server one after the other, round by round, like
		// scenario 7: this machine's speed drifts within minutes.
		for i := range res.Rounds {
			rd := &res.Rounds[i]
			step(fmt.Sprintf("%s, round %d", name, i+1), cfg.baseline, func(bin string) error { return sc.run(bin, &rd.Baseline) })
			step(fmt.Sprintf("%s, round %d", name, i+1), cfg.bin, func(bin string) error { return sc.run(bin, &rd.Server) })
			for _, row := range versusRows(sc, res.Rounds[:i+1]) {
				fmt.Fprintln(os.Stderr, "  "+row)
			}
		}
	}
	if len(res.Errors) > 0 {
		return res, fmt.Errorf("%d scenarios failed: %s", len(res.Errors), strings.Join(res.Errors, "; "))
	}
	return res, nil
}

// chosen is the set of scenarios -only names.
func chosen(only string) map[string]bool {
	want := map[string]bool{}
	for _, s := range strings.Split(only, ",") {
		want[strings.TrimSpace(s)] = true
	}
	return want
}

// scenario is one of the benchmark's scenarios: run measures bin into m;
// compared is what a run against a baseline sets side by side (none for
// the page and scenario 7, which are not compared).
type scenario struct {
	id, name string
	run      func(bin string, m *measures) error
	compared []metric
}

func scenarios(cfg config, sz sizes) []scenario {
	return []scenario{
		{"1", "fan-out", func(bin string, m *measures) error {
			r, err := fanout(bin, sz, 0)
			m.FanOut = &r
			return err
		}, runMetrics(func(m *measures) *runResult { return m.FanOut })},
		{"2", "saturation", func(bin string, m *measures) error {
			r, err := saturation(bin, sz)
			m.Saturation = r
			return err
		}, saturationMetrics(sz)},
		{"3", "idle memory", func(bin string, m *measures) error {
			t, err := idleMemory(target{poolchatProtocol, bin}, sz.Idle, false)
			if err != nil {
				return err
			}
			m.IdleTCP = &t
			w, err := idleMemory(target{poolchatProtocol, bin}, sz.Idle, true)
			if err == nil {
				m.IdleWeb = &w
			}
			return err
		}, idleMetrics},
		{"4", "join storm", func(bin string, m *measures) error {
			r, err := joinStorm(bin, sz.Storm)
			m.Storm = &r
			return err
		}, stormMetrics},
		{"5", "slow members", func(bin string, m *measures) error {
			r, err := fanout(bin, sz, sz.Slow)
			m.Slow = &r
			return err
		}, runMetrics(func(m *measures) *runResult { return m.Slow })},
		{"6", "page", func(bin string, m *measures) error {
			chromium, _ := exec.LookPath("chromium")
			r, err := page(bin, cfg.assets, chromium)
			m.Page = &r
			return err
		}, nil},
		{"7", "other servers", func(bin string, m *measures) error {
			if len(cfg.peers) == 0 {
				return errors.New("no other server given (-relay, -gorilla)")
			}
			r, err := compare(bin, cfg.peers, sz, chosen(cfg.only)["3"]) // gorilla's idle memory is for scenario 3's table
			m.Compare = &r
			return err
		}, nil},
		{"8", "restart under load", func(bin string, m *measures) error {
			r, err := restartUnderLoad(bin, sz)
			m.Restart = &r
			return err
		}, restartMetrics},
		{"9", "three nodes", func(bin string, m *measures) error {
			r, err := threeNodes(bin, sz)
			m.Cluster = &r
			return err
		}, clusterMetrics},
	}
}

// write saves results.json and the results.md table.
func write(dir string, r *results) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, _ := json.MarshalIndent(r, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results.md"), []byte(markdown(r)), 0o644)
}

// compareMarkdown is scenario 7 round by round: each pair's load, the
// generator, and both servers' latency, CPU and memory under load.
func compareMarkdown(x *comparisons) string {
	var b strings.Builder
	b.WriteString("\n## Scenario 7, by round\n\nMemory under load is the mean RSS sampled every 250 ms while messages were sent, less the RSS before anyone joined, per member, with the peak in parentheses (in a crowd's first run it may be what the joins left). CPU is the server's, per delivery.\n\n")
	b.WriteString("| other | members | generator | deliveries/s | round | poolchat p50 ms | p99 ms | CPU µs | KB/member | other p50 ms | p99 ms | CPU µs | KB/member | lost or out of order |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, p := range x.Pairs {
		gen := p.Clients
		if gen == "" {
			gen = "—"
		}
		for i := range p.Poolchat {
			o, t := p.Poolchat[i], p.Peer[i]
			fmt.Fprintf(&b, "| %s | %d %s | %s | %.0f / %.0f | %d | %.1f | %.1f | %.2f | %.1f (%.1f) | %.1f | %.1f | %.2f | %.1f (%.1f) | %d / %d |\n",
				p.Other, p.Members, p.Transport, gen, o.PerSecond, t.PerSecond, i+1,
				o.P50ms, o.P99ms, cpuPerDelivery(o), o.BytesPerMember/1000, o.PeakBytesPerMember/1000,
				t.P50ms, t.P99ms, cpuPerDelivery(t), t.BytesPerMember/1000, t.PeakBytesPerMember/1000, o.Lost+o.OutOfOrder, t.Lost+t.OutOfOrder)
		}
	}
	return b.String()
}

// ahead says in how many rounds poolchat was ahead of the other server on
// p50, p99 and memory under load.
func ahead(p comparison) string {
	var p50, p99, mem int
	for i := range p.Poolchat {
		o, t := p.Poolchat[i], p.Peer[i]
		p50 += btoi(o.P50ms < t.P50ms)
		p99 += btoi(o.P99ms < t.P99ms)
		mem += btoi(o.BytesPerMember <= t.BytesPerMember)
	}
	n := len(p.Poolchat)
	return fmt.Sprintf("poolchat ahead on p50 in %d of %d rounds, on p99 in %d, no heavier per member in %d", p50, n, p99, mem)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func markdown(r *results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# poolchat benchmark\n\n%s, %s%s. Server and load generator share the machine, over loopback. The generator's WebSocket members: %s (scenario 7 runs both kinds).\n\n",
		r.Date, r.Machine, map[bool]string{true: ", quick sizes", false: ""}[r.Quick], clientsText(r.Clients))
	if len(r.Rounds) > 0 {
		b.WriteString(versusMarkdown(r))
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "\nFailed: %s\n", e)
		}
		return b.String()
	}
	b.WriteString("| # | scenario | result | target |\n|---|---|---|---|\n")
	gen := fmt.Sprintf(" (generator: %s WebSocket members)", r.Clients)
	run := func(x *runResult) string {
		return fmt.Sprintf("%.0f deliveries/s, p50 %.2f ms, p99 %.2f ms, max %.1f ms, lost %d, out of order %d, server CPU %.0f%% (load generator %.0f%%), RSS %.0f MiB",
			x.PerSecond, x.P50ms, x.P99ms, x.Maxms, x.Lost, x.OutOfOrder, x.CPU, x.LoadCPU, x.RSSMiB)
	}
	if x := r.FanOut; x != nil {
		fmt.Fprintf(&b, "| 1 | fan-out, %d senders at 4/s%s | %s | 0 lost, 0 out of order, p99 ≤ 10 ms |\n", x.Senders, gen, run(x))
	}
	if len(r.Saturation) > 0 {
		best := bestStep(r.Saturation)
		var steps []string
		for _, s := range r.Saturation {
			steps = append(steps, fmt.Sprintf("%d→%.0f/s p99 %.0f ms", s.Senders, s.PerSecond, s.P99ms))
		}
		result := "no step within p99 ≤ 100 ms"
		if best >= 0 {
			s := r.Saturation[best]
			result = fmt.Sprintf("%.0f deliveries/s at %d senders (p99 %.1f ms)", s.PerSecond, s.Senders, s.P99ms)
		}
		fmt.Fprintf(&b, "| 2 | saturation%s | %s; steps: %s | ≥ 1,000,000 deliveries/s |\n", gen, result, strings.Join(steps, ", "))
	}
	if r.IdleTCP != nil {
		web := "WebSocket failed (below)"
		if r.IdleWeb != nil {
			web = fmt.Sprintf("WebSocket %.1f KB/member", r.IdleWeb.BytesPerMember/1000)
		}
		fmt.Fprintf(&b, "| 3 | idle memory, %d members%s | TCP %.1f KB/member, %s (base RSS %.0f MiB) | ≤ 8 KB TCP, ≤ 16 KB WebSocket |\n",
			r.IdleTCP.Members, gen, r.IdleTCP.BytesPerMember/1000, web, r.IdleTCP.BaseMiB)
	}
	if x := r.Storm; x != nil {
		fmt.Fprintf(&b, "| 4 | join storm, %d at once%s | every roster complete in %.2f s; snapshots first: %v | < 2 s, snapshots first |\n", x.Members, gen, x.Seconds, x.SnapshotFirst)
	}
	if x := r.Slow; x != nil {
		fmt.Fprintf(&b, "| 5 | fan-out plus slow members%s | %s; slow members dropped | p99 within 10%% of #1 |\n", gen, run(x))
	}
	if x := r.Page; x != nil {
		fmt.Fprintf(&b, "| 6 | the page | wasm %d B raw, %d B gzip, %d B brotli; page total %d B brotli; name dialog usable at %.0f ms, client running at %.0f ms | ≤ 500 KB brotli, ≤ 1 s |\n",
			x.WasmRaw, x.WasmGzip, x.WasmBrotli, x.TotalBrotli, x.DialogMs, x.ClientMs)
	}
	if x := r.Compare; x != nil {
		var parts []string
		for _, p := range x.Pairs {
			gen := ""
			if p.Clients != "" {
				gen = ", generator " + p.Clients
			}
			parts = append(parts, fmt.Sprintf("%s, %d %s members, %d senders%s: %s", p.Other, p.Members, p.Transport, p.Senders, gen, ahead(p)))
		}
		if g := x.GorillaIdle; g != nil {
			idle := fmt.Sprintf("%d idle WebSocket members: gorilla chat %.1f KB/member", g.Members, g.BytesPerMember/1000)
			if r.IdleWeb != nil {
				idle += fmt.Sprintf(", poolchat (#3) %.1f KB/member", r.IdleWeb.BytesPerMember/1000)
			}
			parts = append(parts, idle)
		}
		fmt.Fprintf(&b, "| 7 | beside other servers at scenario 1's rate, both generators on WebSocket (table below) | %s | ahead of the gorilla chat example on p50 and p99, no heavier per member under load; the relay is the floor |\n", strings.Join(parts, "; "))
	}
	if x := r.Restart; x != nil {
		fmt.Fprintf(&b, "| 8 | restart under load, %d WebSocket members, %d senders at 4/s%s | from the SIGTERM: old process gone %.2f s, new one serving %.2f s, half resumed %.2f s, all %d resumed %.2f s (%d refused, %d without every missed event), messages reaching every member %.2f s; %d joins or leaves seen; %d messages sent again, %d dials refused; across the run: %.0f deliveries/s, p50 %.2f ms, p99 %.2f ms, max %.1f ms, lost %d, out of order %d | < 3 s, 0 lost, 0 joins or leaves |\n",
			x.Members, x.Run.Senders, gen, x.ExitedSeconds, x.ServingSeconds, x.ResumedP50, x.Resumed, x.ResumedSeconds, x.ResumeFailed, x.NotRecovered, x.FlowingSeconds, x.Presence, x.Resent, x.Redials,
			x.Run.PerSecond, x.Run.P50ms, x.Run.P99ms, x.Run.Maxms, x.Run.Lost, x.Run.OutOfOrder)
	}
	if x := r.Cluster; x != nil {
		fmt.Fprintf(&b, "| 9 | three nodes, scenario 1's members spread over them%s | %d different orders among %d members; p99 %.1f× one node's (%.2f ms against %.2f ms), p50 %.2f ms against %.2f ms; three nodes: %s; one node: %s | one order, 0 lost, p99 ≤ 2× one node's |\n",
			gen, x.Orders, x.Members, x.P99Ratio, x.Cluster.P99ms, x.Single.P99ms, x.Cluster.P50ms, x.Single.P50ms, run(&x.Cluster), run(&x.Single))
	}
	if x := r.Compare; x != nil {
		b.WriteString(compareMarkdown(x))
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "\nFailed: %s\n", e)
	}
	return b.String()
}

// clientsText says what a -clients value means, for the reports.
func clientsText(clients string) string {
	if clients == goroutineClients {
		return "a goroutine and a coder/websocket connection each (`-clients goroutine`)"
	}
	return "raw sockets read by one epoll poller per CPU (`-clients epoll`)"
}

// bestStep is the index of the last saturation step within p99 ≤ 100 ms
// with nothing lost, or -1.
func bestStep(steps []runResult) int {
	best := -1
	for i, s := range steps {
		if s.P99ms <= 100 && s.Lost == 0 {
			best = i
		}
	}
	return best
}
