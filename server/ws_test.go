package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/poolchat/poolchat/internal/chattest"
	"github.com/poolchat/poolchat/server"
)

func TestWebJoinAndSnapshot(t *testing.T) {
	room := chattest.Start(t, server.Config{History: 10})
	nc := room.Join(t)
	nc.Send("before you came")
	nc.Expect(nc.Name + ": before you came")

	web := room.DialWS(t)
	web.Send(map[string]any{"type": "got_a_new_user", "name": "Alice"})
	w := web.Expect("welcome")
	if !regexp.MustCompile(`^user_[0-9]{12}$`).MatchString(w.Str("id")) || w.Str("name") != "Alice" {
		t.Fatalf("welcome %v", w)
	}
	users := web.Expect("existing_users")["users"].([]any)
	if len(users) != 2 {
		t.Fatalf("existing_users %v", users)
	}
	first, second := users[0].(map[string]any), users[1].(map[string]any)
	if first["name"] != nc.Name || first["via"] != "tcp" || second["id"] != w.Str("id") || second["via"] != "web" {
		t.Fatalf("existing_users not in join order with via: %v", users)
	}
	hist := web.Expect("history")["messages"].([]any)
	if len(hist) != 1 || hist[0].(map[string]any)["text"] != "before you came" {
		t.Fatalf("history %v", hist)
	}
	nc.Expect("* Alice joined")

	late := room.Join(t)
	nu := web.Expect("new_user")
	if nu.Str("new_user_name") != late.Name || nu.Str("via") != "tcp" || !strings.HasPrefix(nu.Str("id"), "user_") {
		t.Fatalf("new_user %v", nu)
	}
	if h, err := http.Get("http://" + room.HTTPAddr + "/healthz"); err != nil {
		t.Fatal(err)
	} else {
		var got map[string]any
		json.NewDecoder(h.Body).Decode(&got)
		h.Body.Close()
		if got["status"] != "ok" || got["members"] != 3.0 || got["web"] != 1.0 || got["tcp"] != 2.0 {
			t.Fatalf("healthz %v", got)
		}
	}
}

func TestWebAndTCPTalk(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	nc := room.Join(t)
	web := room.JoinWS(t, "Alice")
	nc.Expect("* Alice joined")

	web.Say("hello terminal")
	nc.Expect("Alice: hello terminal")
	m := web.Expect("message")
	if m.Str("id") != web.ID || m.Str("name") != "Alice" || m.Str("text") != "hello terminal" || m["me"] != false {
		t.Fatalf("message %v", m)
	}
	if _, err := time.Parse(time.RFC3339, m.Str("time")); err != nil {
		t.Fatalf("time %q: %v", m.Str("time"), err)
	}
	if id, err := uuid.Parse(m.Str("msg_id")); err != nil || id.Version() != 7 {
		t.Fatalf("msg_id %q is not a UUIDv7", m.Str("msg_id"))
	}

	web.Say("/me waves")
	nc.Expect("* Alice waves")
	if m := web.Expect("message"); m["me"] != true || m.Str("text") != "waves" {
		t.Fatalf("me message %v", m)
	}

	nc.Send("hello browser")
	nc.Expect(nc.Name + ": hello browser")
	if m := web.Expect("message"); m.Str("name") != nc.Name || m.Str("text") != "hello browser" || !strings.HasPrefix(m.Str("id"), "user_") {
		t.Fatalf("message from tcp %v", m)
	}

	// Renames, both ways.
	web.Say(`\nick Alicia`)
	nc.Expect("* Alice is now known as Alicia")
	if r := web.Expect("rename"); r.Str("id") != web.ID || r.Str("old_name") != "Alice" || r.Str("name") != "Alicia" {
		t.Fatalf("rename %v", r)
	}
	nc.Send(`/nick term`)
	nc.Expect("* " + nc.Name + " is now known as term")
	if r := web.Expect("rename"); r.Str("old_name") != nc.Name || r.Str("name") != "term" {
		t.Fatalf("rename from tcp %v", r)
	}

	// \who, \help.
	web.Say(`\who`)
	if u := web.Expect("existing_users")["users"].([]any); len(u) != 2 {
		t.Fatalf("who: %v", u)
	}
	web.Say(`\help`)
	if n := web.Expect("notice"); !strings.Contains(n.Str("text"), `\nick`) {
		t.Fatalf("help notice %v", n)
	}

	// Leaves, both ways.
	other := room.JoinWS(t, "Bob")
	web.Expect("new_user")
	nc.Expect("* Bob joined")
	other.Conn.Close(websocket.StatusNormalClosure, "")
	nc.Expect("* Bob left")
	if d := web.Expect("disconnect_user"); d.Str("id") != other.ID || d.Str("name") != "Bob" {
		t.Fatalf("disconnect_user %v", d)
	}
	nc.Conn.Close()
	if d := web.Expect("disconnect_user"); d.Str("name") != "term" {
		t.Fatalf("disconnect_user of tcp %v", d)
	}

	web.Say(`\quit`)
	if code := web.ExpectClose(); code != websocket.StatusNormalClosure {
		t.Fatalf("quit closed with %v, want 1000", code)
	}
}

