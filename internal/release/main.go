// Command release cross-compiles poolchat and packs one archive per
// platform into a directory, with a SHA256SUMS file. Every binary embeds
// the same committed browser files; the version is stamped into each.
// Archives are reproducible: two runs from one commit give the same bytes.
//
// `go tool task release` runs it for every platform.
//
// Usage: go run ./internal/release -version v1.2.3 [-out dist] [-platforms linux/amd64,...]
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// platforms are the release targets.
var platforms = "linux/amd64,linux/arm64,darwin/amd64,darwin/arm64,windows/amd64,windows/arm64"

// epoch is the time stamped on every archive entry, so archives depend on
// their contents only.
var epoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// docs go into every archive beside the binary.
var docs = []string{"README.md", "LICENSE"}

func main() {
	version := flag.String("version", "", "the version to stamp (required), e.g. from git describe")
	out := flag.String("out", "dist", "directory for the archives and SHA256SUMS")
	only := flag.String("platforms", platforms, "comma-separated GOOS/GOARCH list")
	flag.Parse()
	if *version == "" {
		fmt.Fprintln(os.Stderr, "release: -version is required")
		os.Exit(2)
	}
	if err := release(*version, *out, strings.Split(*only, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func release(version, out string, targets []string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	var sums []string
	for _, target := range targets {
		goos, goarch, ok := strings.Cut(strings.TrimSpace(target), "/")
		if !ok {
			return fmt.Errorf("bad platform %q, want GOOS/GOARCH", target)
		}
		name, err := buildArchive(version, out, goos, goarch)
		if err != nil {
			return fmt.Errorf("%s: %w", target, err)
		}
		data, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		sums = append(sums, hex.EncodeToString(sum[:])+"  "+name+"\n")
		fmt.Fprintln(os.Stderr, "release: wrote", filepath.Join(out, name))
	}
	sort.Strings(sums)
	return os.WriteFile(filepath.Join(out, "SHA256SUMS"), []byte(strings.Join(sums, "")), 0o644)
}

// buildArchive compiles one platform's binary and packs it with the docs.
func buildArchive(version, out, goos, goarch string) (string, error) {
	exe := "poolchat"
	if goos == "windows" {
		exe += ".exe"
	}
	tmp, err := os.MkdirTemp("", "poolchat-release-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, exe)
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -buildid= -X main.version="+version, "-o", bin, ".")
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0", "GOFLAGS=")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build: %w", err)
	}
	files := map[string]string{exe: bin}
	for _, d := range docs {
		files[d] = d
	}
	dir := "poolchat_" + strings.TrimPrefix(version, "v") + "_" + goos + "_" + goarch
	var buf bytes.Buffer
	name := dir + ".tar.gz"
	if goos == "windows" {
		name = dir + ".zip"
		err = writeZip(&buf, dir, files, exe)
	} else {
		err = writeTarGz(&buf, dir, files, exe)
	}
	if err != nil {
		return "", err
	}
	return name, os.WriteFile(filepath.Join(out, name), buf.Bytes(), 0o644)
}

// sortedNames lists the archive's files in a fixed order.
func sortedNames(files map[string]string) []string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func writeTarGz(buf *bytes.Buffer, dir string, files map[string]string, exe string) error {
	zw, _ := gzip.NewWriterLevel(buf, gzip.BestCompression) // no name or time in the header
	tw := tar.NewWriter(zw)
	for _, n := range sortedNames(files) {
		data, err := os.ReadFile(files[n])
		if err != nil {
			return err
		}
		mode := int64(0o644)
		if n == exe {
			mode = 0o755
		}
		hdr := &tar.Header{Name: dir + "/" + n, Mode: mode, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX, Uname: "root", Gname: "root"}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

func writeZip(buf *bytes.Buffer, dir string, files map[string]string, exe string) error {
	zw := zip.NewWriter(buf)
	for _, n := range sortedNames(files) {
		data, err := os.ReadFile(files[n])
		if err != nil {
			return err
		}
		hdr := &zip.FileHeader{Name: dir + "/" + n, Method: zip.Deflate, Modified: epoch}
		hdr.SetMode(0o644)
		if n == exe {
			hdr.SetMode(0o755)
		}
		w, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
	return zw.Close()
}
