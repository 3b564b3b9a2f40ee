package server

import (
	"context"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
)

// discardSink is a member connection that takes everything at once.
type discardSink struct{ bytes atomic.Int64 }

func (d *discardSink) write(batch [][]byte) error {
	for _, b := range batch {
		d.bytes.Add(int64(len(b)))
	}
	return nil
}
func (d *discardSink) finish(ending) {}
func (d *discardSink) hurry()        {}
func (d *discardSink) abort()        {}

// BenchmarkBroadcast measures one message from input to every member's
// writer, for rooms of several sizes and both transports.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			p := NewClientPool(50, slog.New(slog.DiscardHandler))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { p.Run(ctx); close(done) }()
			members := make([]*Member, n)
			for i := range members {
				via := ViaTCP
				if i%2 == 1 {
					via = ViaWeb
				}
				members[i] = newMember(via, "bench", &discardSink{}, 1<<30)
				if r := p.Register(members[i], ""); r != nil {
					b.Fatal(r)
				}
			}
			text := "hello everyone, this is a sixty-four byte benchmark message text"
			b.ResetTimer()
			for b.Loop() {
				p.Input(members[0], text)
			}
			p.Members() // wait for the pool to take every message
			b.StopTimer()
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "deliveries/s")
			p.Shutdown()
			for _, m := range members {
				m.out.wait()
			}
			cancel()
			<-done
		})
	}
}
