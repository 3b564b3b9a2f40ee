package roomlog

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestEphemeralWritesNothing checks that an ephemeral log leaves nothing on
// disk: not in the temporary directory, not in the working directory, not
// in Dir, neither while it runs nor after Close.
func TestEphemeralWritesNothing(t *testing.T) {
	tmp, cwd := t.TempDir(), t.TempDir()
	t.Setenv("TMPDIR", tmp) // os.TempDir on unix
	t.Setenv("TMP", tmp)    // and on windows
	t.Setenv("TEMP", tmp)
	t.Chdir(cwd)
	dir := filepath.Join(cwd, "data")

	empty := func(when string) {
		t.Helper()
		for _, d := range []string{tmp, cwd} {
			filepath.WalkDir(d, func(path string, _ fs.DirEntry, err error) error {
				if err != nil {
					t.Fatal(err)
				}
				if path != d {
					t.Errorf("%s: %s exists", when, path)
				}
				return nil
			})
		}
	}

	l, err := Open(Config{Ephemeral: true, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	empty("after Open")
	appendN(t, l, "msg", "m", 100)
	ch, f := follow(t, l, 1)
	drain(t, ch, 100)
	if err := l.Trim(context.Background(), "msg", 10); err != nil {
		t.Fatal(err)
	}
	f.Stop()
	empty("after Append, Follow and Trim")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	empty("after Close")
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("Dir: %v, want it not to exist", err)
	}
}

func TestEphemeral(t *testing.T) {
	l := open(t, Config{Ephemeral: true})
	seqs := appendN(t, l, "msg", "m", 3)
	ch, _ := follow(t, l, 2)
	if got := drain(t, ch, 3); len(got) != 2 || got[0].Seq != seqs[1] || string(got[1].Data) != "m 2" {
		t.Fatalf("ephemeral Follow(2): %+v", got)
	}
	// Ephemeral logs take no lock: two may run at once.
	open(t, Config{Ephemeral: true})
}
