package server_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/poolchat/poolchat/internal/chattest"
	"github.com/poolchat/poolchat/server"
)

// scrape reads /metrics into series → value.
func scrape(t *testing.T, room *chattest.Room) map[string]string {
	t.Helper()
	resp, err := http.Get("http://" + room.HTTPAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q", ct)
	}
	series := map[string]string{}
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		if l := lines.Text(); !strings.HasPrefix(l, "#") {
			name, value, _ := strings.Cut(l, " ")
			series[name] = value
		}
	}
	return series
}

// TestMetrics: after a known sequence of joins, messages and leaves, the
// counters say exactly that, and no label holds a name, id or address.
func TestMetrics(t *testing.T) {
	room := chattest.Start(t, server.Config{Version: "v1.2.3-test"})
	a, b := room.Join(t), room.Join(t)
	a.Expect("* " + b.Name + " joined")
	web := room.JoinWS(t, "Ada")
	a.Expect("* Ada joined")
	b.Expect("* Ada joined")
	a.Send("one")
	a.Send("two")
	for _, c := range []*chattest.TCPClient{a, b} {
		c.Expect(a.Name + ": one")
		c.Expect(a.Name + ": two")
	}
	b.Send(`\bogus`)
	b.Expect(`! unknown command \bogus; type \help for the list`)
	bad := room.DialWS(t)
	bad.Send(map[string]any{"type": "got_a_new_user", "name": "ada"})
	bad.Expect("error")
	bad.Conn.Close(websocket.StatusNormalClosure, "")
	b.Send(`\quit`)
	a.Expect("* " + b.Name + " left")
	web.Conn.Close(websocket.StatusGoingAway, "")
	a.Expect("* Ada left")

	got := scrape(t, room)
	for series, want := range map[string]string{
		`poolchat_joins_total{via="tcp"}`:                   "2",
		`poolchat_joins_total{via="web"}`:                   "1",
		`poolchat_messages_total`:                           "2",
		`poolchat_leaves_total{reason="quit"}`:              "1",
		`poolchat_leaves_total{reason="closed"}`:            "1", // a close frame from the page
		`poolchat_leaves_total{reason="slow"}`:              "0",
		`poolchat_refusals_total{reason="name_taken"}`:      "1",
		`poolchat_refusals_total{reason="unknown_command"}`: "1",
		`poolchat_members{via="tcp"}`:                       "1",
		`poolchat_members{via="web"}`:                       "0",
		`poolchat_build_info{version="v1.2.3-test"}`:        "1",
		`poolchat_deliveries_total{via="tcp"}`:              "",
	} {
		if v, ok := got[series]; !ok || want != "" && v != want {
			t.Errorf("%s = %q, want %q", series, v, want)
		}
	}
	if got[`poolchat_log_seq`] == "0" || got[`poolchat_fanout_seconds_count`] == "0" || got[`poolchat_deliveries_total{via="tcp"}`] == "0" {
		t.Errorf("log seq %s, fan-outs %s", got[`poolchat_log_seq`], got[`poolchat_fanout_seconds_count`])
	}
	private := regexp.MustCompile(`user_[0-9]{12}|guest-|Ada|127\.0\.0\.1`)
	for series := range got {
		if private.MatchString(series) {
			t.Errorf("a label holds a member's identity: %s", series)
		}
	}
}

// TestDashboardSeries: every series the Grafana dashboard in docs/ asks
// for is one the server serves, so a renamed series breaks this test
// rather than a panel.
func TestDashboardSeries(t *testing.T) {
	raw, err := os.ReadFile("../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dashboard struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dashboard); err != nil {
		t.Fatalf("docs/grafana-dashboard.json: %v", err)
	}
	served := map[string]bool{}
	for series := range scrape(t, chattest.Start(t, server.Config{})) {
		served[series] = true
		name, _, _ := strings.Cut(series, "{")
		served[name] = true
	}
	asked := regexp.MustCompile(`poolchat_[a-z_]+(\{[a-z]+="[a-z_]+"\})?`)
	queries := 0
	for _, p := range dashboard.Panels {
		for _, target := range p.Targets {
			queries++
			for _, series := range asked.FindAllString(target.Expr, -1) {
				if !served[series] {
					t.Errorf("panel %q asks for %s, which /metrics does not serve", p.Title, series)
				}
			}
		}
	}
	if queries == 0 {
		t.Fatal("the dashboard has no queries")
	}
}
