package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/poolchat/poolchat/internal/chattest"
)

// crowd is many netcat members of one room, each reading and dropping
// what it is sent, so that none is ended as too slow.
type crowd struct {
	conns   []net.Conn
	readers sync.WaitGroup
}

// joinCrowd joins count members over TCP, a few at a time, and waits
// until the room counts want in all. The members leave when the test ends.
func joinCrowd(t *testing.T, n *node, count, want int) *crowd {
	t.Helper()
	c := &crowd{conns: make([]net.Conn, count)}
	t.Cleanup(func() {
		for _, conn := range c.conns {
			if conn != nil {
				conn.Close()
			}
		}
		c.readers.Wait()
	})
	// Each member waits for its welcome, so no more than this many joins
	// are in the room's log at once: a burst of thousands times out there.
	const atOnce = 50
	errs := make(chan error, count)
	var joins sync.WaitGroup
	sem := make(chan struct{}, atOnce)
	for i := range c.conns {
		sem <- struct{}{}
		joins.Add(1)
		go func() {
			defer func() { <-sem; joins.Done() }()
			conn, err := c.join(n.tcpAddr)
			if err != nil {
				errs <- err
				return
			}
			c.conns[i] = conn
		}()
	}
	joins.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitMembers(t, n, want)
	return c
}

// join connects one member, which joins at once with an empty first line,
// and returns once it is welcomed.
func (c *crowd) join(addr string) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", addr, chattest.Timeout)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(chattest.Timeout))
	const welcome = "* welcome to poolchat, "
	buf := make([]byte, 4096)
	got := 0
	_, err = conn.Write([]byte("\n"))
	for err == nil && !bytes.Contains(buf[:got], []byte("\n")) && got < len(buf) {
		var n int
		n, err = conn.Read(buf[got:])
		got += n
	}
	if err == nil && !bytes.HasPrefix(buf[:got], []byte(welcome)) {
		err = fmt.Errorf("first line %q is not a welcome", buf[:got])
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("join %s: %w", addr, err)
	}
	conn.SetDeadline(time.Time{})
	c.readers.Add(1)
	go func() {
		defer c.readers.Done()
		for {
			if _, err := conn.Read(buf); err != nil {
				return
			}
		}
	}()
	return conn, nil
}

// waitMembers polls /healthz until the room holds want members, failing
// if the count stops moving towards it for chattest.Timeout.
func waitMembers(t *testing.T, n *node, want int) {
	t.Helper()
	last, moved := -1, time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		_, h := n.health(t)
		got := int(h["members"].(float64))
		if got == want {
			return
		}
		if got != last {
			last, moved = got, time.Now()
		}
		if time.Since(moved) > chattest.Timeout {
			t.Fatalf("the room holds %d members, want %d", got, want)
		}
	}
}

// TestPageTenThousandMembers opens the page in a room of 10,000: it shows
// the count, 200 boxes and your own, follows a join and a leave among
// them, and still shows a message as soon as it is typed. The room is a
// poolchat process of its own: its 10,000 sockets and the test's would
// pass the file limit of one process. It is built without the race
// detector: the page is what this test is about, and under the detector
// 10,000 joins (each announced to everyone before) took 4 of the
// package's 10 minutes.
func TestPageTenThousandMembers(t *testing.T) {
	const members = 10_000
	bin := raceFreePoolchat(t)
	n := startNode(t, bin, "--ephemeral", "--max-clients", fmt.Sprint(members+10))
	start := time.Now()
	c := joinCrowd(t, n, members-1, members-1)
	t.Logf("%d netcat members joined in %v", members-1, time.Since(start))

	b := newBrowser(t, 1280, 800)
	start = time.Now()
	joinPage(b, n.room(), "Crowded")
	t.Logf("the page joined in %v", time.Since(start))
	count := `document.getElementById("count").textContent`
	b.waitFor("the count", count+` === "10000"`)
	if n := eval[int](b, `document.querySelectorAll("#users [data-user-id]").length`); n != 201 {
		t.Errorf("%d boxes, want 200 and your own", n)
	}
	if self := eval[string](b, `document.querySelector("#users [data-self] .name")?.textContent`); self != "Crowded" {
		t.Errorf("own box named %q", self)
	}
	more := `document.getElementById("users-more").textContent`
	if got := eval[string](b, more); got != "and 9799 more" {
		t.Errorf("the rest counted as %q", got)
	}

	c.add(t, n.tcpAddr)
	b.waitFor("the count after a join", count+` === "10001"`)
	b.waitFor("the rest after a join", more+` === "and 9800 more"`)
	c.conns[0].Close() // the first member, whose box the next one takes
	b.waitFor("the count after a leave", count+` === "10000"`)
	b.waitFor("the rest after a leave", more+` === "and 9799 more"`)
	if n := eval[int](b, `document.querySelectorAll("#users [data-user-id]").length`); n != 201 {
		t.Errorf("after a leave %d boxes, want 200 and your own", n)
	}

	start = time.Now()
	b.run(chromedp.SendKeys("#message", "still quick\r"))
	b.waitFor("the typed message", lastLine+` === "still quick"`)
	t.Logf("a typed message showed in %v", time.Since(start))
	if b.errors.Load() != 0 {
		t.Fatalf("%d errors in the page", b.errors.Load())
	}
}

// raceFree is poolchat built once without the race detector.
var raceFree struct {
	once sync.Once
	bin  string
	err  error
}

// raceFreePoolchat builds poolchat without -race, whatever GOFLAGS asks.
func raceFreePoolchat(t *testing.T) string {
	t.Helper()
	poolchat, _ := binaries(t)
	raceFree.once.Do(func() {
		raceFree.bin = poolchat + "-race-free"
		flags := slices.DeleteFunc(strings.Fields(os.Getenv("GOFLAGS")), func(f string) bool { return f == "-race" })
		cmd := exec.Command("go", "build", "-o", raceFree.bin, ".")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "GOFLAGS="+strings.Join(flags, " "))
		if out, err := cmd.CombinedOutput(); err != nil {
			raceFree.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if raceFree.err != nil {
		t.Fatal(raceFree.err)
	}
	return raceFree.bin
}

// add joins one more member.
func (c *crowd) add(t *testing.T, addr string) {
	t.Helper()
	conn, err := c.join(addr)
	if err != nil {
		t.Fatal(err)
	}
	c.conns = append(c.conns, conn)
}
