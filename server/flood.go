package server

import "time"

// FloodLimit is how fast one member may send lines: a burst, then a steady
// rate. Past it the server reads that member more slowly; no line is dropped.
type FloodLimit struct {
	Burst     int     // lines accepted at once
	PerSecond float64 // lines a second after the burst
}

// DefaultFloodLimit is the limit of SPEC §6: a burst of 10, then 4 a second.
var DefaultFloodLimit = FloodLimit{Burst: 10, PerSecond: 4}

// floodGate is a token bucket for one member's input. It is used by that
// member's reader goroutine only.
type floodGate struct {
	limit   FloodLimit
	tokens  float64
	last    time.Time
	slowing bool // in a flood episode: the member has been told once
}

func newFloodGate(limit FloodLimit, now time.Time) *floodGate {
	return &floodGate{limit: limit, tokens: float64(limit.Burst), last: now}
}

// throttle is called by a member's reader before it handles each line or
// frame: within the limit it returns at once; past it, it sleeps for as
// long as the limit asks, after telling the member once per flood.
func (g *floodGate) throttle(tell func(*Refusal)) {
	wait, started := g.take(time.Now())
	if wait == 0 {
		return
	}
	if started {
		tell(refuse(CodeRateLimited, "you are sending too fast; what you send is now read more slowly"))
	}
	time.Sleep(wait)
}

// take spends one line's token and returns how long the reader must wait
// before handling that line (zero when within the limit), and whether this
// is the start of a flood episode, when the member should be told once.
func (g *floodGate) take(now time.Time) (wait time.Duration, started bool) {
	burst := float64(g.limit.Burst)
	g.tokens = min(burst, g.tokens+now.Sub(g.last).Seconds()*g.limit.PerSecond)
	g.last = now
	if g.tokens >= burst {
		g.slowing = false
	}
	g.tokens--
	if g.tokens >= 0 {
		return 0, false
	}
	wait = time.Duration(-g.tokens / g.limit.PerSecond * float64(time.Second))
	started = !g.slowing
	g.slowing = true
	return wait, started
}
