package server

// The browser files: served from the binary, compressed when the browser
// accepts it, revalidated by ETag.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
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

// assetVariant is one encoding of an asset. Its bytes stay where fsys
// keeps them (in the binary, for the embedded files) and are read per
// request, not copied into the heap: that would be 3.3 MiB live, held
// about twice over by the collector's headroom whenever the room is busy.
type assetVariant struct {
	fsys fs.FS
	path string
	size int64
	etag string
}

// open returns the variant's bytes for http.ServeContent.
func (v assetVariant) open() (io.ReadSeekCloser, error) {
	f, err := v.fsys.Open(v.path)
	if err != nil {
		return nil, err
	}
	rs, ok := f.(io.ReadSeekCloser)
	if !ok {
		f.Close()
		return nil, fmt.Errorf("asset %s cannot seek", v.path)
	}
	return rs, nil
}

// encodingPreference lists the encodings served, best first.
var encodingPreference = []string{"br", "gzip"}

var encodingSuffix = map[string]string{"br": ".br", "gzip": ".gz"}

// loadAssets finds every file of fsys (a flat directory) with its .br and
// .gz copies and hashes each for its ETag.
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
			v := assetVariant{fsys: fsys, path: name + encodingSuffix[enc]}
			if err := v.hash(); err != nil {
				if enc == "" || !errors.Is(err, fs.ErrNotExist) {
					return nil, fmt.Errorf("read asset: %w", err)
				}
				continue
			}
			a.variants[enc] = v
		}
		assets[name] = a
	}
	return assets, nil
}

// hash reads the variant once to set its size and ETag.
func (v *assetVariant) hash() error {
	f, err := v.open()
	if err != nil {
		return err
	}
	defer f.Close()
	sum := sha256.New()
	if v.size, err = io.Copy(sum, f); err != nil {
		return fmt.Errorf("%s: %w", v.path, err)
	}
	v.etag = `"` + hex.EncodeToString(sum.Sum(nil)[:12]) + `"`
	return nil
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
		f, err := v.open()
		if err != nil {
			s.log.Error("open asset", "err", err)
			http.Error(w, "asset unavailable", http.StatusInternalServerError)
			return
		}
		defer f.Close()
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("Cache-Control", "no-cache") // always revalidate: a 304 costs one round trip
		h.Set("Vary", "Accept-Encoding")
		h.Set("ETag", v.etag)
		if enc != "" {
			h.Set("Content-Encoding", enc)
		}
		http.ServeContent(w, r, "", time.Time{}, f)
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
