package server

// What the server counts, served at GET /metrics in the Prometheus text
// format (SPEC §12). Counters count what happened on this node: its
// members' joins, leaves, messages, the events it delivered; summed over
// the nodes of a room they give the room's. Gauges of members count the
// whole room, as /healthz does. No label holds a member's name, id or
// address.
//
// The library is github.com/VictoriaMetrics/metrics: it writes the same
// exposition format as prometheus/client_golang at about a tenth of the
// binary size, and a counter is one atomic add.

import (
	"net/http"
	"strconv"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
)

// roomMetrics are one server's series.
type roomMetrics struct {
	set        *vm.Set
	joins      map[Transport]*vm.Counter
	deliveries map[Transport]*vm.Counter
	messages   *vm.Counter
	fanout     *vm.PrometheusHistogram
}

// newRoomMetrics registers the series of a pool.
func newRoomMetrics(p *ClientPool) *roomMetrics {
	set := vm.NewSet()
	m := &roomMetrics{
		set:        set,
		joins:      map[Transport]*vm.Counter{},
		deliveries: map[Transport]*vm.Counter{},
		messages:   set.NewCounter("poolchat_messages_total"),
		// Event applied to written to the last member's socket: from well
		// under a millisecond to a slow second.
		fanout: set.NewPrometheusHistogramExt("poolchat_fanout_seconds",
			[]float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}),
	}
	for _, via := range []Transport{ViaWeb, ViaTCP} {
		m.joins[via] = set.NewCounter(`poolchat_joins_total{via="` + string(via) + `"}`)
		m.deliveries[via] = set.NewCounter(`poolchat_deliveries_total{via="` + string(via) + `"}`)
	}
	for _, why := range []string{whyQuit, whyClosed, whySlow, whyShutdown, whyNodeLost, whyGrace} {
		m.leave(why).Set(0) // listed from the start, at 0
	}
	for _, code := range []string{CodeNameTaken, CodeNameInvalid, CodeTooLong, CodeRateLimited, CodeUnknownCommand,
		CodeBadRequest, CodeResumeFailed, CodeNoSuchUser, refusedFull, refusedPerIP, refusedOrigin, refusedHost} {
		m.refusal(code).Set(0)
	}
	for _, result := range []string{"ok", "failed"} {
		m.resume(result).Set(0)
	}
	set.NewGauge(`poolchat_members{via="web"}`, func() float64 { web, _ := p.Counts(); return float64(web) })
	set.NewGauge(`poolchat_members{via="tcp"}`, func() float64 { _, tcp := p.Counts(); return float64(tcp) })
	set.NewGauge(`poolchat_log_seq`, func() float64 { return float64(p.seq.Load()) })
	return m
}

// buildInfo adds the series that names the running version.
func (m *roomMetrics) buildInfo(version string) {
	m.set.NewGauge(`poolchat_build_info{version=`+strconv.Quote(version)+`}`, func() float64 { return 1 })
}

// The refusals that happen before a member joins, beside the error codes.
const (
	refusedFull   = "server_full"
	refusedPerIP  = "per_ip"
	refusedOrigin = "origin"
	refusedHost   = "host"
)

func (m *roomMetrics) leave(why string) *vm.Counter {
	return m.set.GetOrCreateCounter(`poolchat_leaves_total{reason="` + why + `"}`)
}

func (m *roomMetrics) refusal(reason string) *vm.Counter {
	return m.set.GetOrCreateCounter(`poolchat_refusals_total{reason="` + reason + `"}`)
}

func (m *roomMetrics) resume(result string) *vm.Counter {
	return m.set.GetOrCreateCounter(`poolchat_resumes_total{result="` + result + `"}`)
}

// fannedOut records how long a batch of applied events took to reach the
// last member's socket.
func (m *roomMetrics) fannedOut(since time.Time) { m.fanout.UpdateDuration(since) }

// handleMetrics answers /metrics.
func (s *Server) handleMetrics() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		s.pool.metrics.set.WritePrometheus(w)
	})
}