// TestWebRefusals sends each refused frame: the sender gets the error code,
// the connection stays open, and a watching member sees nothing.
func TestWebRefusals(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	watcher := room.Join(t)
	taken := room.JoinWS(t, "Taken")
	watcher.Expect("* Taken joined")

	fresh := room.DialWS(t)
	before := []struct {
		frame string
		code  string
	}{
		{`{"type":"message","text":"hi"}`, "bad_request"},
		{`not json`, "bad_request"},
		{`[1,2]`, "bad_request"},
		{`{"type":"dance"}`, "bad_request"},
		{`{"type":"got_a_new_user","name":""}`, "name_invalid"},
		{`{"type":"got_a_new_user","name":"two words"}`, "name_invalid"},
		{`{"type":"got_a_new_user","name":"guest-1"}`, "name_invalid"},
		{`{"type":"got_a_new_user","name":"TAKEN"}`, "name_taken"},
		{`{"type":"got_a_new_user","name":"ｔａｋｅｎ"}`, "name_taken"},
	}
	for _, b := range before {
		fresh.SendRaw(websocket.MessageText, []byte(b.frame))
		if e := fresh.Expect("error"); e.Str("code") != b.code || e.Str("text") == "" {
			t.Fatalf("%s: got %v, want code %s", b.frame, e, b.code)
		}
	}
	fresh.SendRaw(websocket.MessageBinary, []byte(`{"type":"message"}`))
	if e := fresh.Expect("error"); e.Str("code") != "bad_request" {
		t.Fatalf("binary frame: %v", e)
	}
	// After all that, the same connection can still join.
	fresh.Send(map[string]any{"type": "got_a_new_user", "name": "Fresh"})
	fresh.Expect("welcome")
	fresh.Expect("existing_users")
	fresh.Expect("history")
	watcher.Expect("* Fresh joined")
	taken.Expect("new_user")

	after := []struct {
		frame string
		code  string
	}{
		{`{"type":"got_a_new_user","name":"Again"}`, "bad_request"},
		{`{"type":"message","text":"\\bogus"}`, "unknown_command"},
		{`{"type":"message","text":"\\nick taken"}`, "name_taken"},
		{`{"type":"message","text":"\\nick bad name"}`, "name_invalid"},
		{`{"type":"message","text":"` + strings.Repeat("x", 1001) + `"}`, "too_long"},
		{`{"type":"message","text":"\\me"}`, "bad_request"},
		{`{"type":"message","text":42}`, "bad_request"},
	}
	for _, a := range after {
		fresh.SendRaw(websocket.MessageText, []byte(a.frame))
		if e := fresh.Expect("error"); e.Str("code") != a.code {
			t.Fatalf("%s: got %v, want code %s", a.frame, e, a.code)
		}
	}
	fresh.Say("sync")
	watcher.Expect("Fresh: sync")
	if m := taken.Expect("message"); m.Str("text") != "sync" {
		t.Fatalf("the watching web member saw %v first", m)
	}
}

func TestWebRateLimited(t *testing.T) {
	room := chattest.Start(t, server.Config{Flood: server.FloodLimit{Burst: 2, PerSecond: 50}})
	web := room.JoinWS(t, "Fast")
	for range 4 {
		web.Say("x")
	}
	var limited, messages int
	for limited+messages < 5 {
		switch e := web.Next(); e.Str("type") {
		case "error":
			if e.Str("code") != "rate_limited" {
				t.Fatalf("error %v", e)
			}
			limited++
		case "message":
			messages++
		}
	}
	if limited != 1 || messages != 4 {
		t.Fatalf("%d rate_limited, %d messages; want 1 and 4 (none dropped)", limited, messages)
	}
}

