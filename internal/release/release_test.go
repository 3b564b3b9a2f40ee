package main

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestReleaseForThisPlatform runs the release for the host platform twice:
// the archives are identical, hold the binary, README and LICENSE, and the
// binary prints the stamped version.
func TestReleaseForThisPlatform(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-builds the binary")
	}
	if runtime.GOOS == "windows" {
		t.Skip("checks a .tar.gz")
	}
	t.Chdir("../..")
	const version = "v0.0.0-test"
	target := []string{runtime.GOOS + "/" + runtime.GOARCH}
	a, b := t.TempDir(), t.TempDir()
	if err := release(version, a, target); err != nil {
		t.Fatal(err)
	}
	if err := release(version, b, target); err != nil {
		t.Fatal(err)
	}
	sumA, _ := os.ReadFile(filepath.Join(a, "SHA256SUMS"))
	sumB, _ := os.ReadFile(filepath.Join(b, "SHA256SUMS"))
	if len(sumA) == 0 || string(sumA) != string(sumB) {
		t.Fatalf("two runs differ:\n%s\n%s", sumA, sumB)
	}
	name := strings.Fields(string(sumA))[1]
	f, err := os.Open(filepath.Join(a, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	found := map[string]bool{}
	bin := filepath.Join(t.TempDir(), "poolchat")
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(hdr.Name)
		found[base] = true
		if base == "poolchat" {
			out, _ := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
			io.Copy(out, tr)
			out.Close()
		}
	}
	for _, want := range []string{"poolchat", "README.md", "LICENSE"} {
		if !found[want] {
			t.Errorf("archive %s lacks %s (has %v)", name, want, found)
		}
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil || strings.TrimSpace(string(out)) != "poolchat "+version {
		t.Fatalf("--version: %q, %v", out, err)
	}
}
