package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/poolchat/poolchat/internal/chattest"
	"github.com/poolchat/poolchat/server"
)

// TestHistorySurvivesARestart: after a graceful restart on the same data
// directory, a newcomer gets the messages from before it with their
// original msg_id, time, name and seq; the web member from before keeps its
// place (it may resume), the TCP member has left.
func TestHistorySurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	cfg := server.Config{DataDir: dir, History: 3}
	room := chattest.Start(t, cfg)
	nc := room.Join(t)
	web := room.JoinWS(t, "Ada")
	nc.Expect("* Ada joined")
	var said []chattest.Event
	for i := range 4 {
		web.Say(fmt.Sprintf("before %d", i))
		said = append(said, web.Expect("message"))
		nc.Expect(fmt.Sprintf("Ada: before %d", i))
	}
	room.Stop(t)

	room = chattest.Start(t, cfg)
	late := room.JoinWS(t, "Late")
	c := room.DialWS(t)
	c.Send(map[string]any{"type": "got_a_new_user", "name": "Later"})
	w := c.Expect("welcome")
	users := c.Expect("existing_users")["users"].([]any)
	if len(users) != 3 || users[0].(map[string]any)["name"] != "Ada" {
		t.Fatalf("after the restart existing_users = %v, want Ada (keeping her place), Late and Later", users)
	}
	got := c.Expect("history")["messages"].([]any)
	if len(got) != 3 {
		t.Fatalf("history after the restart has %d messages, want 3", len(got))
	}
	for i, m := range got {
		m, want := m.(map[string]any), said[i+1]
		for _, field := range []string{"msg_id", "time", "name", "text", "seq", "id"} {
			if fmt.Sprint(m[field]) != fmt.Sprint(want[field]) {
				t.Errorf("history %d: %s = %v, want %v as first said", i, field, m[field], want[field])
			}
		}
	}
	if seq, last := w["seq"].(float64), said[3]["seq"].(float64); seq <= last {
		t.Errorf("welcome seq %v after the restart, not after the last message's %v", seq, last)
	}
	if e := late.Expect("new_user"); e.Str("new_user_name") != "Later" {
		t.Fatalf("Late saw %v, want Later join (and nobody from before the restart leave)", e)
	}
	tcp := room.Join(t)
	for _, want := range []string{"Ada: before 1", "Ada: before 2", "Ada: before 3"} {
		tcp.Expect(want)
	}
	tcp.Sync("after the restart")
}

// TestSeqIsTheSameEverywhere: every numbered event carries the same seq
// on every connection, strictly increasing in the order delivered.
func TestSeqIsTheSameEverywhere(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	a := room.JoinWS(t, "Ann")
	b := room.JoinWS(t, "Bob")
	a.Expect("new_user")
	nc := room.Join(t)
	nc.Send("hello")
	nc.Send(`\nick Carl`)
	nc.Send(`\me waves`)
	nc.Send(`\quit`)
	var seen [2][]string
	for i, c := range []*chattest.WSClient{a, b} {
		last := 0.0
		for _, typ := range []string{"new_user", "message", "rename", "message", "disconnect_user"} {
			e := c.Expect(typ)
			seq, ok := e["seq"].(float64)
			if !ok || seq <= last {
				t.Fatalf("%s: %s has seq %v after %v", c.Name, typ, e["seq"], last)
			}
			last = seq
			seen[i] = append(seen[i], typ+"="+fmt.Sprint(seq))
		}
	}
	if strings.Join(seen[0], " ") != strings.Join(seen[1], " ") {
		t.Fatalf("the two members saw\n%v\n%v", seen[0], seen[1])
	}
}
