//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/chromedp"
)

// sizes are the scenario sizes: the issue's, or a quick smoke run's.
type sizes struct {
	TCP, Web     int
	Senders      int
	Rate         float64
	TextLen      int
	Duration     time.Duration
	Steps        []int // senders for the saturation steps
	Idle         int   // members per transport for the idle-memory run
	Storm        int
	Slow         int
	StepDuration time.Duration
	Rounds       int           // of each alternation: scenario 7's pairs, runs against a baseline
	CompareLoads []int         // senders at each of scenario 7's loads
	Restart      time.Duration // scenario 8's run; the server restarts a quarter into it
}

var fullSizes = sizes{
	TCP: 500, Web: 500, Senders: 25, Rate: 4, TextLen: 64, Duration: 20 * time.Second,
	Steps: []int{25, 50, 100, 150, 200, 250, 300, 400, 500, 700, 1000}, StepDuration: 10 * time.Second,
	Idle: 10000, Storm: 1000, Slow: 10, Rounds: 3, Restart: 20 * time.Second,
	CompareLoads: []int{25, 100}, // 100k and 400k deliveries/s to 1000 members
}

var quickSizes = sizes{
	TCP: 10, Web: 10, Senders: 5, Rate: 4, TextLen: 64, Duration: 2 * time.Second,
	Steps: []int{5, 10}, StepDuration: 2 * time.Second,
	Idle: 50, Storm: 20, Slow: 2, Rounds: 1, Restart: 4 * time.Second,
	CompareLoads: []int{5, 20},
}

// sizesOf is the full or the quick sizes.
func sizesOf(quick bool) sizes {
	if quick {
		return quickSizes
	}
	return fullSizes
}

// fanout is scenario 1 (and, with slow members, scenario 5).
func fanout(bin string, sz sizes, slow int) (runResult, error) {
	return fanOutOn(target{poolchatProtocol, bin}, sz.TCP, sz.Web, slow, sz)
}

// fanOutOn starts t, connects tcpN TCP and webN WebSocket members (and
// slow ones that never read), and runs scenario 1's paced load.
func fanOutOn(t target, tcpN, webN, slow int, sz sizes) (runResult, error) {
	srv, err := t.start()
	if err != nil {
		return runResult{}, err
	}
	defer srv.stop()
	c, err := connect(srv, tcpN, webN, slow)
	if err != nil {
		return runResult{}, err
	}
	defer c.close()
	res := c.run(sz.Senders, sz.Rate, sz.TextLen, sz.Duration)
	if slow > 0 && sz.Duration >= 15*time.Second {
		// Every slow member must have been dropped by now: a write that
		// makes no progress for 10 s ends its connection. (A smoke run is
		// too short for that.)
		if err := waitMembers(srv, tcpN+webN, 10*time.Second); err != nil {
			return res, fmt.Errorf("slow members not dropped: %w", err)
		}
	}
	return res, nil
}

// saturation is scenario 2: more senders step by step, until p99 passes
// 100 ms or something is lost.
func saturation(bin string, sz sizes) ([]runResult, error) {
	srv, err := startServer(bin)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	c, err := connect(srv, sz.TCP, sz.Web, 0)
	if err != nil {
		return nil, err
	}
	defer c.close()
	var steps []runResult
	for _, senders := range sz.Steps {
		if senders > sz.TCP+sz.Web {
			break
		}
		r := c.run(senders, sz.Rate, sz.TextLen, sz.StepDuration)
		steps = append(steps, r)
		fmt.Fprintf(os.Stderr, "  saturation: %d senders: %.0f deliveries/s, p99 %.1f ms, lost %d\n", senders, r.PerSecond, r.P99ms, r.Lost)
		if r.P99ms > 100 || r.Lost > 0 {
			break
		}
	}
	return steps, nil
}

// idleResult is scenario 3's measure for one transport.
type idleResult struct {
	Members        int     `json:"members"`
	BaseMiB        float64 `json:"base_rss_mib"`
	RSSMiB         float64 `json:"rss_mib"`
	BytesPerMember float64 `json:"bytes_per_member"`
}

// idleMemory is scenario 3 for one transport: n idle members of t.
func idleMemory(t target, n int, web bool) (idleResult, error) {
	checkBacklog(n)
	srv, err := t.start()
	if err != nil {
		return idleResult{}, err
	}
	defer srv.stop()
	time.Sleep(time.Second)
	base := mustSample(srv)
	tcpN, webN := n, 0
	if web {
		tcpN, webN = 0, n
	}
	c, err := connect(srv, tcpN, webN, 0)
	if err != nil {
		return idleResult{}, err
	}
	after := settledSample(srv)
	if t.proto == poolchatProtocol { // the only one that counts its members
		if got, err := members(srv); err != nil || got != n {
			c.close()
			return idleResult{}, fmt.Errorf("idle memory: the server counts %d members after the wait, want %d (%v)", got, n, err)
		}
	}
	srv.stop() // first, so a heap profile (-memprofile) shows the idle members
	c.close()
	return idleResult{
		Members: n, BaseMiB: float64(base.rss) / (1 << 20), RSSMiB: float64(after.rss) / (1 << 20),
		BytesPerMember: float64(after.rss-base.rss) / float64(n),
	}, nil
}

