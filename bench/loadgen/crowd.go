//go:build linux

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxSenders bounds the sender numbers a receiver tracks.
const maxSenders = 2000

// crowd is a set of connected members with their receivers.
type crowd struct {
	srvs    []*serverProc // one, or the nodes of one room
	base    procSample    // the servers' before anyone joined
	members []*member     // TCP first, then WebSocket
	readers []*receiver
	slow    []*member // TCP members that never read
}

// connect joins tcpN TCP and webN WebSocket members, plus slow TCP members
// that never read, and waits until the server counts them all. Every join
// is announced to everyone, so joining n members costs n² deliveries.
func connect(srv *serverProc, tcpN, webN, slowN int) (*crowd, error) {
	return connectAll([]*serverProc{srv}, tcpN, webN, slowN)
}

// connectAll is connect for a room served by several nodes: member i
// joins through node i mod len(srvs), and every node counts them all.
// Members of poolchat join in waves of joinWave, each waiting until every
// member so far has heard of every join so far (see joinWave).
func connectAll(srvs []*serverProc, tcpN, webN, slowN int) (*crowd, error) {
	c := &crowd{srvs: srvs}
	c.base = c.sample()
	total := tcpN + webN
	c.members = make([]*member, total)
	c.readers = make([]*receiver, total)
	errs := make(chan error, total+slowN)
	sem := make(chan struct{}, 256)
	var slowMu sync.Mutex
	join := func(i int) {
		sem <- struct{}{}
		defer func() { <-sem }()
		rec := newReceiver(maxSenders, 0)
		srv := srvs[i%len(srvs)]
		var m *member
		var err error
		switch {
		case i < tcpN:
			m, err = dialTCP(srv, i, rec, true)
		case i < total:
			m, err = dialWS(srv, i, rec)
		default:
			m, err = dialTCP(srv, i, rec, false)
		}
		if err != nil {
			errs <- err
			return
		}
		if i < total {
			c.members[i], c.readers[i] = m, rec
		} else {
			slowMu.Lock()
			c.slow = append(c.slow, m)
			slowMu.Unlock()
		}
	}
	paced := srvs[0].proto == poolchatProtocol
	wave := total + slowN
	if paced {
		wave = joinWave
	}
	for lo := 0; lo < total+slowN; lo += wave {
		hi := min(lo+wave, total+slowN)
		var wg sync.WaitGroup
		for i := lo; i < hi; i++ {
			wg.Go(func() { join(i) })
		}
		wg.Wait()
		var err error
		select {
		case err = <-errs:
			err = fmt.Errorf("connect: %w", err)
		default:
			if paced {
				err = c.heardJoins(hi, 2*time.Minute)
			}
		}
		if err != nil {
			c.close()
			return nil, err
		}
	}
	ready := func() error { return waitMembers(srvs[0], total+slowN, 10*time.Minute) }
	if !paced {
		ready = c.warmUp
	}
	if err := ready(); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// joinWave is how many members join at once before the generator waits
// for every member to hear of them. Joining 10,000 WebSocket members at
// once sent ~50 million new_user events faster than the generator read
// them, and 18–35% of the members went past the server's 1 MiB outbox
// limit and were dropped; a wave of 500 leaves each member at most 500
// announcements (~50 KB) behind.
const joinWave = 500

// heardJoins waits until every reading member among the first n has heard
// of n members (itself included).
func (c *crowd) heardJoins(n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, r := range c.readers[:min(n, len(c.readers))] {
		for {
			r.mu.Lock()
			known := r.roster
			r.mu.Unlock()
			if known >= n {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("connect: a member knows of %d members after %v, want %d", known, timeout, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// warmUp waits until every member hears the first, for a server that
// counts no members: the first says a line again each second until one
// reaches them all.
func (c *crowd) warmUp() error {
	const warm = maxSenders - 1 // a sender number no run uses
	for seq := range 30 {
		if err := c.members[0].say(benchText(warm, seq, 0, time.Now())); err != nil {
			return err
		}
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if c.heard(warm, seq) {
				return nil
			}
		}
	}
	return errors.New("warm-up: no line reached every member in 30 s")
}

// heard reports whether every member has received sender's line seq.
func (c *crowd) heard(sender, seq int) bool {
	for _, r := range c.readers {
		r.mu.Lock()
		ok := r.next[sender] > int32(seq)
		r.mu.Unlock()
		if !ok {
			return false
		}
	}
	return true
}

// waitMembers polls /healthz until the server counts n members.
func waitMembers(srv *serverProc, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		got, err := members(srv)
		if err == nil && got == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server counts %d members, want %d (%v)", got, n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func members(srv *serverProc) (int, error) {
	resp, err := http.Get("http://" + srv.httpAddr + "/healthz")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var h struct{ Members int }
	err = json.NewDecoder(resp.Body).Decode(&h)
	return h.Members, err
}

func (c *crowd) close() {
	for _, m := range append(c.members, c.slow...) {
		if m != nil {
			m.close()
		}
	}
}

// senderIndex spreads senders evenly over the members, so both
// transports send.
func (c *crowd) senderIndex(k, senders int) int {
	return k * len(c.readers) / senders
}

// runResult is what one paced run measured.
type runResult struct {
	Senders    int     `json:"senders"`
	Seconds    float64 `json:"seconds"`
	Sent       int64   `json:"sent"`
	Delivered  int64   `json:"delivered"`
	PerSecond  float64 `json:"deliveries_per_second"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	Maxms      float64 `json:"max_ms"`
	Lost       int64   `json:"lost"`
	OutOfOrder int64   `json:"out_of_order"`
	CPU        float64 `json:"server_cpu_percent"`
	CPUSeconds float64 `json:"server_cpu_seconds"` // from the first send until every delivery is in
	LoadCPU    float64 `json:"loadgen_cpu_percent"`
	RSSMiB     float64 `json:"server_rss_mib"`
	// MeanRSSMiB and PeakRSSMiB are the servers' RSS while messages were
	// being sent (sampled every 250 ms), on average and at most;
	// BytesPerMember and PeakBytesPerMember are those beyond what the
	// servers held before anyone joined, per member: memory under load.
	// The peak of a crowd's first run may be what its joins left.
	MeanRSSMiB         float64 `json:"server_mean_rss_mib"`
	PeakRSSMiB         float64 `json:"server_peak_rss_mib"`
	BytesPerMember     float64 `json:"bytes_per_member_under_load"`
	PeakBytesPerMember float64 `json:"peak_bytes_per_member_under_load"`
}

// run has senders members each send rate messages a second of textLen
// bytes for d, then waits for every delivery and measures.
func (c *crowd) run(senders int, rate float64, textLen int, d time.Duration) runResult {
	return c.runWith(senders, rate, d, func(k, idx, seq int) bool {
		return c.members[idx].say(benchText(k, seq, textLen, time.Now())) == nil
	})
}

// sendFunc sends sender k's message seq from the member at index idx;
// false stops that sender.
type sendFunc func(k, idx, seq int) bool

// runWith is run with each message sent by send.
func (c *crowd) runWith(senders int, rate float64, d time.Duration, send sendFunc) runResult {
	for _, r := range c.readers {
		r.reset(maxSenders)
	}
	before, selfBefore := c.sample(), selfCPU()
	start := time.Now()
	period := time.Duration(float64(time.Second) / rate)
	sent := make([]int64, senders)
	rss := c.watchRSS()
	var wg sync.WaitGroup
	for k := range senders {
		idx := c.senderIndex(k, senders)
		wg.Go(func() {
			time.Sleep(period * time.Duration(k) / time.Duration(senders)) // spread the senders over a period
			tick := time.NewTicker(period)
			defer tick.Stop()
			for seq := 0; time.Since(start) < d; seq++ {
				if !send(k, idx, seq) {
					return
				}
				sent[k]++
				<-tick.C
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	mean, peak := rss.stop()
	var total int64
	for _, n := range sent {
		total += n
	}
	want := total * int64(len(c.readers))
	deadline := time.Now().Add(10 * time.Second)
	for c.delivered() < want && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	after := c.sample()
	res := runResult{Senders: senders, Seconds: elapsed.Seconds(), Sent: total, RSSMiB: float64(after.rss) / (1 << 20),
		MeanRSSMiB: mean / (1 << 20), PeakRSSMiB: float64(peak) / (1 << 20),
		BytesPerMember:     (mean - float64(c.base.rss)) / float64(len(c.readers)),
		PeakBytesPerMember: float64(peak-c.base.rss) / float64(len(c.readers))}
	res.CPU, res.CPUSeconds = cpuPercent(before, after), (after.cpu - before.cpu).Seconds()
	res.LoadCPU = 100 * float64(selfCPU()-selfBefore) / float64(after.at.Sub(before.at))
	var h histogram
	for _, r := range c.readers {
		r.mu.Lock()
		res.Delivered += r.got
		res.OutOfOrder += r.dups
		res.Lost += total - r.got
		h.merge(&r.hist)
		r.mu.Unlock()
	}
	res.PerSecond = float64(res.Delivered) / elapsed.Seconds()
	res.P50ms, res.P99ms, res.Maxms = ms(h.quantile(0.50)), ms(h.quantile(0.99)), ms(time.Duration(h.max))
	return res
}

// rssWatch samples the servers' memory every 250 ms until stopped.
type rssWatch struct {
	done, stopped chan struct{}
	sum           float64 // of the samples
	n             int
	peak          int64
}

// watchRSS starts sampling the crowd's servers' memory.
func (c *crowd) watchRSS() *rssWatch {
	w := &rssWatch{done: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(w.stopped)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			var rss int64
			for _, s := range c.srvs {
				p, _ := s.sample() // quietly: a restart has none for a moment
				rss += p.rss
			}
			w.sum, w.n, w.peak = w.sum+float64(rss), w.n+1, max(w.peak, rss)
			select {
			case <-w.done:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// stop ends the sampling and returns the mean and the most.
func (w *rssWatch) stop() (mean float64, peak int64) {
	close(w.done)
	<-w.stopped
	return w.sum / float64(w.n), w.peak
}

// sample is the crowd's servers' CPU time and memory, summed.
func (c *crowd) sample() procSample {
	var sum procSample
	for _, s := range c.srvs {
		p := mustSample(s)
		sum.at, sum.cpu, sum.rss = p.at, sum.cpu+p.cpu, sum.rss+p.rss
	}
	return sum
}

// delivered is how many benchmark messages the crowd's members received.
func (c *crowd) delivered() int64 { return c.count(func(r *receiver) int64 { return r.got }) }

// count sums one of the receivers' counts, each read under its lock.
func (c *crowd) count(of func(*receiver) int64) int64 {
	var n int64
	for _, r := range c.readers {
		r.mu.Lock()
		n += of(r)
		r.mu.Unlock()
	}
	return n
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// benchText is "~b SENDER SEQ UNIXNANO " padded with x to n bytes, with
// at as the time it was sent.
func benchText(sender, seq, n int, at time.Time) string {
	var b strings.Builder
	b.Grow(n)
	b.WriteString("~b ")
	b.WriteString(strconv.Itoa(sender))
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(seq))
	b.WriteByte(' ')
	b.WriteString(strconv.FormatInt(at.UnixNano(), 10))
	b.WriteByte(' ')
	for b.Len() < n {
		b.WriteByte('x')
	}
	return b.String()
}
