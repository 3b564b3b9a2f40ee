//go:build linux

package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSmoke runs every scenario at smoke-test sizes against the built
// binary: nothing lost, nothing out of order, every roster complete.
// The full benchmark (go tool task bench) takes minutes and is not a test.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin, relay := filepath.Join(dir, "poolchat"), filepath.Join(dir, "relay")
	for out, pkg := range map[string]string{bin: "../..", relay: "../relay"} {
		build := exec.Command("go", "build", "-o", out, pkg)
		if b, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	chromium := "" // the page is measured by the full run; its sizes need no browser
	// The gorilla chat example comes from the module proxy and is left to
	// the full run; the relay is this repository's.
	res, err := runAll(config{bin: bin, assets: "../../web/assets", peers: []target{{relayProtocol, relay}}, quick: true, only: "1,2,3,4,5,7,8,9"})
	if err != nil {
		t.Fatal(err)
	}
	if r := res.FanOut; r.Lost != 0 || r.OutOfOrder != 0 || r.Delivered == 0 {
		t.Errorf("fan-out: %+v", r)
	}
	for _, s := range res.Saturation {
		if s.Lost != 0 || s.OutOfOrder != 0 {
			t.Errorf("saturation step: %+v", s)
		}
	}
	if res.IdleTCP.BytesPerMember <= 0 || res.IdleWeb.BytesPerMember <= 0 {
		t.Errorf("idle memory: %+v %+v", res.IdleTCP, res.IdleWeb)
	}
	if !res.Storm.SnapshotFirst {
		t.Errorf("join storm: %+v", res.Storm)
	}
	if r := res.Slow; r.Lost != 0 || r.OutOfOrder != 0 {
		t.Errorf("slow members: %+v", r)
	}
	if len(res.Compare.Pairs) != 1 {
		t.Errorf("beside other servers: %+v", res.Compare)
	}
	for _, p := range res.Compare.Pairs {
		for _, r := range append(p.Poolchat, p.Peer...) {
			if r.Lost != 0 || r.OutOfOrder != 0 || r.Delivered == 0 {
				t.Errorf("beside %s: %+v", p.Other, r)
			}
		}
	}
	if r := res.Restart; r.Run.Lost != 0 || r.Run.OutOfOrder != 0 || r.Run.Delivered == 0 || r.Resumed != r.Members || r.Presence != 0 {
		t.Errorf("restart under load: %+v", r)
	}
	if r := res.Cluster; r.Cluster.Lost != 0 || r.Cluster.OutOfOrder != 0 || r.Cluster.Delivered == 0 || r.Orders != 1 {
		t.Errorf("three nodes: %+v", r)
	}
	p, err := page(bin, "../../web/assets", chromium)
	if err != nil || p.WasmBrotli == 0 {
		t.Errorf("page: %+v, %v", p, err)
	}
	if md := markdown(res); len(md) == 0 {
		t.Error("no markdown")
	}
}

// TestAgainstBaseline runs the scenarios compared against a baseline at
// smoke-test sizes, the same binary on both sides: every round has both
// sides' measures, and the table has a row for each scenario's criterion.
func TestAgainstBaseline(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "poolchat")
	if b, err := exec.Command("go", "build", "-o", bin, "../..").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	res, err := runAll(config{bin: bin, baseline: bin, quick: true, only: "1,2,3,4,5,6,7"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rounds) != quickSizes.Rounds || res.FanOut != nil {
		t.Fatalf("rounds %d, own measures %+v", len(res.Rounds), res.measures)
	}
	for i, r := range res.Rounds {
		for side, m := range map[string]measures{"baseline": r.Baseline, "server": r.Server} {
			if m.FanOut == nil || len(m.Saturation) == 0 || m.IdleTCP == nil || m.IdleWeb == nil || m.Storm == nil || m.Slow == nil {
				t.Errorf("round %d, %s: a scenario is missing: %+v", i+1, side, m)
			}
			if m.Page != nil || m.Compare != nil {
				t.Errorf("round %d, %s: scenarios 6 and 7 ran", i+1, side)
			}
		}
	}
	md := markdown(res)
	for _, want := range []string{"| 1 | p99 ms", "| 2 | deliveries/s within", "| 3 | idle TCP", "| 3 | idle WebSocket", "| 4 | s until", "| 5 | p99 ms"} {
		if !strings.Contains(md, want) {
			t.Errorf("no row %q in\n%s", want, md)
		}
	}
	t.Log("\n" + md)
}