// checkBacklog warns when the kernel may drop what n idle members'
// connections send. Members that joined together go idle together, so the
// server's TCP keepalive probes (every 15 s once idle) leave in bursts of
// n, and their answers come back as another n; over loopback both queue in
// one backlog (net.core.netdev_max_backlog, 1000 by default), which drops
// the rest. A connection whose nine probes in a row go unanswered is cut
// 150 s after it went idle: at 10,000 members, 4% to 68% of them in five
// runs, before scenario 3 read memory (and the baseline and the server
// lost different shares, which made their comparison meaningless).
func checkBacklog(n int) {
	b, err := os.ReadFile("/proc/sys/net/core/netdev_max_backlog")
	if err != nil {
		return
	}
	if backlog, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && backlog < 2*n {
		fmt.Fprintf(os.Stderr, "loadgen: net.core.netdev_max_backlog is %d: the keepalive probes of %d idle members may be dropped and their connections cut after 150 s; as root: sysctl -w net.core.netdev_max_backlog=%d\n", backlog, n, 4*n)
	}
}

// settledSample waits for the server's memory to settle after the joins,
// through Go's forced GC (every 2 minutes) which shrinks idle goroutine
// stacks, and the scavenger returning freed memory, then samples it.
func settledSample(srv *serverProc) procSample {
	last := mustSample(srv)
	deadline := time.Now().Add(idleSettle)
	for time.Now().Before(deadline) {
		time.Sleep(min(5*time.Second, time.Until(deadline)))
		s := mustSample(srv)
		fmt.Fprintf(os.Stderr, "  idle: RSS %.1f MiB\n", float64(s.rss)/(1<<20))
		last = s
	}
	return last
}

// idleSettle is how long idle members sit before their memory is read:
// past one forced GC (every 2 minutes after the last).
var idleSettle = 200 * time.Second

// comparison is one pair of scenario 7: poolchat and another server with
// the same members on one transport under one load (scenario 1's rate,
// Senders senders), in rounds that alternate between the two, since this
// machine's speed drifts.
type comparison struct {
	Other     string `json:"other"`
	Transport string `json:"transport"`
	// Clients is the generator's WebSocket members (-clients); empty for TCP.
	Clients  string      `json:"websocket_clients,omitempty"`
	Members  int         `json:"members"`
	Senders  int         `json:"senders"`
	Poolchat []runResult `json:"poolchat"` // one per round
	Peer     []runResult `json:"peer"`
}

// comparisons are scenario 7's measures.
type comparisons struct {
	Pairs []comparison `json:"pairs"`
	// GorillaIdle is the gorilla chat example's idle memory, to set beside
	// scenario 3's WebSocket figure.
	GorillaIdle *idleResult `json:"gorilla_idle,omitempty"`
}

// compare is scenario 7: each peer beside poolchat, on the transport the
// peer speaks, at each of sz.CompareLoads, in this one run on this one
// machine. A round runs poolchat at every load, then the peer; WebSocket
// pairs are measured with both generators, alternating within the round,
// since neither is what every client is. With idle, the gorilla example's
// idle memory is measured too, for scenario 3.
func compare(bin string, peers []target, sz sizes, idle bool) (comparisons, error) {
	var res comparisons
	n := sz.TCP + sz.Web
	for _, peer := range peers {
		tcpN, webN, transport, generators := n, 0, "TCP", []string{""}
		if peer.proto == gorillaProtocol {
			tcpN, webN, transport, generators = 0, n, "WebSocket", []string{epollClients, goroutineClients}
		}
		first := len(res.Pairs)
		for _, g := range generators {
			for _, senders := range sz.CompareLoads {
				res.Pairs = append(res.Pairs, comparison{Other: peer.proto.String(), Transport: transport, Clients: g, Members: n, Senders: senders})
			}
		}
		for range sz.Rounds {
			pairs := res.Pairs[first:]
			for _, g := range generators {
				ours, err := loadsOn(target{poolchatProtocol, bin}, tcpN, webN, g, sz)
				if err != nil {
					return res, err
				}
				theirs, err := loadsOn(peer, tcpN, webN, g, sz)
				if err != nil {
					return res, fmt.Errorf("%s: %w", peer.proto, err)
				}
				for i := range sz.CompareLoads {
					p := &pairs[i]
					p.Poolchat, p.Peer = append(p.Poolchat, ours[i]), append(p.Peer, theirs[i])
					fmt.Fprintf(os.Stderr, "  %s, %s %s, %d senders: poolchat p50 %.1f ms, p99 %.1f ms, CPU %.0f%%, %.1f (peak %.1f) KB/member; other p50 %.1f ms, p99 %.1f ms, CPU %.0f%%, %.1f (peak %.1f) KB/member\n",
						p.Other, transport, g, p.Senders, ours[i].P50ms, ours[i].P99ms, ours[i].CPU, ours[i].BytesPerMember/1000, ours[i].PeakBytesPerMember/1000,
						theirs[i].P50ms, theirs[i].P99ms, theirs[i].CPU, theirs[i].BytesPerMember/1000, theirs[i].PeakBytesPerMember/1000)
				}
				pairs = pairs[len(sz.CompareLoads):]
			}
		}
		if peer.proto == gorillaProtocol && idle {
			idle, err := idleMemory(peer, sz.Idle, true)
			if err != nil {
				return res, fmt.Errorf("%s idle: %w", peer.proto, err)
			}
			res.GorillaIdle = &idle
		}
	}
	return res, nil
}

