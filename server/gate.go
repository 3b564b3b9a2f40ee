package server

import (
	"net/netip"
	"sync"
)

// gate admits connections up to the server's limits: members at once, both
// transports together, and connections at once from one address. Loopback
// addresses are exempt from the per-address cap, for local development,
// unless capLoopback is set.
type gate struct {
	maxClients  int
	maxPerIP    int // 0: no cap
	capLoopback bool

	mu    sync.Mutex
	total int
	perIP map[netip.Addr]int
}

func newGate(maxClients, maxPerIP int, capLoopback bool) *gate {
	return &gate{maxClients: maxClients, maxPerIP: maxPerIP, capLoopback: capLoopback, perIP: make(map[netip.Addr]int)}
}

// capped reports whether ip counts against the per-address cap.
func (g *gate) capped(ip netip.Addr) bool {
	return g.maxPerIP > 0 && (g.capLoopback || !ip.IsLoopback())
}

// admit takes a place for a connection from ip, or says which limit is
// reached (refusedFull, refusedPerIP). Each place taken ("") must be
// matched by one release.
func (g *gate) admit(ip netip.Addr) (refused string) {
	ip = ip.Unmap()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.total >= g.maxClients {
		return refusedFull
	}
	capped := g.capped(ip)
	if capped && g.perIP[ip] >= g.maxPerIP {
		return refusedPerIP
	}
	g.total++
	if capped {
		g.perIP[ip]++
	}
	return ""
}

// release gives back a place taken by admit.
func (g *gate) release(ip netip.Addr) {
	ip = ip.Unmap()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.total--
	if g.capped(ip) {
		if g.perIP[ip]--; g.perIP[ip] <= 0 {
			delete(g.perIP, ip)
		}
	}
}
