package roomlog

// The embedded server routed into a cluster with other nodes' embedded
// servers (Config.ClusterListen, Config.ClusterPeers): JetStream in
// clustered mode, the room's stream and bucket in Replicas copies.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// ClusterWait bounds how long Open waits for an embedded cluster to form:
// for enough of the peers to be routed that JetStream elects a leader and
// can place Replicas copies of the room. A node started first waits for
// the others this long, then gives up with an error that says so.
const ClusterWait = 2 * time.Minute

// A try (retry), within ClusterWait to open the stream or the bucket,
// within the caller's context for a request to them later, waits
// firstAttempt for an answer, and each next one twice as long, up to
// lastAttempt: a request made while the cluster has no leader gets no
// answer at all, and the leader's answer to a creation comes only once
// the new stream's servers have elected theirs. clusterRetry is the pause
// between tries.
const (
	firstAttempt = time.Second
	lastAttempt  = 8 * time.Second
	clusterRetry = 100 * time.Millisecond
)

// watchEvery is how often a clustered log checks that its server is still
// routed to enough of the others.
const watchEvery = 250 * time.Millisecond

// A route whose peer stops answering (a network cut, a frozen process:
// nothing closes the connection) is closed once routePingsOut pings sent
// routePing apart go unanswered, rather than after NATS's default of two
// pings 30 s apart: watchRoutes then learns within seconds that its server
// is cut off from the others.
const (
	routePing     = time.Second
	routePingsOut = 3
)

// clusterName names the NATS cluster of a room's embedded servers, so
// that servers of another room cannot join it by mistake.
func clusterName(room string) string { return "poolchat-" + room }

// clusterOptions sets up opts, an embedded server's options, to route to
// cfg's peers and listen for theirs, with JetStream clustered. Routing in
// nats-server starts only once a client listener is up, so the server also
// listens for clients, on a random loopback port, behind a random token
// that only this process knows; token is what its connection must show.
func clusterOptions(opts *natsserver.Options, cfg Config, room string) (token string, err error) {
	if err := CheckNode(cfg.Node); err != nil {
		return "", fmt.Errorf("cluster: %w", err)
	}
	host, port, err := splitAddr(cfg.ClusterListen)
	if err != nil {
		return "", fmt.Errorf("cluster listen address: %w", err)
	}
	if len(cfg.ClusterPeers) == 0 {
		return "", errors.New("cluster: no peers to route to")
	}
	routes := make([]*url.URL, 0, len(cfg.ClusterPeers))
	for _, p := range cfg.ClusterPeers {
		if _, _, err := splitAddr(p); err != nil {
			return "", fmt.Errorf("cluster peer %q: %w", p, err)
		}
		routes = append(routes, &url.URL{Scheme: "nats", Host: p})
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	token = hex.EncodeToString(b[:])

	opts.ServerName = cfg.Node
	opts.DontListen = false
	opts.Host = "127.0.0.1"
	opts.Port = natsserver.RANDOM_PORT
	opts.Authorization = token
	opts.Cluster = natsserver.ClusterOpts{
		Name:         clusterName(room),
		Host:         host,
		Port:         port,
		NoAdvertise:  true, // the in-process connection needs no other server's client port
		PingInterval: routePing,
		MaxPingsOut:  routePingsOut,
	}
	opts.Routes = routes
	return token, nil
}

// CheckNode reports what is wrong with a node's name (Config.Node), if
// anything: it names the node's server in a cluster and its key in the
// bucket of nodes alive, so it is limited to ASCII letters, digits, '-'
// and '_', at most 64 of them. It must also be unique among the room's
// nodes, which no one node can check.
func CheckNode(node string) error {
	switch {
	case node == "":
		return errors.New("node name: empty")
	case len(node) > 64:
		return fmt.Errorf("node name %q: longer than 64 characters", node)
	case strings.ContainsFunc(node, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_')
	}):
		return fmt.Errorf("node name %q: only letters, digits, '-' and '_' are allowed", node)
	}
	return nil
}

// CheckAddr reports what is wrong with a cluster address (Config.
// ClusterListen, Config.ClusterPeers), if anything: it must be host:port,
// the port a number; port 0 (listening only) asks for any free port.
func CheckAddr(addr string) error {
	_, _, err := splitAddr(addr)
	return err
}

// splitAddr splits host:port; port 0 asks for any free port.
func splitAddr(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("address %q: bad port", addr)
	}
	if port == 0 {
		port = natsserver.RANDOM_PORT
	}
	return host, port, nil
}

// untilFormed calls try until it succeeds, the cluster having formed, or
// ctx ends. Until the cluster has formed, JetStream answers with all
// sorts of errors (no responders, no meta leader, insufficient resources,
// no suitable peers): each is a reason to wait, not to give up.
func (l *Log) untilFormed(ctx context.Context, what string, try func(context.Context) error) error {
	err := retry(ctx, func(error) bool { return true }, try)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("the cluster did not form within %v: routed to %d other server(s) (are enough --cluster-peers up?); %s: %w",
			ClusterWait, l.srv.NumRemotes(), what, err)
	}
	return err
}

// watchRoutes marks the log's connection as down while its server is
// routed to fewer than a majority of the cluster's servers (it cannot
// hold the room's quorum then: it is cut off), and up again once it is,
// until stop is closed. The cluster's size is the most servers seen at
// once, and at least the replicas of the room.
func (l *Log) watchRoutes(cfg Config, replicas int, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	size := replicas
	tick := time.NewTicker(watchEvery)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		servers := l.srv.NumRemotes() + 1
		size = max(size, servers)
		if up := servers > size/2; up != l.up.Load() {
			l.connectionChanged(cfg, up)
		}
	}
}