// loadsOn starts t, connects tcpN TCP and webN WebSocket members read by
// the generator clients (as -clients; empty for the flag's), and runs
// scenario 1's paced load with each of sz.CompareLoads senders in turn.
func loadsOn(t target, tcpN, webN int, clients string, sz sizes) ([]runResult, error) {
	if clients != "" {
		defer func(was string) { wsClients = was }(wsClients)
		wsClients = clients
	}
	srv, err := t.start()
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	c, err := connect(srv, tcpN, webN, 0)
	if err != nil {
		return nil, err
	}
	defer c.close()
	var runs []runResult
	for _, senders := range sz.CompareLoads {
		runs = append(runs, c.run(senders, sz.Rate, sz.TextLen, sz.Duration))
	}
	return runs, nil
}

// stormResult is scenario 4's measure.
type stormResult struct {
	Members       int     `json:"members"`
	Seconds       float64 `json:"seconds_until_every_roster_complete"`
	SnapshotFirst bool    `json:"every_snapshot_before_live_events"`
}

// joinStorm is scenario 4: n members (half TCP, half WebSocket) join at
// once; it times until every one knows all n.
func joinStorm(bin string, n int) (stormResult, error) {
	srv, err := startServer(bin)
	if err != nil {
		return stormResult{}, err
	}
	defer srv.stop()
	recs := make([]*receiver, n)
	ms := make([]*member, n)
	errs := make(chan error, n)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		recs[i] = newReceiver(1, n)
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				ms[i], err = dialTCP(srv, i, recs[i], true)
			} else {
				ms[i], err = dialWS(srv, i, recs[i])
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	defer func() {
		for _, m := range ms {
			if m != nil {
				m.close()
			}
		}
	}()
	close(errs)
	if err := <-errs; err != nil {
		return stormResult{}, err
	}
	timeout := time.After(60 * time.Second)
	for _, r := range recs {
		select {
		case <-r.full:
		case <-timeout:
			return stormResult{}, errors.New("join storm: rosters incomplete after 60s")
		}
	}
	res := stormResult{Members: n, Seconds: time.Since(start).Seconds(), SnapshotFirst: true}
	for _, r := range recs {
		r.mu.Lock()
		res.SnapshotFirst = res.SnapshotFirst && !r.badSnap
		r.mu.Unlock()
	}
	return res, nil
}

// pageResult is scenario 6's measure.
type pageResult struct {
	WasmRaw      int64   `json:"wasm_raw_bytes"`
	WasmGzip     int64   `json:"wasm_gzip_bytes"`
	WasmBrotli   int64   `json:"wasm_brotli_bytes"`
	TotalBrotli  int64   `json:"page_total_brotli_bytes"`
	DialogMs     float64 `json:"ms_to_usable_name_dialog"`
	ClientMs     float64 `json:"ms_to_running_wasm_client"`
	BrowserError string  `json:"browser_error,omitempty"`
}

// page is scenario 6: what a browser downloads, and how soon the name
// dialog is usable in headless Chromium.
func page(bin, assets, chromium string) (pageResult, error) {
	var res pageResult
	size := func(name string) int64 {
		fi, err := os.Stat(filepath.Join(assets, name))
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	res.WasmRaw, res.WasmGzip, res.WasmBrotli = size("poolchat.wasm"), size("poolchat.wasm.gz"), size("poolchat.wasm.br")
	for _, f := range []string{"poolchat.wasm.br", "wasm_exec.js.br", "app.js.br", "style.css.br"} {
		res.TotalBrotli += size(f)
	}
	if chromium == "" {
		res.BrowserError = "no chromium"
		return res, nil
	}
	srv, err := startServer(bin)
	if err != nil {
		return res, err
	}
	defer srv.stop()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc, chromedp.WithErrorf(func(string, ...any) {}))
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, time.Minute)
	defer cancelT()
	if err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil { // start the browser first
		return res, err
	}
	var dialog, client float64
	err = chromedp.Run(ctx,
		chromedp.Navigate("http://"+srv.httpAddr+"/"),
		chromedp.Poll(`document.getElementById("name-dialog").open && document.activeElement.id === "name" && performance.now()`, &dialog),
		chromedp.Poll(`document.getElementById("loading").hidden && performance.now()`, &client),
	)
	res.DialogMs, res.ClientMs = dialog, client
	return res, err
}
