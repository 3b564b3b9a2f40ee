// Command genassets builds the browser files poolchat embeds: it compiles
// the wasm client, copies wasm_exec.js from the same Go toolchain, and
// writes a gzip and a brotli copy of every file, all in one step so no
// stale copy is ever served. `go tool task generate` runs it; a test runs
// it into a temporary directory to check that the committed files are
// current.
//
// Usage: go run ./internal/genassets [-out DIR]
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/andybalholm/brotli"
)

// copied are the hand-written browser files, taken as they are.
var copied = []string{"app.js", "style.css"}

func main() {
	src := flag.String("src", "web/src", "directory of the hand-written browser files")
	out := flag.String("out", "web/assets", "directory to write the built files to")
	flag.Parse()
	if err := generate(*src, *out); err != nil {
		fmt.Fprintln(os.Stderr, "genassets:", err)
		os.Exit(1)
	}
}

func generate(src, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	wasm := filepath.Join(out, "poolchat.wasm")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", wasm, "./wasmclient")
	// GOFLAGS may carry -race (CI) or -buildvcs settings that js/wasm does
	// not take; the client is always built the same way.
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "GOFLAGS=", "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build the wasm client: %w", err)
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return fmt.Errorf("go env GOROOT: %w", err)
	}
	files := map[string]string{
		// From the toolchain that built the wasm: the two must match.
		"wasm_exec.js": filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js"),
	}
	for _, name := range copied {
		files[name] = filepath.Join(src, name)
	}
	for name, from := range files {
		data, err := os.ReadFile(from)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, name), data, 0o644); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".gz") || strings.HasSuffix(name, ".br") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			return err
		}
		if err := compress(filepath.Join(out, name), data); err != nil {
			return err
		}
	}
	return nil
}

// compress writes path.gz and path.br. Both encoders are deterministic, so
// the same input gives the same bytes.
func compress(path string, data []byte) error {
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		return err
	}
	var br bytes.Buffer
	bw := brotli.NewWriterLevel(&br, brotli.BestCompression)
	bw.Write(data)
	if err := bw.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(path+".gz", gz.Bytes(), 0o644); err != nil {
		return err
	}
	return os.WriteFile(path+".br", br.Bytes(), 0o644)
}
