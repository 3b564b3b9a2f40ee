package e2e

// Several poolchat nodes sharing one room on a NATS server (SPEC §10): real
// processes over loopback, a nats-server built from its module and the
// poolchat binary built from this one.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/poolchat/poolchat/internal/chattest"
)

// builds holds the binaries the cluster tests run, built once.
var builds struct {
	once     sync.Once
	dir      string
	err      error
	poolchat string
	nats     string
}

// binaries builds poolchat and nats-server once for the package's tests.
func binaries(t *testing.T) (poolchat, nats string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds binaries")
	}
	builds.once.Do(func() {
		if builds.dir, builds.err = os.MkdirTemp("", "poolchat-e2e-"); builds.err != nil {
			return
		}
		builds.poolchat = filepath.Join(builds.dir, "poolchat")
		builds.nats = filepath.Join(builds.dir, "nats-server")
		for _, b := range [][2]string{{builds.poolchat, "."}, {builds.nats, "github.com/nats-io/nats-server/v2"}} {
			cmd := exec.Command("go", "build", "-o", b[0], b[1])
			cmd.Dir = ".."
			if out, err := cmd.CombinedOutput(); err != nil {
				builds.err = fmt.Errorf("go build %s: %v\n%s", b[1], err, out)
				return
			}
		}
	})
	if builds.err != nil {
		t.Fatal(builds.err)
	}
	return builds.poolchat, builds.nats
}

// natsProc is a nats-server with JetStream on a loopback port.
type natsProc struct {
	cmd  *exec.Cmd
	url  string
	args []string
}

var natsListening = regexp.MustCompile(`Listening for client connections on ([0-9.]+:[0-9]+)`)

// startNATS runs nats-server with JetStream storing under dir, on port (0:
// any), and waits until it listens.
func startNATS(t *testing.T, bin, dir string, port int) *natsProc {
	t.Helper()
	args := []string{"-js", "-a", "127.0.0.1", "-p", fmt.Sprint(port), "-sd", dir}
	if port == 0 {
		args[4] = "-1"
	}
	n := &natsProc{args: args}
	n.start(t, bin)
	return n
}

func (n *natsProc) start(t *testing.T, bin string) {
	t.Helper()
	n.cmd = exec.Command(bin, n.args...)
	stderr, err := n.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd := n.cmd
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		if m := natsListening.FindStringSubmatch(lines.Text()); m != nil {
			n.url = "nats://" + m[1]
			if n.args[4] == "-1" { // keep the port across a restart
				n.args[4] = strings.Split(m[1], ":")[1]
			}
			break
		}
	}
	if n.url == "" {
		t.Fatal("nats-server did not say where it listens")
	}
	go io.Copy(io.Discard, stderr)
	// JetStream is ready once the server answers: poolchat waits for it
	// too, so nothing more is needed here.
}

// stop ends nats-server with SIGKILL.
func (n *natsProc) stop() {
	n.cmd.Process.Kill()
	n.cmd.Wait()
}

// node is one poolchat process.
type node struct {
	cmd      *exec.Cmd
	args     []string // as given to launchNode
	tcpAddr  string
	httpAddr string
	stderr   *lockedBuffer
}

