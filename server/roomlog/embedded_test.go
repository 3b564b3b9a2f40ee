package roomlog

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l := open(t, Config{Dir: t.TempDir(), Logger: logger})
	appendN(t, l, "msg", "m", 1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "Starting JetStream") || !strings.Contains(out, "Server is ready") {
		t.Errorf("the server's start is not in the log:\n%s", out)
	}
	for line := range strings.Lines(out) {
		if !strings.Contains(line, "level=DEBUG") {
			t.Errorf("not at Debug: %s", line)
		}
	}
}

// TestServerFails checks that a JetStream that cannot start (its store
// directory is a file) makes Open fail with the server's reason, and
// leaves no goroutine behind (TestMain checks).
func TestServerFails(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "jetstream"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Config{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("Open: %v, want the server's complaint about its store directory", err)
	}
	t.Log(err)
	// The failed Open let go of Dir's lock.
	if err := os.Remove(filepath.Join(dir, "jetstream")); err != nil {
		t.Fatal(err)
	}
	open(t, Config{Dir: dir})
}

func TestDirIsFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Config{Dir: file}); err == nil {
		t.Fatal("Open of a Dir that is a file: no error")
	}
	if _, err := Open(Config{}); err == nil {
		t.Fatal("Open without Dir or Ephemeral: no error")
	}
}

func TestDirCreated0700(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "data")
	open(t, Config{Dir: dir})
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Windows has no such modes.
	if perm := fi.Mode().Perm(); perm != 0o700 && runtime.GOOS != "windows" {
		t.Errorf("Dir created with mode %v, want 0700", perm)
	}
	if _, err := os.Stat(filepath.Join(dir, lockName)); err != nil {
		t.Errorf("lock file: %v", err)
	}
}
