//go:build linux

package main

import (
	"os/exec"
	"path/filepath"
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
	res, err := runAll(bin, "../../web/assets", []target{{relayProtocol, relay}}, true, "1,2,3,4,5,7")
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
	p, err := page(bin, "../../web/assets", chromium)
	if err != nil || p.WasmBrotli == 0 {
		t.Errorf("page: %+v, %v", p, err)
	}
	if md := markdown(res); len(md) == 0 {
		t.Error("no markdown")
	}
}