// lockedBuffer collects a process's stderr, which a failing test reads
// while the process still writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startNode runs poolchat on port-0 loopback addresses with args.
func startNode(t *testing.T, bin string, args ...string) *node {
	t.Helper()
	n, err := launchNode(t.Context(), t, bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// twoNodes starts a NATS server and two poolchat nodes on it, "a" and
// "b".
func twoNodes(t *testing.T) (a, b *node) {
	t.Helper()
	poolchat, nats := binaries(t)
	ns := startNATS(t, nats, t.TempDir(), 0)
	return startNode(t, poolchat, "--nats", ns.url, "--node", "a"), startNode(t, poolchat, "--nats", ns.url, "--node", "b")
}

// room is the node as chattest sees a room, to dial it.
func (n *node) room() *chattest.Room {
	return &chattest.Room{TCPAddr: n.tcpAddr, HTTPAddr: n.httpAddr}
}

// health reads /healthz.
func (n *node) health(t *testing.T) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get("http://" + n.httpAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h map[string]any
	json.NewDecoder(resp.Body).Decode(&h)
	return resp.StatusCode, h
}

// TestNodesShareOneOrder: members on two nodes talking at once all see
// every message, in one order, the same on both nodes.
func TestNodesShareOneOrder(t *testing.T) {
	a, b := twoNodes(t)

	sameOrderEverywhere(t, a, b)
	if code, h := a.health(t); code != 200 || h["members"] != 6.0 || h["node"] != "a" || h["nats"] != "connected" {
		t.Fatalf("healthz of a: %d %v", code, h)
	}
}

// TestNodesNameRace: two nodes asked for the same name at the same moment,
// round after round: exactly one join wins, the other hears name_taken.
func TestNodesNameRace(t *testing.T) {
	a, b := twoNodes(t)
	for round := range 20 {
		name := fmt.Sprintf("Racer%d", round)
		ca, cb := a.room().DialWS(t), b.room().DialWS(t)
		var wg sync.WaitGroup
		results := make([]string, 2)
		for i, c := range []*chattest.WSClient{ca, cb} {
			wg.Go(func() {
				c.Send(map[string]any{"type": "got_a_new_user", "name": name})
				if e, err := c.TryNext(chattest.Timeout); err == nil {
					results[i] = e.Str("type") + e.Str("code")
				} else {
					results[i] = err.Error()
				}
			})
		}
		wg.Wait()
		if got := strings.Join(results, " "); got != "welcome errorname_taken" && got != "errorname_taken welcome" {
			t.Fatalf("round %d: %s\nnode a:\n%s\nnode b:\n%s", round, got, a.stderr, b.stderr)
		}
		ca.Conn.CloseNow()
		cb.Conn.CloseNow()
	}
}

// TestNodeKilled: when a node dies, the other announces its TCP members as
// left, once, and its web members keep their place for the grace: one that
// resumes on the surviving node is seen by nobody to leave or join.
func TestNodeKilled(t *testing.T) {
	poolchat, nats := binaries(t)
	ns := startNATS(t, nats, t.TempDir(), 0)
	a := startNode(t, poolchat, "--nats", ns.url, "--node", "a")
	b := startNode(t, poolchat, "--nats", ns.url, "--node", "b", "--resume-grace", "1h")
	watcher := a.room().Join(t)
	doomed := b.room().Join(t)
	watcher.Expect("* " + doomed.Name + " joined")
	web := b.room().DialWS(t)
	web.Send(map[string]any{"type": "got_a_new_user", "name": "Ada"})
	w := web.Expect("welcome")
	watcher.Expect("* Ada joined")

	start := time.Now()
	b.cmd.Process.Kill()
	b.cmd.Wait()
	watcher.Expect("* " + doomed.Name + " left")
	t.Logf("the dead node's TCP member was announced as left %v after the kill", time.Since(start).Round(time.Millisecond))

	back := a.room().DialWS(t)
	back.Send(map[string]any{"type": "resume", "token": w.Str("resume"), "since": w["seq"]})
	if w2 := back.Expect("welcome"); w2.Str("id") != w.Str("id") || w2["resumed"] != true {
		t.Fatalf("resume on the other node: %v", w2)
	}
	watcher.Sync("Ada never left")
	if code, h := a.health(t); code != 200 || h["members"] != 2.0 {
		t.Fatalf("healthz after the kill: %d %v", code, h)
	}
}

// waitServing returns once the node serves the room (its /healthz says
// 200).
func (n *node) waitServing(t *testing.T) {
	t.Helper()
	for {
		if code, _ := n.health(t); code == 200 {
			return
		}
		time.Sleep(50 * time.Millisecond) // polling /healthz: nothing to wait on from outside
	}
}

// restart starts the node's process again, with the same arguments (its
// --data among them), once it has ended; its listeners get new ports.
func (n *node) restart(t *testing.T, bin string) {
	t.Helper()
	fresh, err := launchNode(t.Context(), t, bin, n.args...)
	if err != nil {
		t.Fatal(err)
	}
	*n = *fresh
}

// TestNATSLost: a node that loses NATS for longer than 5 s tells its
// members and refuses newcomers; when NATS is back it serves the room
// again, caught up.
func TestNATSLost(t *testing.T) {
	poolchat, nats := binaries(t)
	store := t.TempDir()
	ns := startNATS(t, nats, store, 0)
	a := startNode(t, poolchat, "--nats", ns.url, "--node", "a")
	member := a.room().Join(t)
	member.Send("before the outage")
	member.Expect(member.Name + ": before the outage")

	ns.stop()
	member.Expect("* lost the room; reconnect to another server")
	member.ExpectEOF()
	if code, h := a.health(t); code != http.StatusServiceUnavailable || h["nats"] != "disconnected" {
		t.Fatalf("healthz without nats: %d %v", code, h)
	}
	refused := a.room().Dial(t)
	refused.Expect("! the room is unavailable")

	ns.start(t, nats)
	a.waitServing(t)
	c := a.room().Join(t)
	c.Expect(member.Name + ": before the outage") // history from the log
	c.Sync("after the outage")
}

// startCluster runs n poolchat nodes named n0, n1, ... whose embedded NATS
// servers are routed together (--cluster-listen, --cluster-peers), each
// with args, and returns them once all serve. The nodes start at once:
// each waits for the others before it serves. The cluster's ports are
// picked by listening on port 0 and closing, so another process may take
// one in between: then the whole cluster is started again, once.
func startCluster(t *testing.T, bin string, n int, args ...string) []*node {
	t.Helper()
	for attempt := 0; ; attempt++ {
		nodes, err := tryStartCluster(t, bin, n, args...)
		if err == nil {
			return nodes
		}
		if attempt > 0 || !errors.Is(err, errPortTaken) {
			t.Fatal(err)
		}
		t.Logf("starting the cluster again: %v", err)
	}
}

// errPortTaken is tryStartCluster's failure when a node could not listen
// on the cluster port picked for it.
var errPortTaken = errors.New("a cluster port was taken")

// tryStartCluster starts the nodes once. When one fails, the others are
// stopped at once: they would otherwise wait for it for the whole of
// roomlog.ClusterWait.
func tryStartCluster(t *testing.T, bin string, n int, args ...string) ([]*node, error) {
	addrs := make([]string, n)
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = ln.Addr().String()
		ln.Close()
	}
	nodes := make([]*node, n)
	errs := make([]error, n)
	ctx, stopAll := context.WithCancel(t.Context())
	t.Cleanup(stopAll)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			nodes[i], errs[i] = launchNode(ctx, t, bin, append([]string{
				"--node", fmt.Sprintf("n%d", i), "--data", t.TempDir(),
				"--cluster-listen", addrs[i], "--cluster-peers", strings.Join(addrs, ","),
			}, args...)...)
			if errs[i] != nil {
				stopAll()
			}
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range nodes {
				if n != nil {
					t.Logf("%s stderr:\n%s", n.cmd.Args[6], n.stderr)
				}
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		for _, n := range nodes {
			if n != nil {
				n.cmd.Process.Kill()
				n.cmd.Wait()
			}
		}
		if strings.Contains(err.Error(), "address already in use") {
			err = fmt.Errorf("%w: %w", errPortTaken, err)
		}
		return nil, err
	}
	return nodes, nil
}

// launchNode runs poolchat on port-0 loopback addresses with args and
// returns it once it has printed its addresses: its listeners are open,
// and connections wait there until it has replayed the log and serves
// (waitServing). It returns its failure instead of failing the test, so
// that several nodes can start at once; ctx's end kills the node.
func launchNode(ctx context.Context, t *testing.T, bin string, args ...string) (*node, error) {
	cmd := exec.CommandContext(ctx, bin, append([]string{"--http-addr", "127.0.0.1:0", "--tcp-addr", "127.0.0.1:0"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	n := &node{cmd: cmd, args: args, stderr: new(lockedBuffer)}
	cmd.Stderr = n.stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	for (n.tcpAddr == "" || n.httpAddr == "") && lines.Scan() {
		l := lines.Text()
		if rest, ok := strings.CutPrefix(l, "web  http://"); ok {
			n.httpAddr = rest
		}
		if rest, ok := strings.CutPrefix(l, "tcp  nc "); ok {
			host, port, _ := strings.Cut(rest, " ")
			n.tcpAddr = net.JoinHostPort(host, port)
		}
	}
	if n.tcpAddr == "" || n.httpAddr == "" {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("poolchat %s did not print its addresses; stderr:\n%s", args, n.stderr)
	}
	go io.Copy(io.Discard, stdout)
	return n, nil
}

// TestClusterSharesOneOrder: three nodes whose embedded servers are routed
// together, and nothing else, share one room: members on all three
// talking at once see every message in one order.
func TestClusterSharesOneOrder(t *testing.T) {
	poolchat, _ := binaries(t)
	nodes := startCluster(t, poolchat, 3)

	sameOrderEverywhere(t, nodes...)
	for i, n := range nodes {
		if code, h := n.health(t); code != 200 || h["members"] != 6.0 || h["node"] != fmt.Sprintf("n%d", i) || h["nats"] != "connected" {
			t.Fatalf("healthz of n%d: %d %v", i, code, h)
		}
	}
}

// TestClusterLosesANode: when one node of three dies with its embedded
// server, the other two go on with the room: the dead node's TCP member
// is announced as left, once, and a message still reaches everyone left.
func TestClusterLosesANode(t *testing.T) {
	poolchat, _ := binaries(t)
	nodes := startCluster(t, poolchat, 3)
	a, b, c := nodes[0].room().Join(t), nodes[1].room().Join(t), nodes[2].room().Join(t)
	a.Expect("* " + b.Name + " joined")
	a.Expect("* " + c.Name + " joined")
	b.Expect("* " + c.Name + " joined")

	start := time.Now()
	nodes[2].cmd.Process.Kill()
	nodes[2].cmd.Wait()
	for _, m := range []*chattest.TCPClient{a, b} {
		// When leaders of the stream, the nodes' bucket or the cluster
		// were on the dead server, the leave waits for the other two to
		// elect new ones (2-3 s, roomlog/election.go), on a busy machine
		// longer: the time is logged, not bounded here.
		l, err := m.TryReadLine(2 * time.Minute)
		if want := "* " + c.Name + " left"; l != want || err != nil {
			t.Fatalf("%s: %q, %v; want %q", m.Name, l, err, want)
		}
		t.Logf("%s heard the dead node's TCP member leave %v after the kill", m.Name, time.Since(start).Round(time.Millisecond))
	}

	b.Sync("still here", a)
	a.Sync("and here", b)
	for _, n := range nodes[:2] {
		if code, h := n.health(t); code != 200 || h["members"] != 2.0 || h["nats"] != "connected" {
			t.Fatalf("healthz after the kill: %d %v", code, h)
		}
	}
}

// TestClusterCutOff: a node cut off from the other two of its cluster
// tells its members and refuses newcomers, never serving a room of its
// own, and serves the room again, caught up, once they are back. Cut off
// two ways: the other two killed and started again, or frozen (SIGSTOP)
// and thawed, which leaves its routes open but silent, as a network cut
// does, and their members connected throughout.
func TestClusterCutOff(t *testing.T) {
	poolchat, _ := binaries(t)
	for _, c := range []struct {
		name      string
		cut, heal func(t *testing.T, n *node)
		kept      bool // the others' members are still there after the heal
	}{
		{"killed", func(t *testing.T, n *node) { n.cmd.Process.Kill(); n.cmd.Wait() }, func(t *testing.T, n *node) { n.restart(t, poolchat) }, false},
		{"frozen", func(t *testing.T, n *node) { n.signal(t, syscall.SIGSTOP) }, func(t *testing.T, n *node) { n.signal(t, syscall.SIGCONT) }, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			nodes := startCluster(t, poolchat, 3)
			alone := nodes[0]
			member, other := alone.room().Join(t), nodes[1].room().Join(t)
			member.Expect("* " + other.Name + " joined")
			member.Sync("before the cut", other)

			start := time.Now()
			for _, n := range nodes[1:] {
				c.cut(t, n)
			}
			member.Expect("* lost the room; reconnect to another server")
			member.ExpectEOF()
			t.Logf("the node cut off told its member %v after the cut", time.Since(start).Round(time.Millisecond))
			if code, h := alone.health(t); code != http.StatusServiceUnavailable || h["nats"] != "disconnected" {
				t.Fatalf("healthz of the node cut off: %d %v", code, h)
			}
			alone.room().Dial(t).Expect("! the room is unavailable")

			start = time.Now()
			for _, n := range nodes[1:] {
				c.heal(t, n)
			}
			for _, n := range nodes {
				n.waitServing(t)
			}
			t.Logf("all three serve again %v after the heal", time.Since(start).Round(time.Millisecond))
			later := nodes[1].room().Join(t)
			later.Expect(member.Name + ": before the cut") // history
			later.Send("after the cut")
			later.Expect(later.Name + ": after the cut")

			// A newcomer on the node that was cut off gets the room as the
			// others logged it meanwhile: who left, who came, what was said.
			newcomer := alone.room().Dial(t)
			newcomer.Send("")
			newcomer.Name = strings.TrimPrefix(newcomer.ExpectPrefix("* welcome to poolchat, "), "* welcome to poolchat, ")
			online := []string{later.Name, newcomer.Name}
			if c.kept {
				online = append([]string{other.Name}, online...)
			}
			newcomer.Expect(fmt.Sprintf("* online now (%d): %s", len(online), strings.Join(online, ", ")))
			newcomer.Expect(member.Name + ": before the cut")
			newcomer.Expect(later.Name + ": after the cut")
			later.Expect("* " + newcomer.Name + " joined")
			observers := []*chattest.TCPClient{later}
			if c.kept {
				// The member who stayed saw the member of the node cut
				// off leave, once, and nobody else: that node reaped no
				// one alive.
				other.Expect("* " + member.Name + " left")
				other.Expect("* " + later.Name + " joined")
				other.Expect(later.Name + ": after the cut")
				other.Expect("* " + newcomer.Name + " joined")
				observers = append(observers, other)
			}
			newcomer.Sync("caught up", observers...)
		})
	}
}

// signal sends sig to the node's process.
func (n *node) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := n.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// sameOrderEverywhere has six TCP members, spread over the nodes, send 20
// lines each at once, and checks that every member saw every line in the
// same order.
func sameOrderEverywhere(t *testing.T, nodes ...*node) {
	t.Helper()
	var members []*chattest.TCPClient
	for i := range 6 {
		c := nodes[i%len(nodes)].room().Join(t)
		for _, prev := range members {
			prev.Expect("* " + c.Name + " joined")
		}
		members = append(members, c)
	}
	const each = 20
	var wg sync.WaitGroup
	for _, c := range members {
		wg.Go(func() {
			for i := range each {
				c.Send(fmt.Sprintf("n=%d", i))
			}
		})
	}
	transcripts := make([][]string, len(members))
	for i, c := range members {
		wg.Go(func() {
			for len(transcripts[i]) < each*len(members) {
				if l := c.ReadLine(); !strings.HasPrefix(l, "! ") { // a flood notice is for one member
					transcripts[i] = append(transcripts[i], l)
				}
			}
		})
	}
	wg.Wait()
	for i := range transcripts[1:] {
		if got, want := strings.Join(transcripts[i+1], "\n"), strings.Join(transcripts[0], "\n"); got != want {
			t.Fatalf("member %d saw another order than member 0:\n%s\n---\n%s", i+1, got, want)
		}
	}
}