func TestWebOversizedFrame(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	web := room.JoinWS(t, "Big")
	ctx, cancel := context.WithTimeout(context.Background(), chattest.Timeout)
	defer cancel()
	web.Conn.Write(ctx, websocket.MessageText, []byte(`{"type":"message","text":"`+strings.Repeat("x", 1<<20)+`"}`))
	if code := web.ExpectClose(); code != websocket.StatusMessageTooBig {
		t.Fatalf("closed with %v, want 1009", code)
	}
}

func TestWebOriginAndHost(t *testing.T) {
	room := chattest.Start(t, server.Config{AllowedOrigins: []string{"chat.example.com"}, AllowedHosts: []string{"poolchat.example"}})
	if _, resp, err := room.TryDialWS("https://evil.example"); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: err %v, response %v; want 403", err, resp)
	}
	c, _, err := room.TryDialWS("https://chat.example.com")
	if err != nil {
		t.Fatalf("allowed origin refused: %v", err)
	}
	c.Conn.CloseNow()

	for host, want := range map[string]int{
		"attacker.example": http.StatusMisdirectedRequest,
		"poolchat.example": http.StatusOK,
		"localhost":        http.StatusOK,
		"127.0.0.1":        http.StatusOK,
		"[::1]:8080":       http.StatusOK,
	} {
		req, _ := http.NewRequest("GET", "http://"+room.HTTPAddr+"/healthz", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, want)
		}
	}
}

func TestWebServerFull(t *testing.T) {
	room := chattest.Start(t, server.Config{MaxClients: 1})
	room.Join(t)
	_, resp, err := room.TryDialWS("")
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("over --max-clients: err %v, response %v; want 503", err, resp)
	}
}

// TestSnapshotBeforeLiveEvents has members join while others talk: each
// newcomer's first events are its snapshot, and no live event comes before.
func TestSnapshotBeforeLiveEvents(t *testing.T) {
	room := chattest.Start(t, server.Config{History: 5})
	talker := room.JoinWS(t, "Talker")
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				talker.Say("still talking")
			}
		}
	}()
	for i := range 10 {
		c := room.DialWS(t)
		c.Send(map[string]any{"type": "got_a_new_user", "name": "late" + string(rune('a'+i))})
		for _, typ := range []string{"welcome", "existing_users", "history"} {
			c.Expect(typ)
		}
		if e := c.Next(); e.Str("type") != "message" && e.Str("type") != "new_user" {
			t.Fatalf("after the snapshot: %v", e)
		}
	}
	close(stop)
	<-done
}

func TestWebShutdown(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	web := room.JoinWS(t, "Bye")
	room.BeginStop()
	if code := web.ExpectClose(); code != websocket.StatusServiceRestart {
		t.Fatalf("shutdown closed with %v, want 1012", code)
	}
	room.Stop(t)
}

func TestWebPingDropsDeadPeers(t *testing.T) {
	const interval, timeout = 50 * time.Millisecond, 100 * time.Millisecond
	// Without a resume grace, so the dead peer leaves at once.
	room := chattest.Start(t, server.Config{PingInterval: interval, PingTimeout: timeout, ResumeGrace: -1})
	nc := room.Join(t)
	alive := room.JoinWS(t, "Alive")
	nc.Expect("* Alive joined")
	// A peer that reads nothing never answers pings (coder/websocket
	// answers them from Read).
	dead := room.DialWS(t)
	dead.Send(map[string]any{"type": "got_a_new_user", "name": "Dead"})
	nc.Expect("* Dead joined")
	go func() {
		for { // alive reads, and so answers pings
			if _, err := alive.TryNext(time.Minute); err != nil {
				return
			}
		}
	}()
	nc.Expect("* Dead left") // when, exactly: TestPings
	nc.Sync("alive still here")
	// Alive has answered many pings by now, and stays.
	for _, m := range room.Server.Pool().Members() {
		if m.Name == "Dead" {
			t.Fatal("the dead peer is still a member")
		}
	}
	if n := len(room.Server.Pool().Members()); n != 2 {
		t.Fatalf("%d members, want nc and Alive", n)
	}
}

// TestWebCloseHandshake: a client's close is answered with its own code,
// so the client sees a clean close, and the member leaves.
func TestWebCloseHandshake(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	nc := room.Join(t)
	web := room.JoinWS(t, "Leaving")
	nc.Expect("* Leaving joined")
	// Close returns nil only once the server's close frame has come back.
	if err := web.Conn.Close(websocket.StatusGoingAway, "navigating away"); err != nil {
		t.Fatalf("close handshake: %v", err)
	}
	nc.Expect("* Leaving left")
}
