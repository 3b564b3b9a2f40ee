//go:build linux

package main

// Scenario 8, a restart under load (issue 12, SPEC §9): WebSocket members
// under scenario 1's load while the server is stopped gracefully and
// started again on the same addresses and log; every member takes its
// place back with its resume token, and nothing may be lost, repeated or
// announced.

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// restartResult is scenario 8's measure. Times are from the SIGTERM.
type restartResult struct {
	Members int `json:"members"`
	// Run is the paced load across the restart, counted as in scenario 1;
	// latency is from a message's first send, so it includes the outage
	// for what was sent during it.
	Run            runResult `json:"run"`
	ExitedSeconds  float64   `json:"seconds_until_old_process_exited"`
	ServingSeconds float64   `json:"seconds_until_new_process_serves"`
	ResumedP50     float64   `json:"seconds_until_half_resumed"`
	ResumedSeconds float64   `json:"seconds_until_every_member_resumed"`
	FlowingSeconds float64   `json:"seconds_until_messages_reach_every_member"`
	Resumed        int       `json:"resumed"`
	NotRecovered   int       `json:"resumed_without_every_missed_event"`
	ResumeFailed   int       `json:"resume_failed"`
	Presence       int64     `json:"presence_events_seen"` // joins and leaves, all members together
	Resent         int64     `json:"messages_resent"`
	Redials        int64     `json:"redials"` // dials refused and tried again
}

// restartUnderLoad is scenario 8. What counts as lost: a sender numbers
// its messages 0, 1, 2… and sends each until it is in the room's log.
// A message is in the log once its sender has received it back (nothing
// reaches anyone before the log has it). When its member's connection
// ends, the sender waits for the member to resume, sends a probe text on
// the new connection and waits for it to come back: everything the log
// held at the resume has then reached the member, so a message sent
// before that it has not heard back never reached the log, and it sends
// it again with its number and first send time. Every message sent is
// therefore in the log by the end, and every member must have received
// each exactly once, in each sender's order: a member's missing ones are
// lost, a repeat or a number out of order counts as out of order.
func restartUnderLoad(bin string, sz sizes) (restartResult, error) {
	srv, err := startServer(bin)
	if err != nil {
		return restartResult{}, err
	}
	defer srv.stop()
	n := sz.TCP + sz.Web
	c, err := connect(srv, 0, n, 0)
	if err != nil {
		return restartResult{}, err
	}
	defer c.close()
	r := newRestarter(c, srv, sz.Senders, sz.TextLen)
	var stopped, exited, serving time.Time
	var presence int64
	restarted := make(chan error, 1)
	go func() {
		time.Sleep(sz.Restart / 4) // the load runs steadily first
		presence = c.presence()
		var err error
		stopped, exited, serving, err = r.restart()
		restarted <- err
	}()
	res := restartResult{Members: n}
	res.Run = c.runWith(sz.Senders, sz.Rate, sz.Restart, r.send)
	// Its CPU and memory readings span two processes: they mean nothing.
	res.Run.CPU, res.Run.CPUSeconds, res.Run.RSSMiB = 0, 0, 0
	res.Run.MeanRSSMiB, res.Run.PeakRSSMiB, res.Run.BytesPerMember, res.Run.PeakBytesPerMember = 0, 0, 0, 0
	if err := <-restarted; err != nil {
		return res, fmt.Errorf("restart: %w", err)
	}
	timeout := time.After(30 * time.Second)
	for _, rec := range c.readers {
		select {
		case <-rec.back.done:
		case <-timeout:
		}
	}
	r.wg.Wait()
	since := func(t time.Time) float64 { return t.Sub(stopped).Seconds() }
	res.ExitedSeconds, res.ServingSeconds = since(exited), since(serving)
	res.Presence = c.presence() - presence
	res.Resent, res.Redials = r.resent.Load(), r.redials.Load()
	var resumed []float64
	for _, rec := range c.readers {
		rec.mu.Lock()
		k := *rec.back
		rec.mu.Unlock()
		switch {
		case k.failed:
			res.ResumeFailed++
		case !k.resumed.IsZero():
			res.Resumed++
			resumed = append(resumed, since(k.resumed))
			if !k.recovered {
				res.NotRecovered++
			}
		}
		if !k.flowing.IsZero() {
			res.FlowingSeconds = max(res.FlowingSeconds, since(k.flowing))
		}
	}
	if len(resumed) > 0 {
		slices.Sort(resumed)
		res.ResumedP50, res.ResumedSeconds = resumed[len(resumed)/2], resumed[len(resumed)-1]
	}
	if res.Resumed < n {
		return res, fmt.Errorf("%d of %d members resumed (%d refused)", res.Resumed, n, res.ResumeFailed)
	}
	if err := waitMembers(srv, n, 10*time.Second); err != nil {
		return res, fmt.Errorf("after the restart: %w", err)
	}
	return res, nil
}

