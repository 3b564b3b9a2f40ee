package main

import (
	"embed"
	"io/fs"
)

// webAssets are the built browser files: the wasm client, wasm_exec.js, the
// page's script and styles, each with .gz and .br copies. `go tool task
// generate` writes them; they are committed so that `go build` alone gives
// the whole product.
//
//go:embed web/assets
var webAssets embed.FS

// assets returns the browser files as a flat directory.
func assets() fs.FS {
	sub, err := fs.Sub(webAssets, "web/assets")
	if err != nil {
		panic(err) // web/assets is embedded above
	}
	return sub
}
