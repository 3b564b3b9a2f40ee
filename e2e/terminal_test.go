package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/poolchat/poolchat/internal/chattest"
	"github.com/poolchat/poolchat/server"
)

// needTools skips (or under CI=true fails) when a program is missing.
func needTools(t *testing.T, names ...string) {
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not found, and CI=true: .ci/run installs it", n)
			}
			t.Skipf("SKIPPING: %s not found", n)
		}
	}
}

// hostile are lines one member sends to repaint, retitle, beep at or copy
// to another member's terminal.
var hostile = []string{
	"clear\x1b[2J\x1b[H the screen",
	"title\x1b]0;pwned\x07 change",
	"clipboard\x1b]52;c;cm0gLXJmIH4=\x07 write",
	"cursor\x1b[1;1H\x1b[5A moves",
	"bell\x07\x07 ring",
	"backspace over my name\b\b\b\b\b\b\b\b\b\b\b\b\b\b\b\b\b\b\b\b",
	"bare cr\rOVERWRITE",
	"c1 csi\u009b2J clear",
	"bidi \u202eevil\u202c override",
	"8-bit osc\u009d0;t\u009c title",
	"reset\x1bc terminal",
	"hidden\x1b[8m text\x1b[0m",
}

// TestTerminalInjection has one member send escape sequences and control
// characters: another member's raw bytes contain none of them, and a real
// nc in tmux shows every line with its sender's prefix intact.
func TestTerminalInjection(t *testing.T) {
	needTools(t, "tmux", "nc")
	room := startRoom(t, server.Config{})
	observer := room.Join(t)

	session := fmt.Sprintf("poolchat-test-%d", os.Getpid())
	host, port, _ := strings.Cut(room.TCPAddr, ":")
	tmux := exec.Command("tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "50", "nc "+host+" "+port)
	tmux.Env = append(os.Environ(), "TERM=xterm-256color")
	if out, err := tmux.CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", session).Run() })
	joined := observer.ExpectPrefix("* guest-")
	ncName := strings.TrimSuffix(strings.TrimPrefix(joined, "* "), " joined")

	attacker := room.Join(t)
	observer.Expect("* " + attacker.Name + " joined")
	var raw strings.Builder
	for _, h := range hostile {
		attacker.Send(h)
		l := observer.ReadLine()
		raw.WriteString(l)
		if !strings.HasPrefix(l, attacker.Name+": ") {
			t.Errorf("line %q lost its sender prefix", l)
		}
	}
	attacker.Send("done")
	observer.Expect(attacker.Name + ": done")

	for _, r := range raw.String() {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == utf8.RuneError {
			t.Errorf("a member received %U", r)
		}
	}

	// The real terminal: wait until nc has printed the last line.
	var screen string
	deadline := time.Now().Add(chattest.Timeout)
	for !strings.Contains(screen, attacker.Name+": done") {
		if time.Now().After(deadline) {
			t.Fatalf("the terminal never showed the last line:\n%s", screen)
		}
		out, err := exec.Command("tmux", "capture-pane", "-p", "-t", session).Output()
		if err != nil {
			t.Fatal(err)
		}
		screen = string(out)
		time.Sleep(20 * time.Millisecond)
	}
	lines := strings.Split(strings.TrimRight(screen, "\n"), "\n")
	if !strings.HasPrefix(lines[0], "* welcome to poolchat, "+ncName) {
		t.Errorf("the screen was cleared or scrolled: first line %q", lines[0])
	}
	said := 0
	for _, l := range lines {
		if strings.Contains(l, attacker.Name+":") {
			said++
			if !strings.HasPrefix(l, attacker.Name+": ") {
				t.Errorf("terminal line %q does not start with its sender", l)
			}
		}
	}
	if said != len(hostile)+1 {
		t.Errorf("the terminal shows %d of the attacker's %d lines:\n%s", said, len(hostile)+1, screen)
	}
	t.Logf("the terminal:\n%s", screen)
}
