package server

import (
	"net/netip"
	"testing"
)

func TestGate(t *testing.T) {
	g := newGate(5, 2, false)
	remote := netip.MustParseAddr("192.0.2.7")
	other := netip.MustParseAddr("2001:db8::1")
	loop := netip.MustParseAddr("127.0.0.1")
	for i := range 2 {
		if g.admit(remote) != "" {
			t.Fatalf("connection %d from one address refused", i+1)
		}
	}
	if why := g.admit(remote); why != refusedPerIP {
		t.Fatalf("third from one address with --max-per-ip 2: %q, want %q", why, refusedPerIP)
	}
	if g.admit(netip.MustParseAddr("::ffff:192.0.2.7")) == "" {
		t.Fatal("an IPv4-mapped address escaped the per-address cap")
	}
	if g.admit(other) != "" || g.admit(loop) != "" || g.admit(loop) != "" {
		t.Fatal("other addresses refused")
	}
	if why := g.admit(loop); why != refusedFull {
		t.Fatalf("past --max-clients 5: %q, want %q", why, refusedFull)
	}
	g.release(remote)
	if g.admit(remote) != "" {
		t.Fatal("a released place was not given back")
	}
	g.release(loop)
	g.release(loop)
	for range 2 {
		if g.admit(loop) != "" {
			t.Fatal("loopback is exempt from the per-address cap")
		}
	}
}
