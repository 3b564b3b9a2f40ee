//go:build linux

package main

// A run against a baseline (-baseline) asks whether a change made the
// server slower or bigger: each scenario runs the baseline binary and then
// -server, round after round, so that both get the same minutes of this
// machine, whose speed drifts; the report sets each measure side by side
// with the ratio server/baseline.

import (
	"fmt"
	"strings"
)

// tolerance is how far the server may fall behind the baseline on a
// scenario's criterion (issue 12: within 15%).
const tolerance = 0.15

// round is one round against a baseline: the baseline's measures and the
// server's, taken one right after the other.
type round struct {
	Baseline measures `json:"baseline"`
	Server   measures `json:"server"`
}

// metric is one number a scenario is compared on.
type metric struct {
	name      string
	format    string                            // of one value
	more      bool                              // more is better; otherwise less is
	criterion bool                              // judged against tolerance
	value     func(m *measures) (float64, bool) // false when m lacks it
}

// runMetrics compare a paced run (scenarios 1 and 5).
func runMetrics(get func(m *measures) *runResult) []metric {
	f := func(v func(r *runResult) float64) func(m *measures) (float64, bool) {
		return func(m *measures) (float64, bool) {
			if r := get(m); r != nil {
				return v(r), true
			}
			return 0, false
		}
	}
	return []metric{
		{"p99 ms", "%.1f", false, true, f(func(r *runResult) float64 { return r.P99ms })},
		{"p50 ms", "%.1f", false, false, f(func(r *runResult) float64 { return r.P50ms })},
		{"deliveries/s", "%.0f", true, false, f(func(r *runResult) float64 { return r.PerSecond })},
		{"server CPU %", "%.0f", false, false, f(func(r *runResult) float64 { return r.CPU })},
		{"server CPU µs/delivery", "%.2f", false, false, f(func(r *runResult) float64 { return cpuPerDelivery(*r) })},
		{"server RSS MiB", "%.0f", false, false, f(func(r *runResult) float64 { return r.RSSMiB })},
		{"lost or out of order", "%.0f", false, false, f(func(r *runResult) float64 { return float64(r.Lost + r.OutOfOrder) })},
	}
}

// saturationMetrics compare scenario 2: the most deliveries within p99 ≤
// 100 ms, and the p99 at each step.
func saturationMetrics(sz sizes) []metric {
	ms := []metric{{"deliveries/s within p99 ≤ 100 ms", "%.0f", true, true, func(m *measures) (float64, bool) {
		if best := bestStep(m.Saturation); best >= 0 {
			return m.Saturation[best].PerSecond, true
		}
		return 0, len(m.Saturation) > 0
	}}}
	// What each delivery costs the server tells how far it could go on
	// a quiet machine, even when a busy one stops both at the first step.
	ms = append(ms, metric{"server CPU µs/delivery, all steps", "%.2f", false, false, func(m *measures) (float64, bool) {
		return cpuPerDelivery(m.Saturation...), len(m.Saturation) > 0
	}})
	for _, senders := range sz.Steps {
		ms = append(ms, metric{fmt.Sprintf("p99 ms at %d senders", senders), "%.1f", false, false, func(m *measures) (float64, bool) {
			for _, s := range m.Saturation {
				if s.Senders == senders {
					return s.P99ms, true
				}
			}
			return 0, false
		}})
	}
	return ms
}

// cpuPerDelivery is the server's CPU time per delivery over runs.
func cpuPerDelivery(runs ...runResult) float64 {
	var cpu, n float64
	for _, r := range runs {
		cpu += r.CPUSeconds * 1e6
		n += float64(r.Delivered)
	}
	if n == 0 {
		return 0
	}
	return cpu / n
}

// idleMetrics compare scenario 3.
var idleMetrics = []metric{
	{"idle TCP KB/member", "%.1f", false, true, func(m *measures) (float64, bool) {
		if m.IdleTCP == nil {
			return 0, false
		}
		return m.IdleTCP.BytesPerMember / 1000, true
	}},
	{"idle WebSocket KB/member", "%.1f", false, true, func(m *measures) (float64, bool) {
		if m.IdleWeb == nil {
			return 0, false
		}
		return m.IdleWeb.BytesPerMember / 1000, true
	}},
	{"RSS MiB before anyone joined", "%.1f", false, false, func(m *measures) (float64, bool) {
		if m.IdleTCP == nil {
			return 0, false
		}
		return m.IdleTCP.BaseMiB, true
	}},
}

