package main

import (
	"embed"
	"io/fs"
)

//go:embed web
var webFiles embed.FS

// assets returns the browser files the binary serves.
func assets() fs.FS {
	sub, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // the embedded tree always has web/
	}
	return sub
}