// presence is how many joins and leaves the crowd's members have seen.
func (c *crowd) presence() int64 { return c.count(func(r *receiver) int64 { return r.presence }) }

// restarter restarts a crowd's server and brings each member back into
// its place, and its senders' messages into the log.
type restarter struct {
	c       *crowd
	srv     *serverProc
	textLen int
	sem     chan struct{} // bounds the dials at once, as connect does
	wg      sync.WaitGroup

	mu      sync.Mutex
	up      chan struct{}   // closed once the server serves
	changed []chan struct{} // per member: closed when its resumed connection replaces it

	// Per sender, touched only by that sender's goroutine.
	sentOn []*member     // the connection it last sent on
	sentAt [][]time.Time // when it first sent each message

	resent, redials atomic.Int64
}

// newRestarter has each of c's WebSocket members resume when its
// connection ends.
func newRestarter(c *crowd, srv *serverProc, senders, textLen int) *restarter {
	r := &restarter{
		c: c, srv: srv, textLen: textLen, sem: make(chan struct{}, 256),
		up: make(chan struct{}), changed: make([]chan struct{}, len(c.members)),
		sentOn: make([]*member, senders), sentAt: make([][]time.Time, senders),
	}
	close(r.up)
	for i, m := range c.members {
		r.changed[i] = make(chan struct{})
		m.onEnd(r.ended(i))
	}
	return r
}

func (r *restarter) ended(i int) func() {
	return func() {
		r.wg.Add(1)
		defer r.wg.Done()
		r.resume(i)
	}
}

// restart stops the server and starts it again, and says when it was
// stopped, when the old process had exited and when the new one served.
func (r *restarter) restart() (stopped, exited, serving time.Time, err error) {
	up := make(chan struct{})
	defer close(up)
	r.mu.Lock()
	r.up = up
	r.mu.Unlock()
	for _, rec := range r.c.readers {
		rec.mu.Lock()
		rec.back = &comeback{done: make(chan struct{})}
		rec.mu.Unlock()
	}
	stopped = time.Now()
	exited, err = r.srv.restart()
	return stopped, exited, time.Now(), err
}

// resume reconnects member i into its place once the server serves.
func (r *restarter) resume(i int) {
	r.mu.Lock()
	old, up := r.c.members[i], r.up
	r.mu.Unlock()
	old.close()
	<-up
	r.sem <- struct{}{}
	defer func() { <-r.sem }()
	for attempt := 0; ; attempt++ {
		m, err := resumeWS(r.srv, i, r.c.readers[i], r.ended(i))
		if err == nil {
			r.mu.Lock()
			r.c.members[i] = m
			close(r.changed[i])
			r.changed[i] = make(chan struct{})
			r.mu.Unlock()
			return
		}
		if attempt == 50 {
			fmt.Fprintf(os.Stderr, "loadgen: member %d could not reconnect: %v\n", i, err)
			return
		}
		r.redials.Add(1)
		time.Sleep(100 * time.Millisecond) // refused: nothing to wait for but time
	}
}

// send is the restart's sendFunc: sender k's message seq from member idx,
// once whatever the sender sent before it is in the log.
func (r *restarter) send(k, idx, seq int) bool {
	r.sentAt[k] = append(r.sentAt[k], time.Now())
	for {
		r.mu.Lock()
		m, changed := r.c.members[idx], r.changed[idx]
		r.mu.Unlock()
		if r.sentOn[k] == nil {
			r.sentOn[k] = m
		}
		if (m == r.sentOn[k] || r.catchUp(k, idx, m, changed, seq)) && m.say(benchText(k, seq, r.textLen, r.sentAt[k][seq])) == nil {
			return true
		}
		select { // m has ended too: wait for the next
		case <-changed:
		case <-time.After(30 * time.Second):
			return false
		}
	}
}

// catchUp brings sender k up to date on its member's resumed connection m
// (see restartUnderLoad): after a probe, it sends again what it sent
// before seq and has not heard back.
func (r *restarter) catchUp(k, idx int, m *member, changed chan struct{}, seq int) bool {
	rec := r.c.readers[idx]
	probe := fmt.Sprintf("~p %d %d ~", k, seq)
	seen := rec.expectProbe(probe)
	if m.say(probe) != nil {
		return false
	}
	select {
	case <-seen:
	case <-changed:
		return false
	case <-time.After(30 * time.Second):
		return false
	}
	rec.mu.Lock()
	from := int(rec.next[k])
	rec.mu.Unlock()
	for n := from; n < seq; n++ {
		if m.say(benchText(k, n, r.textLen, r.sentAt[k][n])) != nil {
			return false
		}
		r.resent.Add(1)
	}
	r.sentOn[k] = m
	return true
}
