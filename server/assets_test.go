package server

// Tests of how the browser files are held in memory.

import (
	"runtime"
	"testing"
	"testing/fstest"
)

// TestAssetsAreNotCopied loads a 4 MiB asset: its bytes stay in the file
// system they came from (the binary, for the embedded files) instead of
// being copied into the heap, where the collector's headroom under load
// would hold them about twice over.
func TestAssetsAreNotCopied(t *testing.T) {
	const size = 4 << 20
	fsys := fstest.MapFS{"big.wasm": {Data: make([]byte, size)}, "big.wasm.br": {Data: make([]byte, size)}}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	assets, err := loadAssets(fsys)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if got := assets["big.wasm"].variants["br"].size; got != size {
		t.Fatalf("size %d, want %d", got, size)
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > size/4 {
		t.Errorf("loading 2 × %d B of assets allocated %d B", size, allocated)
	}
}
