package roomlog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// The tests here run this test binary again as a child process (see
// TestHelperProcess) that holds a Log on a directory.
const (
	helperEnv    = "ROOMLOG_HELPER"     // what the child does: "append" or "hold"
	helperDirEnv = "ROOMLOG_HELPER_DIR" // the child's Config.Dir
)

// helper starts this test binary as a child running TestHelperProcess in
// mode on dir, and returns it with its standard output.
func helper(t *testing.T, mode, dir string) (*exec.Cmd, *bufio.Scanner, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, bufio.NewScanner(stdout), stdin
}

// TestHelperProcess is the child of the tests here, not a test.
//
//   - "append": opens the Log, follows it, and appends from four goroutines
//     until killed, printing "ack SEQ I" once Append has returned SEQ for
//     the entry with data "entry I", and "saw SEQ" for each entry its
//     follower is handed.
//   - "hold": opens the Log, prints "ready", and closes it when its
//     standard input ends.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("the child process of other tests")
	}
	l, err := Open(Config{Dir: os.Getenv(helperDirEnv)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	say := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(os.Stdout, format+"\n", a...) // unbuffered: each line is out before the next step
	}
	switch mode {
	case "hold":
		say("ready")
		io.Copy(io.Discard, os.Stdin)
		l.Close()
	case "append":
		if _, err := l.Follow(1, func(e Entry) { say("saw %d", e.Seq) }); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for n := 0; ; n++ {
					i := n*4 + g
					seq, err := l.Append(context.Background(), "msg", fmt.Sprint("id-", i), fmt.Appendf(nil, "entry %d", i))
					if err != nil {
						fmt.Fprintln(os.Stderr, err)
						os.Exit(2)
					}
					say("ack %d %d", seq, i)
				}
			})
		}
		wg.Wait()
	}
	os.Exit(0)
}

// TestKilled kills a process that is appending with SIGKILL, and checks
// that every entry it saw acknowledged, or saw its follower receive, is in
// the log when it is opened again, under the same sequence.
func TestKilled(t *testing.T) {
	dir := t.TempDir()
	cmd, out, _ := helper(t, "append", dir)

	acked := make(map[uint64]int) // seq → i
	var seen []uint64
	for out.Scan() {
		var seq uint64
		var i int
		line := out.Text()
		switch {
		case strings.HasPrefix(line, "ack "):
			if _, err := fmt.Sscanf(line, "ack %d %d", &seq, &i); err != nil {
				t.Fatalf("child said %q: %v", line, err)
			}
			if prev, ok := acked[seq]; ok {
				t.Fatalf("seq %d acknowledged for entries %d and %d", seq, prev, i)
			}
			acked[seq] = i
			if len(acked) == 2000 {
				if err := cmd.Process.Kill(); err != nil { // SIGKILL on unix
					t.Fatal(err)
				}
			}
		case strings.HasPrefix(line, "saw "):
			if _, err := fmt.Sscanf(line, "saw %d", &seq); err != nil {
				t.Fatalf("child said %q: %v", line, err)
			}
			seen = append(seen, seq)
		default:
			t.Fatalf("child said %q", line)
		}
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("child ended by itself, want killed")
	}
	t.Logf("child: %d acknowledged, %d seen by its follower, then killed", len(acked), len(seen))

	l := open(t, Config{Dir: dir})
	last := lastSeq(t, l)
	stored := make(map[uint64]string)
	if last > 0 {
		ch, _ := follow(t, l, 1)
		for _, e := range drain(t, ch, last) {
			stored[e.Seq] = string(e.Data)
		}
	}
	for seq, i := range acked {
		if got, want := stored[seq], fmt.Sprintf("entry %d", i); got != want {
			t.Errorf("acknowledged seq %d: stored %q, want %q", seq, got, want)
		}
	}
	for i, seq := range seen {
		if _, ok := stored[seq]; !ok {
			t.Errorf("seq %d, seen by the child's follower, is not stored", seq)
		}
		if i > 0 && seq != seen[i-1]+1 {
			t.Errorf("child's follower saw %d after %d", seq, seen[i-1])
		}
	}
	t.Logf("reopened: %d entries stored, last seq %d", len(stored), last)
	// The log goes on after the highest sequence it holds.
	if seq := appendN(t, l, "msg", "after", 1)[0]; seq != last+1 {
		t.Fatalf("Append after the crash: seq %d, want %d", seq, last+1)
	}
}

// TestDirInUseByAnotherProcess checks that Open refuses a Dir another
// process holds, and takes it once that process has let go.
func TestDirInUseByAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	cmd, out, stdin := helper(t, "hold", dir)
	if !out.Scan() || out.Text() != "ready" {
		t.Fatalf("child: %q, %v", out.Text(), out.Err())
	}
	_, err := Open(Config{Dir: dir})
	if !errors.Is(err, ErrDirInUse) {
		t.Fatalf("Open of a Dir another process holds: %v, want ErrDirInUse", err)
	}
	if want := fmt.Sprintf("(pid %d)", cmd.Process.Pid); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the holder %s", err, want)
	}
	t.Log(err)

	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	open(t, Config{Dir: dir})
}
