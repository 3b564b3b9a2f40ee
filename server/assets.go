package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// asset is one embedded browser file with its precompressed copies, made
// at build time by `go tool task generate`.
type asset struct {
	name        string
	contentType string
	variants    map[string]assetVariant // by Content-Encoding; "" is the raw file
}

type assetVariant struct {
	data []byte
	etag string
}

// encodingPreference lists the encodings served, best first.
var encodingPreference = []string{"br", "gzip"}

var encodingSuffix = map[string]string{"br": ".br", "gzip": ".gz"}

// loadAssets reads every file of fsys (a flat directory) with its .br and
// .gz copies.
func loadAssets(fsys fs.FS) (map[string]*asset, error) {
	assets := map[string]*asset{}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read assets: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasSuffix(name, ".br") || strings.HasSuffix(name, ".gz") {
			continue
		}
		a := &asset{name: name, contentType: mime.TypeByExtension(path.Ext(name)), variants: map[string]assetVariant{}}
		if a.contentType == "" {
			a.contentType = "application/octet-stream"
		}
		for _, enc := range append([]string{""}, encodingPreference...) {
			data, err := fs.ReadFile(fsys, name+encodingSuffix[enc])
			if err != nil {
				if enc == "" {
					return nil, fmt.Errorf("read asset %s: %w", name, err)
				}
				continue
			}
			sum := sha256.Sum256(data)
			a.variants[enc] = assetVariant{data: data, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		}
		assets[name] = a
	}
	return assets, nil
}

// handleAssets serves the embedded browser files, compressed when the
// browser accepts it, revalidated by ETag.
func (s *Server) handleAssets() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := s.assets[r.PathValue("name")]
		if a == nil {
			http.NotFound(w, r)
			return
		}
		enc := ""
		for _, e := range encodingPreference {
			if _, ok := a.variants[e]; ok && acceptsEncoding(r.Header.Get("Accept-Encoding"), e) {
				enc = e
				break
			}
		}
		v := a.variants[enc]
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("Cache-Control", "no-cache") // always revalidate: a 304 costs one round trip
		h.Set("Vary", "Accept-Encoding")
		h.Set("ETag", v.etag)
		if enc != "" {
			h.Set("Content-Encoding", enc)
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(v.data))
	})
}

// acceptsEncoding reports whether an Accept-Encoding header allows enc.
func acceptsEncoding(header, enc string) bool {
	for item := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(item), ";")
		if strings.EqualFold(strings.TrimSpace(name), enc) {
			return !strings.Contains(strings.ReplaceAll(params, " ", ""), "q=0") ||
				strings.Contains(params, "q=0.")
		}
	}
	return false
}
