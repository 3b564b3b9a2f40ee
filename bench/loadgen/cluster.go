//go:build linux

package main

// Scenario 9, three nodes (issue 14, SPEC §10): scenario 1's members and
// load spread over three poolchat processes whose embedded NATS servers
// are routed into one cluster, beside scenario 1 on one node in the same
// run.

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
)

// clusterResult is scenario 9's measure.
type clusterResult struct {
	Nodes   int       `json:"nodes"`
	Members int       `json:"members"`
	Single  runResult `json:"single_node"` // scenario 1 on one node, just before
	Cluster runResult `json:"cluster"`
	// Orders is how many different sequences of (sender, number) the
	// members received: 1 when every member saw every message in one
	// order, the room's.
	Orders   int     `json:"distinct_orders"`
	P99Ratio float64 `json:"p99_cluster_over_single"`
}

// threeNodes is scenario 9: scenario 1 on one node, then on three.
func threeNodes(bin string, sz sizes) (clusterResult, error) {
	res := clusterResult{Nodes: 3, Members: sz.TCP + sz.Web}
	var err error
	if res.Single, err = fanout(bin, sz, 0); err != nil {
		return res, fmt.Errorf("one node: %w", err)
	}
	nodes, err := startCluster(bin, res.Nodes)
	if err != nil {
		return res, err
	}
	defer stopAll(nodes)
	c, err := connectAll(nodes, sz.TCP, sz.Web, 0)
	if err != nil {
		return res, err
	}
	defer c.close()
	res.Cluster = c.run(sz.Senders, sz.Rate, sz.TextLen, sz.Duration)
	orders := map[uint64]bool{}
	for _, r := range c.readers {
		r.mu.Lock()
		orders[r.order] = true
		r.mu.Unlock()
	}
	res.Orders = len(orders)
	if res.Single.P99ms > 0 {
		res.P99Ratio = res.Cluster.P99ms / res.Single.P99ms
	}
	return res, nil
}

// startCluster runs n poolchat nodes at once, each with its own log,
// their embedded NATS servers routed to one another on loopback.
func startCluster(bin string, n int) ([]*serverProc, error) {
	routes := make([]string, n)
	for i := range routes {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		routes[i] = l.Addr().String()
		l.Close()
	}
	nodes, errs := make([]*serverProc, n), make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			nodes[i], errs[i] = startServer(bin, "--node", fmt.Sprintf("n%d", i),
				"--cluster-listen", routes[i], "--cluster-peers", strings.Join(routes, ","))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		stopAll(nodes)
		return nil, fmt.Errorf("start a cluster of %d: %w", n, err)
	}
	return nodes, nil
}

// stopAll stops every server started.
func stopAll(srvs []*serverProc) {
	var wg sync.WaitGroup
	for _, s := range srvs {
		if s != nil {
			wg.Go(func() { s.stop() })
		}
	}
	wg.Wait()
}
