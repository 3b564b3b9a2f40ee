//go:build linux

package main

import (
	"math/bits"
	"time"
)

// histogram counts latencies in log-linear buckets: 16 per power of two,
// so a quantile is within about 6% of the truth, in 5 KB.
type histogram struct {
	counts [640]int64
	n      int64
	max    int64
}

func bucketOf(v int64) int {
	if v < 16 {
		return int(max(v, 0))
	}
	e := bits.Len64(uint64(v)) - 5
	return 16 + e*16 + int(v>>e) - 16
}

// bucketTop is the largest value a bucket holds.
func bucketTop(i int) int64 {
	if i < 16 {
		return int64(i)
	}
	e := (i - 16) / 16
	sub := int64((i-16)%16 + 16)
	return (sub+1)<<e - 1
}

func (h *histogram) add(d time.Duration) {
	v := int64(d)
	h.counts[min(bucketOf(v), len(h.counts)-1)]++
	h.n++
	h.max = max(h.max, v)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the latency below which a fraction q of samples fall.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	want := int64(q * float64(h.n))
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen > want {
			return time.Duration(min(bucketTop(i), h.max))
		}
	}
	return time.Duration(h.max)
}
