//go:build linux

package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"
)

// soakResult is the soak run's measure: memory over time under churn.
type soakResult struct {
	Minutes    float64   `json:"minutes"`
	Churned    int64     `json:"members_churned"`
	Sent       int64     `json:"sent"`
	Delivered  int64     `json:"delivered"`
	Lost       int64     `json:"lost"`
	OutOfOrder int64     `json:"out_of_order"`
	RSSMiB     []float64 `json:"rss_mib_every_30s"`
	EndMembers int       `json:"members_at_end"`
}

// soak runs a room for d: a steady crowd reading, a few steady senders,
// and members joining, talking, renaming and leaving all the time. Memory
// must stay flat and nothing the steady crowd should get may be lost.
func soak(bin string, d time.Duration) (soakResult, error) {
	srv, err := startServer(bin)
	if err != nil {
		return soakResult{}, err
	}
	defer srv.stop()
	c, err := connect(srv, 100, 100, 0)
	if err != nil {
		return soakResult{}, err
	}
	defer c.close()

	var res soakResult
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var churned, churnErrs int64
	var mu sync.Mutex
	// Churn: a member every 100 ms, staying a few seconds.
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		var inner sync.WaitGroup
		defer inner.Wait()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			inner.Go(func() {
				var m *member
				var err error
				rec := newReceiver(maxSenders, 0)
				if i%2 == 0 {
					m, err = dialTCP(srv, 100000+i, rec, true)
				} else {
					m, err = dialWS(srv, 100000+i, rec)
				}
				mu.Lock()
				if err != nil {
					churnErrs++
				} else {
					churned++
				}
				mu.Unlock()
				if err != nil {
					return
				}
				defer m.close()
				time.Sleep(time.Duration(2000+rand.IntN(8000)) * time.Millisecond)
				m.say("churning " + strings.Repeat("c", rand.IntN(200)))
				m.say(fmt.Sprintf(`\nick churn%d`, i))
				time.Sleep(time.Duration(rand.IntN(3000)) * time.Millisecond)
			})
		}
	})
	// Memory every 30 s.
	wg.Go(func() {
		tick := time.NewTicker(30 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				s := mustSample(srv)
				res.RSSMiB = append(res.RSSMiB, float64(s.rss)/(1<<20))
				fmt.Fprintf(os.Stderr, "  soak: RSS %.1f MiB\n", float64(s.rss)/(1<<20))
			}
		}
	})
	r := c.run(10, 2, 64, d) // the steady senders, for d
	close(stop)
	wg.Wait()
	res.Minutes = d.Minutes()
	res.Churned, res.Sent, res.Delivered, res.Lost, res.OutOfOrder = churned, r.Sent, r.Delivered, r.Lost, r.OutOfOrder
	if err := waitMembers(srv, 200, time.Minute); err != nil {
		return res, fmt.Errorf("after the soak: %w", err)
	}
	res.EndMembers = 200
	if churnErrs > 0 {
		return res, fmt.Errorf("%d churning members could not connect", churnErrs)
	}
	return res, nil
}

// soakMarkdown is the soak's table for bench/NOTES.md.
func soakMarkdown(r soakResult, date string) string {
	var rss []string
	for _, v := range r.RSSMiB {
		rss = append(rss, fmt.Sprintf("%.0f", v))
	}
	return fmt.Sprintf("\n### Soak, %s\n\n| minutes | members churned | sent | delivered | lost | out of order | RSS every 30 s (MiB) |\n|---|---|---|---|---|---|---|\n| %.0f | %d | %d | %d | %d | %d | %s |\n",
		date, r.Minutes, r.Churned, r.Sent, r.Delivered, r.Lost, r.OutOfOrder, strings.Join(rss, " "))
}
