package roomlog

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
)

// freeAddrs returns n loopback addresses whose ports were free a moment
// ago: listened on and closed, so another process may take one in
// between (Open then fails with "address already in use").
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = ln.Addr().String()
		ln.Close()
	}
	return addrs
}

// openCluster opens n logs of one room whose embedded servers are routed
// together, each keeping 3 copies (at most n), all at once: each waits
// for the others.
func openCluster(t *testing.T, n int) []*Log {
	t.Helper()
	addrs := freeAddrs(t, n)
	logs := make([]*Log, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			logs[i], errs[i] = Open(Config{
				Dir:           t.TempDir(),
				ClusterListen: addrs[i],
				ClusterPeers:  addrs, // its own address among them is harmless
				Node:          string(rune('a' + i)),
				Replicas:      min(n, 3),
			})
		})
	}
	wg.Wait()
	for i, l := range logs {
		if l != nil {
			t.Cleanup(func() {
				if err := l.Close(); err != nil {
					t.Errorf("Close %d: %v", i, err)
				}
			})
		}
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
	}
	return logs
}

func TestCluster(t *testing.T) {
	logs := openCluster(t, 3)
	if logs[0].Epoch() != logs[2].Epoch() {
		t.Fatalf("epochs differ: %s, %s", logs[0].Epoch(), logs[2].Epoch())
	}
	for _, l := range logs {
		if l.Embedded() || !l.Connected() {
			t.Fatalf("clustered log: Embedded %v, Connected %v; want false, true", l.Embedded(), l.Connected())
		}
	}
	entries, _ := follow(t, logs[2], 0)
	seqs := appendN(t, logs[0], "msg", "m", 3)
	appendN(t, logs[1], "msg", "n", 1)
	for i, want := range []string{"m 0", "m 1", "m 2", "n 0"} {
		e := <-entries
		if string(e.Data) != want || i < 3 && e.Seq != seqs[i] {
			t.Fatalf("entry %d: %d %q, want %q", i, e.Seq, e.Data, want)
		}
	}
	if err := logs[1].Alive(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	if alive, err := logs[0].Nodes(context.Background()); err != nil || !alive["b"] {
		t.Fatalf("Nodes: %v %v; want b alive at once", alive, err)
	}
	info, err := logs[0].stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream not in 3 copies: %+v", info.Cluster)
	}
}

func TestClusterConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Ephemeral: true, ClusterListen: "127.0.0.1:0", Node: "a"}, "ephemeral"},
		{Config{Dir: t.TempDir(), ClusterListen: "127.0.0.1:0", ClusterPeers: []string{"127.0.0.1:1"}}, "node name"},
		{Config{Dir: t.TempDir(), ClusterListen: "127.0.0.1:0", Node: "a"}, "no peers"},
		{Config{Dir: t.TempDir(), ClusterListen: "nowhere", ClusterPeers: []string{"127.0.0.1:1"}, Node: "a"}, "cluster listen address"},
		{Config{Dir: t.TempDir(), ClusterListen: "127.0.0.1:0", ClusterPeers: []string{"x"}, Node: "a"}, "cluster peer"},
	} {
		if _, err := Open(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%+v): %v, want an error about %s", c.cfg, err, c.want)
		}
	}
}

// TestClusterPortInUse: a cluster address that is taken fails Open at
// once with the server's reason.
func TestClusterPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = Open(Config{Dir: t.TempDir(), ClusterListen: ln.Addr().String(), ClusterPeers: []string{"127.0.0.1:1"}, Node: "a"})
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Open: %v, want address already in use", err)
	}
}
