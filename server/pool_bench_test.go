package server

import (
	"net"
	"os"
	"strconv"
	"testing"
)

// devNull is a member connection that takes everything at once: writes
// are real system calls, to /dev/null.
type devNull struct{ *os.File }

func (devNull) LocalAddr() net.Addr  { return nil }
func (devNull) RemoteAddr() net.Addr { return nil }

// BenchmarkBroadcast measures one message from input to every member's
// socket, for rooms of several sizes and both transports.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			p := startTestPool(b, 50)
			members := make([]*Member, n)
			for i := range members {
				via := ViaTCP
				if i%2 == 1 {
					via = ViaWeb
				}
				f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				members[i] = newMember(via, "bench", devNull{f}, 1<<30)
				if r := p.Register(members[i], ""); r != nil {
					b.Fatal(r)
				}
			}
			text := "hello everyone, this is a sixty-four byte benchmark message text"
			b.ResetTimer()
			for b.Loop() {
				p.Input(members[0], text)
			}
			p.callAfter(members[0].sent.Load(), func() {}) // the pool has applied every message
			b.StopTimer()
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "deliveries/s")
			p.Shutdown()
			for _, m := range members {
				m.out.wait()
			}
		})
	}
}
