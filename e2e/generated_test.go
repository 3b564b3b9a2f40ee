package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// command runs a go command in the module root with GOFLAGS cleared (CI
// sets -race, which js/wasm builds do not take).
func command(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %v: %v\n%s", args, err, out)
	}
}

// sameFiles fails unless dir got holds exactly the files of dir want, byte
// for byte.
func sameFiles(t *testing.T, want, got, fix string) {
	t.Helper()
	names := func(dir string) []string {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		return out
	}
	if w, g := names(want), names(got); !slices.Equal(w, g) {
		t.Fatalf("%s holds %v; its sources make %v. %s", want, w, g, fix)
	}
	for _, name := range names(want) {
		a, _ := os.ReadFile(filepath.Join(want, name))
		b, _ := os.ReadFile(filepath.Join(got, name))
		if !bytes.Equal(a, b) {
			t.Errorf("%s is stale against its source. %s", filepath.Join(want, name), fix)
		}
	}
}

// TestAssetsAreCurrent rebuilds the browser files and compares them with
// the committed web/assets, so `go run .` on a fresh clone serves the
// current client.
func TestAssetsAreCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the wasm client")
	}
	out := t.TempDir()
	command(t, "run", "./internal/genassets", "-out", out)
	sameFiles(t, "../web/assets", out, "Run `go tool task generate` and commit web/assets.")
}

// TestTemplCodeIsCurrent regenerates the templ components and compares the
// generated Go with the committed files.
func TestTemplCodeIsCurrent(t *testing.T) {
	root := t.TempDir() // file names in the generated code are relative to it
	dir := filepath.Join(root, "templates")
	os.Mkdir(dir, 0o755)
	matches, _ := filepath.Glob("../templates/*.templ")
	for _, m := range matches {
		data, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, filepath.Base(m)), data, 0o644)
	}
	command(t, "tool", "templ", "generate", "-path", root)
	generated, _ := filepath.Glob(filepath.Join(dir, "*_templ.go"))
	if len(generated) != len(matches) {
		t.Fatalf("templ generated %v from %v", generated, matches)
	}
	for _, g := range generated {
		want, _ := os.ReadFile(filepath.Join("../templates", filepath.Base(g)))
		got, _ := os.ReadFile(g)
		if !bytes.Equal(want, got) {
			t.Errorf("templates/%s is stale. Run `go tool task generate` and commit it.", filepath.Base(g))
		}
	}
}