// stormMetrics compare scenario 4.
var stormMetrics = []metric{
	{"s until every roster is complete", "%.2f", false, true, func(m *measures) (float64, bool) {
		if m.Storm == nil {
			return 0, false
		}
		return m.Storm.Seconds, true
	}},
}

// restartMetrics compare scenario 8.
var restartMetrics = []metric{
	{"s until messages reach every member again", "%.2f", false, true, func(m *measures) (float64, bool) {
		if m.Restart == nil {
			return 0, false
		}
		return m.Restart.FlowingSeconds, true
	}},
	{"lost or out of order", "%.0f", false, false, func(m *measures) (float64, bool) {
		if m.Restart == nil {
			return 0, false
		}
		return float64(m.Restart.Run.Lost + m.Restart.Run.OutOfOrder), true
	}},
	{"joins or leaves seen", "%.0f", false, false, func(m *measures) (float64, bool) {
		if m.Restart == nil {
			return 0, false
		}
		return float64(m.Restart.Presence), true
	}},
}

// clusterMetrics compare scenario 9.
var clusterMetrics = []metric{
	{"p99 three nodes / one", "%.2f", false, true, func(m *measures) (float64, bool) {
		if m.Cluster == nil || m.Cluster.P99Ratio == 0 {
			return 0, false
		}
		return m.Cluster.P99Ratio, true
	}},
	{"different orders", "%.0f", false, false, func(m *measures) (float64, bool) {
		if m.Cluster == nil {
			return 0, false
		}
		return float64(m.Cluster.Orders), true
	}},
	{"lost or out of order, three nodes", "%.0f", false, false, func(m *measures) (float64, bool) {
		if m.Cluster == nil {
			return 0, false
		}
		return float64(m.Cluster.Cluster.Lost + m.Cluster.Cluster.OutOfOrder), true
	}},
}

// versusRows are sc's rows of the table against the baseline: for each
// metric the values by round, their ratios, the ratio of the means, and,
// for the scenario's criterion, whether it is within tolerance.
func versusRows(sc scenario, rounds []round) []string {
	var rows []string
	for _, mt := range sc.compared {
		var base, ours, ratios []string
		var sumBase, sumOurs float64
		for _, r := range rounds {
			b, bok := mt.value(&r.Baseline)
			o, ook := mt.value(&r.Server)
			base, ours = append(base, formatValue(mt.format, b, bok)), append(ours, formatValue(mt.format, o, ook))
			if !bok || !ook {
				ratios = append(ratios, "–")
				continue
			}
			sumBase, sumOurs = sumBase+b, sumOurs+o
			ratios = append(ratios, formatRatio(o, b))
		}
		if strings.Trim(strings.Join(base, "")+strings.Join(ours, ""), "–") == "" {
			continue // no round has it: a step neither binary reached
		}
		within := ""
		if mt.criterion && sumBase > 0 {
			worse := sumOurs/sumBase - 1
			if mt.more {
				worse = 1 - sumOurs/sumBase
			}
			within = "yes"
			if worse > tolerance {
				within = fmt.Sprintf("no, %.0f%% worse", 100*worse)
			}
		}
		better := map[bool]string{true: "more", false: "less"}[mt.more]
		rows = append(rows, fmt.Sprintf("| %s | %s (%s is better) | %s | %s | %s | %s | %s |",
			sc.id, mt.name, better, strings.Join(base, ", "), strings.Join(ours, ", "),
			strings.Join(ratios, ", "), formatRatio(sumOurs, sumBase), within))
	}
	return rows
}

func formatValue(format string, v float64, ok bool) string {
	if !ok {
		return "–"
	}
	return fmt.Sprintf(format, v)
}

// formatRatio is ours/base, or a dash when base is 0 (nothing lost on
// either side, say).
func formatRatio(ours, base float64) string {
	if base == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", ours/base)
}

// versusMarkdown is the table of a run against a baseline.
func versusMarkdown(r *results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Against a baseline: each scenario ran `%s` (baseline) and then `%s` (server), round after round (%d rounds). Ratios are server/baseline; \"overall\" is the ratio of the means over the rounds; the last column judges each scenario's criterion against %.0f%%.\n\n",
		r.Baseline, r.Server, len(r.Rounds), 100*tolerance)
	b.WriteString("| # | measure | baseline, by round | server, by round | server/baseline, by round | overall | within tolerance |\n|---|---|---|---|---|---|---|\n")
	for _, sc := range scenarios(config{}, sizesOf(r.Quick)) {
		for _, row := range versusRows(sc, r.Rounds) {
			b.WriteString(row + "\n")
		}
	}
	return b.String()
}
