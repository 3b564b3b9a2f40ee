package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/poolchat/poolchat/internal/chattest"
	"github.com/poolchat/poolchat/server"
)

// joinForResume joins a web member and returns it with its welcome.
func joinForResume(t *testing.T, room *chattest.Room, name string) (*chattest.WSClient, chattest.Event) {
	t.Helper()
	c := room.DialWS(t)
	c.Send(map[string]any{"type": "got_a_new_user", "name": name})
	w := c.Expect("welcome")
	c.ID, c.Name = w.Str("id"), w.Str("name")
	if w.Str("resume") == "" {
		t.Fatalf("welcome %v carries no resume token", w)
	}
	c.Expect("existing_users")
	c.Expect("history")
	return c, w
}

// resume opens a new connection and asks for the place of token.
func resume(t *testing.T, room *chattest.Room, token string, since float64) *chattest.WSClient {
	t.Helper()
	c := room.DialWS(t)
	c.Send(map[string]any{"type": "resume", "token": token, "since": since})
	return c
}

// TestResumeAfterACutConnection: a web member whose connection is cut keeps
// its place; a new connection with its token gets the same id and name, the
// events it missed in order, then live ones; nobody else sees anything.
func TestResumeAfterACutConnection(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	watcher := room.Join(t)
	ada, w := joinForResume(t, room, "Ada")
	watcher.Expect("* Ada joined")
	ada.Say("before the cut")
	seen := ada.Expect("message")["seq"].(float64)
	watcher.Expect("Ada: before the cut")

	ada.Conn.CloseNow() // no close frame: the network went away
	watcher.Send("while you were away")
	watcher.Expect(watcher.Name + ": while you were away")
	late := room.Join(t)
	watcher.Expect("* " + late.Name + " joined")
	late.Send(`\who`)
	if l := late.ReadLine(); !strings.Contains(l, "Ada") {
		t.Fatalf("during the grace \\who says %q, without Ada", l)
	}

	back := resume(t, room, w.Str("resume"), seen)
	w2 := back.Expect("welcome")
	if w2.Str("id") != w.Str("id") || w2.Str("name") != "Ada" || w2["resumed"] != true || w2["recovered"] != true {
		t.Fatalf("resumed welcome %v; first was %v", w2, w)
	}
	if tok := w2.Str("resume"); tok == "" || tok == w.Str("resume") {
		t.Fatalf("resumed welcome's token %q: want a new one", tok)
	}
	if users := back.Expect("existing_users")["users"].([]any); len(users) != 3 {
		t.Fatalf("existing_users after resume: %v", users)
	}
	if m := back.Expect("message"); m.Str("text") != "while you were away" || m["seq"].(float64) <= seen {
		t.Fatalf("first missed event %v", m)
	}
	if j := back.Expect("new_user"); j.Str("new_user_name") != late.Name {
		t.Fatalf("second missed event %v", j)
	}
	watcher.Sync("nothing in between", late) // no left, no joined
	if m := back.Expect("message"); m.Str("text") != "nothing in between" {
		t.Fatalf("live event after the missed ones: %v", m)
	}
	back.Say("I'm back")
	watcher.Expect("Ada: I'm back")
}

// TestResumeTokenIsSingleUse: a used, a wrong and an expired token are
// refused with resume_failed, and the connection may still join.
func TestResumeTokenIsSingleUse(t *testing.T) {
	room := chattest.Start(t, server.Config{ResumeGrace: time.Hour})
	ada, w := joinForResume(t, room, "Ada")
	ada.Conn.CloseNow()
	first := resume(t, room, w.Str("resume"), w["seq"].(float64))
	first.Expect("welcome")
	first.Expect("existing_users")

	for _, tt := range []struct{ name, token string }{{"used", w.Str("resume")}, {"wrong", "not-a-token"}, {"empty", ""}} {
		c := resume(t, room, tt.token, 0)
		if e := c.Expect("error"); e.Str("code") != "resume_failed" {
			t.Fatalf("%s token: %v", tt.name, e)
		}
		c.Send(map[string]any{"type": "got_a_new_user", "name": "Joiner" + tt.name})
		c.Expect("welcome")
		c.Conn.Close(websocket.StatusNormalClosure, "")
	}
}

// TestResumeGraceEnds: a member that does not come back within the grace
// is announced as left once, and its token no longer works.
func TestResumeGraceEnds(t *testing.T) {
	room := chattest.Start(t, server.Config{ResumeGrace: 50 * time.Millisecond})
	watcher := room.Join(t)
	ada, w := joinForResume(t, room, "Ada")
	watcher.Expect("* Ada joined")
	ada.Conn.CloseNow()
	watcher.Expect("* Ada left")
	c := resume(t, room, w.Str("resume"), w["seq"].(float64))
	if e := c.Expect("error"); e.Str("code") != "resume_failed" {
		t.Fatalf("after the grace: %v", e)
	}
	watcher.Sync("once")
}

// TestCloseFrameLeavesAtOnce: a page that closes (a close frame, any
// code) or quits leaves at once, without a grace.
func TestCloseFrameLeavesAtOnce(t *testing.T) {
	room := chattest.Start(t, server.Config{ResumeGrace: time.Hour})
	watcher := room.Join(t)
	ada, _ := joinForResume(t, room, "Ada")
	watcher.Expect("* Ada joined")
	ada.Conn.Close(websocket.StatusGoingAway, "tab closed")
	watcher.Expect("* Ada left")
}

