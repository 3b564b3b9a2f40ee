package server

import (
	"net/netip"
	"sync"
)

// gate admits connections up to the server's limits: members at once, both
// transports together, and connections at once from one address. Loopback
// addresses are exempt from the per-address cap, for local development.
type gate struct {
	maxClients int
	maxPerIP   int // 0: no cap

	mu    sync.Mutex
	total int
	perIP map[netip.Addr]int
}

func newGate(maxClients, maxPerIP int) *gate {
	return &gate{maxClients: maxClients, maxPerIP: maxPerIP, perIP: make(map[netip.Addr]int)}
}

// admit takes a place for a connection from ip, or reports false when a
// limit is reached. Each true must be matched by one release.
func (g *gate) admit(ip netip.Addr) bool {
	ip = ip.Unmap()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.total >= g.maxClients {
		return false
	}
	capped := g.maxPerIP > 0 && !ip.IsLoopback()
	if capped && g.perIP[ip] >= g.maxPerIP {
		return false
	}
	g.total++
	if capped {
		g.perIP[ip]++
	}
	return true
}

// release gives back a place taken by admit.
func (g *gate) release(ip netip.Addr) {
	ip = ip.Unmap()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.total--
	if g.maxPerIP > 0 && !ip.IsLoopback() {
		if g.perIP[ip]--; g.perIP[ip] <= 0 {
			delete(g.perIP, ip)
		}
	}
}
