package roomlog

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// entry200 is about the size of a chat message event.
var entry200 = []byte(`{"type":"message","id":"user_12345","name":"someone","text":"` +
	`a line of chat of an ordinary length, neither short nor long, typed by a person","time":"2026-01-02T03:04:05Z"}`)

// BenchmarkAppendFollow appends entries from one or several goroutines
// while one follower receives them; an op is one entry appended and
// delivered. Each appender has one Append in flight at a time.
func BenchmarkAppendFollow(b *testing.B) {
	stores := []struct {
		name string
		cfg  func(*testing.B) Config
	}{
		{"file", func(b *testing.B) Config { return Config{Dir: b.TempDir()} }},
		{"file-syncalways", func(b *testing.B) Config { return Config{Dir: b.TempDir(), SyncAlways: true} }},
		{"memory", func(*testing.B) Config { return Config{Ephemeral: true} }},
	}
	for _, st := range stores {
		for _, appenders := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/appenders=%d", st.name, appenders), func(b *testing.B) {
				benchAppendFollow(b, st.cfg(b), appenders)
			})
		}
	}
}

func benchAppendFollow(b *testing.B, cfg Config, appenders int) {
	l := open(b, cfg)
	want := uint64(b.N)
	var got atomic.Uint64
	all := make(chan struct{})
	f, err := l.Follow(1, func(e Entry) {
		if got.Add(1) == want {
			close(all)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Stop()

	var next atomic.Int64
	var wg sync.WaitGroup
	b.SetBytes(int64(len(entry200)))
	b.ResetTimer()
	start := time.Now()
	for g := range appenders {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if _, err := l.Append(context.Background(), "msg", fmt.Sprint(g, "-", i), entry200); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	<-all
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "entries/s")
}

// fill10k returns a Dir holding 10,000 small entries, closed.
func fill10k(b *testing.B) string {
	dir := b.TempDir()
	l, err := Open(Config{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 10000 {
		if _, err := l.Append(context.Background(), "msg", fmt.Sprint(i), entry200); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkOpen10k measures Open on a Dir holding 10,000 entries: starting
// the embedded server, recovering the stream, opening it.
func BenchmarkOpen10k(b *testing.B) {
	dir := fill10k(b)
	for b.Loop() {
		l, err := Open(Config{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkReplay10k measures a follower from 1 reading a Dir's 10,000
// entries, as a node does after a restart.
func BenchmarkReplay10k(b *testing.B) {
	l := open(b, Config{Dir: fill10k(b)})
	for b.Loop() {
		done := make(chan struct{})
		f, err := l.Follow(1, func(e Entry) {
			if e.Seq == 10000 {
				close(done)
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		<-done
		f.Stop()
	}
}