// TestResumeReplacesAnOpenConnection: taking a place back while the old
// connection is still open closes the old one with 4001.
func TestResumeReplacesAnOpenConnection(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	watcher := room.Join(t)
	ada, w := joinForResume(t, room, "Ada")
	watcher.Expect("* Ada joined")
	back := resume(t, room, w.Str("resume"), w["seq"].(float64))
	back.Expect("welcome")
	if code := ada.ExpectClose(); code != 4001 {
		t.Fatalf("the old connection closed with %v, want 4001", code)
	}
	watcher.Sync("no flicker")
}

// TestResumeAcrossARestart: web members dropped by a graceful stop take
// their place back on the restarted server, see nobody leave or join, and
// are told everything they missed: the log still holds it.
func TestResumeAcrossARestart(t *testing.T) {
	cfg := server.Config{DataDir: t.TempDir()}
	room := chattest.Start(t, cfg)
	ada, wa := joinForResume(t, room, "Ada")
	bob, wb := joinForResume(t, room, "Bob")
	ada.Expect("new_user")
	tcp := room.Join(t)
	bob.Expect("new_user")
	tcp.Send("before the stop")
	bobSaw := bob.Expect("message")
	ada.Expect("new_user")
	ada.Expect("message")
	room.BeginStop()
	for _, c := range []*chattest.WSClient{ada, bob} {
		if code := c.ExpectClose(); code != websocket.StatusServiceRestart {
			t.Fatalf("%s closed with %v, want 1012", c.Name, code)
		}
	}
	room.Stop(t)

	room = chattest.Start(t, cfg)
	ada = resume(t, room, wa.Str("resume"), wa["seq"].(float64))
	if w := ada.Expect("welcome"); w.Str("id") != wa.Str("id") || w["resumed"] != true || w["recovered"] != true {
		t.Fatalf("after the restart: %v", w)
	}
	ada.Expect("existing_users")
	// Everything after Ada's join, in order: Bob came, the TCP member came,
	// spoke, and left when the server stopped (TCP members cannot resume).
	if e := ada.Expect("new_user"); e.Str("new_user_name") != "Bob" {
		t.Fatalf("first missed event: %v", e)
	}
	if e := ada.Expect("new_user"); e.Str("new_user_name") != tcp.Name {
		t.Fatalf("second missed event: %v", e)
	}
	if e := ada.Expect("message"); e.Str("text") != "before the stop" {
		t.Fatalf("third missed event: %v", e)
	}
	if e := ada.Expect("disconnect_user"); e.Str("name") != tcp.Name {
		t.Fatalf("fourth missed event: %v", e)
	}
	bob = resume(t, room, wb.Str("resume"), bobSaw["seq"].(float64))
	if w := bob.Expect("welcome"); w["recovered"] != true {
		t.Fatalf("Bob after the restart: %v", w)
	}
	bob.Expect("existing_users")
	if e := bob.Expect("disconnect_user"); e.Str("name") != tcp.Name {
		t.Fatalf("Bob's missed event: %v", e)
	}
	ada.Say("still here")
	for _, c := range []*chattest.WSClient{ada, bob} {
		if e := c.Expect("message"); e.Str("text") != "still here" {
			t.Fatalf("%s: %v, want nothing but the message", c.Name, e)
		}
	}
}

// TestHistoryPaging: a web member pages back through the messages kept,
// and a TCP member asks for the last N.
func TestHistoryPaging(t *testing.T) {
	room := chattest.Start(t, server.Config{History: 5})
	nc := room.Join(t)
	for i := range 30 {
		nc.Send(fmt.Sprintf("m%d", i))
		nc.Expect(fmt.Sprintf("%s: m%d", nc.Name, i))
	}
	web := room.DialWS(t)
	web.Send(map[string]any{"type": "got_a_new_user", "name": "Pager"})
	web.Expect("welcome")
	web.Expect("existing_users")
	h := web.Expect("history")
	msgs := h["messages"].([]any)
	if len(msgs) != 5 || h["more"] != true {
		t.Fatalf("join-time history: %d messages, more %v", len(msgs), h["more"])
	}
	var texts []string
	before := msgs[0].(map[string]any)["seq"]
	for {
		web.Send(map[string]any{"type": "history", "before": before, "limit": 10})
		page := web.Expect("history")
		got := page["messages"].([]any)
		var these []string
		for _, m := range got {
			these = append(these, m.(map[string]any)["text"].(string))
		}
		texts = append(these, texts...)
		if page["more"] != true {
			break
		}
		before = got[0].(map[string]any)["seq"]
	}
	if want := "m0 m1 m2"; !strings.HasPrefix(strings.Join(texts, " "), want) || len(texts) != 25 {
		t.Fatalf("paged back %d messages: %v", len(texts), texts)
	}

	nc.Send(`\history 3`)
	nc.Expect("* Pager joined")
	nc.Expect("* last 3 messages:")
	for i := 27; i < 30; i++ {
		if l := nc.ReadLine(); !strings.HasPrefix(l, "[") || !strings.HasSuffix(l, fmt.Sprintf("] %s: m%d", nc.Name, i)) {
			t.Fatalf("history line %q", l)
		}
	}
	nc.Expect("* end of history")

	web.Say(`\history 2`)
	if h := web.Expect("history"); len(h["messages"].([]any)) != 2 || h["more"] != true {
		t.Fatalf("\\history 2 from the page: %v", h)
	}
}
