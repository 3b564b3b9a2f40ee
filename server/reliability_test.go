package server_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/poolchat/poolchat/internal/chattest"
	"github.com/poolchat/poolchat/server"
)

// TestPanicIsContained makes one member's input panic, in its reader and
// on the pool goroutine: only that member's connection ends (or only that
// line is lost), and the room goes on.
func TestPanicIsContained(t *testing.T) {
	restore := server.SetPanicHooks("boom in the reader", "boom in the pool")
	t.Cleanup(restore) // registered before Start, so it runs after Stop
	room := chattest.Start(t, server.Config{})
	a, b := room.Join(t), room.Join(t)
	a.Expect("* " + b.Name + " joined")
	web := room.JoinWS(t, "Web")
	a.Expect("* Web joined")
	b.Expect("* Web joined")

	victim := room.Join(t)
	for _, c := range []*chattest.TCPClient{a, b} {
		c.Expect("* " + victim.Name + " joined")
	}
	web.Expect("new_user")
	victim.Send("boom in the reader")
	victim.ExpectEOF()
	for _, c := range []*chattest.TCPClient{a, b} {
		c.Expect("* " + victim.Name + " left")
	}
	web.Expect("disconnect_user")

	b.Send("boom in the pool") // lost to the bug, and nothing else is
	a.Sync("still chatting", b)
	if m := web.Expect("message"); m.Str("text") != "still chatting" {
		t.Fatalf("web member saw %v", m)
	}
	late := room.Join(t)
	a.Expect("* " + late.Name + " joined")
	b.Expect("* " + late.Name + " joined")
	late.Sync("and joining", a, b)
}

// TestMalformedInput sends bad input of every kind, on both transports:
// each gets its documented reaction within a second, and a watching member
// sees nothing it should not.
func TestMalformedInput(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	watcher := room.Join(t)
	alice := room.JoinWS(t, "Alice")
	watcher.Expect("* Alice joined")
	tcp := room.Join(t)
	watcher.Expect("* " + tcp.Name + " joined")
	alice.Expect("new_user")
	idOfAlice := alice.ID

	const within = time.Second
	otherGuest := "guest-7" // not the member's own name, which has its own answer
	if tcp.Name == otherGuest {
		otherGuest = "guest-8"
	}
	tcpCases := []struct{ name, raw, reply string }{
		{"nul bytes", "\x00\x00\n", ""},
		{"bare cr", "a\rb\n", "= ab"},
		{"telnet negotiation", "\xff\xfb\x01\xff\xfd\x03\xff\xfa\x18\x01\xff\xf0\n", ""},
		{"bom", "\xef\xbb\xbfhello\n", "= hello"},
		{"escape only", "\x1b[2J\x1b]0;t\x07\n", ""},
		{"nick without argument", "\\nick\n", "! usage: \\nick NEW"},
		{"nick with spaces", "\\nick two words\n", "! a name cannot contain spaces"},
		{"nick of 25 characters", "\\nick " + strings.Repeat("n", 25) + "\n", "! a name is at most 24 characters"},
		{"nick taken in another case", "\\nick ALICE\n", "! the name ALICE is taken"},
		{"nick guest-N", "\\nick " + otherGuest + "\n", "! names starting with 'guest-' are given by the server"},
		{"nick with markup", "\\nick <b>\n", "! a name may hold only letters, digits, '-', '_' and '.'"},
		{"unknown command", "\\bogus\n", "! unknown command \\bogus; type \\help for the list"},
		{"me without text", "/me\n", "! usage: \\me TEXT"},
		{"message too long", strings.Repeat("x", 1001) + "\n", "! message too long: at most 1000 characters"},
		{"line too long", strings.Repeat("y", 5000) + "\n", "! line too long: at most 4096 bytes; the rest of it was discarded"},
		{"invalid utf-8", "\xc3\x28 \xfe\n", "= \ufffd( \ufffd"},
	}
	for i, c := range tcpCases {
		tcp.SendRaw(c.raw)
		switch {
		case strings.HasPrefix(c.reply, "= "):
			want := tcp.Name + ": " + strings.TrimPrefix(c.reply, "= ")
			expectWithin(t, tcp, want, within)
			watcher.Expect(want)
			alice.Expect("message")
		case c.reply != "":
			expectWithin(t, tcp, c.reply, within)
		}
		tcp.Sync(fmt.Sprintf("sync %d after %s", i, c.name), watcher)
		if m := alice.Expect("message"); !strings.HasPrefix(m.Str("text"), "sync ") {
			t.Fatalf("%s: the web watcher saw %v", c.name, m)
		}
	}
	// A name equal to another member's id is just a name: ids key members.
	tcp.Send(`\nick ` + idOfAlice)
	watcher.Expect("* " + tcp.Name + " is now known as " + idOfAlice)
	tcp.Expect("* " + tcp.Name + " is now known as " + idOfAlice)
	alice.Expect("rename")
	tcp.Name = idOfAlice

	web := room.JoinWS(t, "Bob")
	watcher.Expect("* Bob joined")
	tcp.Expect("* Bob joined")
	alice.Expect("new_user")
	webCases := []struct {
		name  string
		typ   websocket.MessageType
		frame string
		code  string
	}{
		{"not json", websocket.MessageText, "not json", "bad_request"},
		{"a json array", websocket.MessageText, "[1,2]", "bad_request"},
		{"a json string", websocket.MessageText, `"hi"`, "bad_request"},
		{"an empty object", websocket.MessageText, `{}`, "bad_request"},
		{"an unknown type", websocket.MessageText, `{"type":"dance"}`, "bad_request"},
		{"a second join", websocket.MessageText, `{"type":"got_a_new_user","name":"Again"}`, "bad_request"},
		{"a binary frame", websocket.MessageBinary, `{"type":"message","text":"hi"}`, "bad_request"},
		{"text of the wrong type", websocket.MessageText, `{"type":"message","text":42}`, "bad_request"},
		{"nick without a name", websocket.MessageText, `{"type":"message","text":"\\nick"}`, "bad_request"},
		{"nick taken", websocket.MessageText, `{"type":"message","text":"\\nick alice"}`, "name_taken"},
		{"nick invalid", websocket.MessageText, `{"type":"message","text":"\\nick a b"}`, "name_invalid"},
		{"unknown command", websocket.MessageText, `{"type":"message","text":"/dance"}`, "unknown_command"},
		{"too long", websocket.MessageText, `{"type":"message","text":"` + strings.Repeat("z", 1001) + `"}`, "too_long"},
	}
	for i, c := range webCases {
		web.SendRaw(c.typ, []byte(c.frame))
		e, err := web.TryNext(within)
		if err != nil || e.Str("type") != "error" || e.Str("code") != c.code {
			t.Fatalf("%s: got %v, %v; want error %s within %v", c.name, e, err, c.code, within)
		}
		web.Say(fmt.Sprintf("web sync %d", i))
		watcher.Expect(fmt.Sprintf("Bob: web sync %d", i))
		web.Expect("message")
		alice.Expect("message")
	}

	// A fragmented frame is one message.
	w, err := web.Conn.Writer(t.Context(), websocket.MessageText)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(`{"type":"message",`))
	w.Write([]byte(`"text":"in two fragments"}`))
	w.Close()
	watcher.Expect("Bob: in two fragments")

	// Frames on a connection that has not joined.
	fresh := room.DialWS(t)
	for _, f := range []struct{ frame, code string }{
		{`{"type":"message","text":"hi"}`, "bad_request"},
		{`{"type":"got_a_new_user","name":"<script>"}`, "name_invalid"},
		{`{"type":"got_a_new_user"}`, "name_invalid"},
		{`{"type":"got_a_new_user","name":"guest-5"}`, "name_invalid"},
		{`{"type":"got_a_new_user","name":"BOB"}`, "name_taken"},
	} {
		fresh.SendRaw(websocket.MessageText, []byte(f.frame))
		if e, err := fresh.TryNext(within); err != nil || e.Str("code") != f.code {
			t.Fatalf("%s before joining: %v, %v; want %s", f.frame, e, err, f.code)
		}
	}

	// First lines that are another protocol close the connection unannounced.
	for _, first := range []string{"GET / HTTP/1.1\r\n", "HEAD / HTTP/1.0\r\n", "CONNECT example.com:443 HTTP/1.1\r\n", "OPTIONS * HTTP/1.1\r\n", "\x16\x03\x01\x00\xa5\x01\n"} {
		c := room.Dial(t)
		c.SendRaw(first)
		if _, err := c.TryReadLine(within); err == nil {
			t.Fatalf("%q: got a line, want the connection closed", first)
		}
	}
	watcher.Sync("the end")
}

// expectWithin reads one line within d and fails unless it is want.
func expectWithin(t *testing.T, c *chattest.TCPClient, want string, d time.Duration) {
	t.Helper()
	got, err := c.TryReadLine(d)
	if err != nil || got != want {
		t.Fatalf("%s: got %q, %v; want %q within %v", c.Name, got, err, want, d)
	}
}

// TestPresenceUnderChurn has 50 members join, talk, rename and leave while
// observers watch, one of them joining late: each observer sees every
// member's join (or has it in its snapshot) before its messages and
// renames, and its leave last; when everyone has left the pool is empty.
func TestPresenceUnderChurn(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	obs1, obs2 := room.JoinWS(t, "obs1"), room.JoinWS(t, "obs2")
	obs1.Expect("new_user")

	type state struct {
		name string
		left bool
	}
	const endMark = "end of churn"
	// watch checks an observer's events until obs1 says endMark, and
	// returns what it knew of each member.
	watch := func(o *chattest.WSClient, known map[string]*state, errs chan<- error) {
		for {
			e, err := o.TryNext(10 * time.Second)
			if err != nil {
				errs <- fmt.Errorf("%s: %v", o.Name, err)
				return
			}
			id, typ := e.Str("id"), e.Str("type")
			if typ == "message" && e.Str("text") == endMark {
				for id, s := range known {
					if strings.HasPrefix(s.name, "churn") && !s.left {
						errs <- fmt.Errorf("%s: never saw %s (%s) leave", o.Name, s.name, id)
						return
					}
				}
				errs <- nil
				return
			}
			switch typ {
			case "new_user":
				if known[id] != nil {
					errs <- fmt.Errorf("%s: %s joined twice", o.Name, id)
					return
				}
				known[id] = &state{name: e.Str("new_user_name")}
			case "message", "rename", "disconnect_user":
				s := known[id]
				if s == nil || s.left {
					errs <- fmt.Errorf("%s: %s from a member not in the room: %v", o.Name, typ, e)
					return
				}
				if typ == "rename" {
					if e.Str("old_name") != s.name {
						errs <- fmt.Errorf("%s: rename from %q, knew %q", o.Name, e.Str("old_name"), s.name)
						return
					}
					s.name = e.Str("name")
				} else if e.Str("name") != s.name {
					errs <- fmt.Errorf("%s: %s as %q, knew %q", o.Name, typ, e.Str("name"), s.name)
					return
				}
				s.left = typ == "disconnect_user"
			}
		}
	}
	everyone := func() map[string]*state {
		return map[string]*state{obs1.ID: {name: "obs1"}, obs2.ID: {name: "obs2"}}
	}
	errs := make(chan error, 3)
	go watch(obs1, everyone(), errs)
	go watch(obs2, everyone(), errs)

	const churners = 50
	var wg sync.WaitGroup
	for i := range churners {
		wg.Go(func() {
			name := fmt.Sprintf("churn%d", i)
			if i%2 == 0 {
				c := room.JoinWS(t, name)
				c.Say("hello")
				c.Say(`\nick ` + name + "b")
				c.Say("bye")
				c.Conn.Close(websocket.StatusNormalClosure, "")
				return
			}
			c := room.Join(t)
			c.Send("hello")
			c.Send(`\nick ` + name + "b")
			c.Send("bye")
			c.Send(`\quit`)
			for { // until the server closes
				if _, err := c.TryReadLine(chattest.Timeout); err != nil {
					return
				}
			}
		})
	}
	// A late observer, joining in the middle of it: its snapshot and what
	// follows must account for everyone.
	late := room.DialWS(t)
	late.Send(map[string]any{"type": "got_a_new_user", "name": "late"})
	late.Expect("welcome")
	known := map[string]*state{}
	for _, u := range late.Expect("existing_users")["users"].([]any) {
		u := u.(map[string]any)
		known[u["id"].(string)] = &state{name: u["name"].(string)}
	}
	late.Expect("history")
	go watch(late, known, errs)

	wg.Wait()
	waitForMembers(t, room, 3) // the last leaves are announced
	obs1.Say(endMark)
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []*chattest.WSClient{obs1, obs2, late} {
		o.Conn.Close(websocket.StatusNormalClosure, "")
	}
	waitForEmpty(t, room)
}

// waitForEmpty waits until the pool holds nobody.
func waitForEmpty(t *testing.T, room *chattest.Room) { waitForMembers(t, room, 0) }

// waitForMembers waits until the pool holds n members, as connections that
// ended are taken out.
func waitForMembers(t *testing.T, room *chattest.Room, n int) {
	t.Helper()
	deadline := time.Now().Add(chattest.Timeout)
	for len(room.Server.Pool().Members()) != n {
		if time.Now().After(deadline) {
			t.Fatalf("pool holds %v, want %d members", room.Server.Pool().Members(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestShutdownUnderLoad stops the server while 50 TCP and 50 WebSocket
// members talk: every TCP member has the notice and EOF, every WebSocket
// member close 1012, so pages resume. (TestShutdownDeadline times it.)
func TestShutdownUnderLoad(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	var tcps []*chattest.TCPClient
	var webs []*chattest.WSClient
	for i := range 50 {
		tcps = append(tcps, room.Join(t))
		webs = append(webs, room.JoinWS(t, fmt.Sprintf("w%d", i)))
	}
	// Ten members chat at 200 lines a second each, while everyone reads.
	stopTalking := make(chan struct{})
	var talkers sync.WaitGroup
	for _, c := range tcps[:10] {
		talkers.Go(func() {
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stopTalking:
					return
				case <-tick.C:
					c.Conn.Write([]byte("chatter\n"))
				}
			}
		})
	}
	for webs[len(webs)-1].Next().Str("type") != "message" { // the chat is under way
	}
	room.BeginStop()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for _, c := range tcps {
		wg.Go(func() {
			for {
				l, err := c.TryReadLine(chattest.Timeout)
				if err != nil {
					errs <- fmt.Errorf("%s: %v before the notice", c.Name, err)
					return
				}
				if l == "* server is shutting down" {
					break
				}
			}
			if _, err := c.TryReadLine(chattest.Timeout); err == nil || !strings.Contains(err.Error(), "EOF") {
				errs <- fmt.Errorf("%s: after the notice: %v, want EOF", c.Name, err)
			}
		})
	}
	for _, c := range webs {
		wg.Go(func() {
			for {
				_, err := c.TryNext(chattest.Timeout)
				if err != nil {
					if code := websocket.CloseStatus(err); code != websocket.StatusServiceRestart {
						errs <- fmt.Errorf("%s: closed with %v (%v), want 1012", c.Name, code, err)
					}
					return
				}
			}
		})
	}
	wg.Wait()
	close(stopTalking)
	talkers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	room.Stop(t)
}

// TestNoLeakAfterManyConnections connects and disconnects 2000 times on
// both transports: goroutines and the pool come back to their baseline.
func TestNoLeakAfterManyConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("2000 connections")
	}
	// Web members cut here would keep their place for the resume grace.
	room := chattest.Start(t, server.Config{MaxClients: 5000, ResumeGrace: -1})
	watcher := room.Join(t)
	baseline := runtime.NumGoroutine()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 20)
	for i := range 2000 {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			switch i % 3 {
			case 0:
				c := room.Join(t)
				c.Conn.Close()
			case 1:
				c := room.JoinWS(t, fmt.Sprintf("cycle%d", i))
				c.Conn.CloseNow()
			default:
				c := room.Dial(t) // closes before joining
				c.Conn.Close()
			}
		})
	}
	wg.Wait()
	watcher.Conn.SetReadBuffer(1 << 20)
	deadline := time.Now().Add(10 * time.Second)
	for {
		members := len(room.Server.Pool().Members())
		web, tcp := room.Server.Pool().Counts()
		n := runtime.NumGoroutine()
		if members == 1 && web == 0 && tcp == 1 && n <= baseline+2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 2000 cycles: %d members (%d web, %d tcp), %d goroutines (baseline %d)", members, web, tcp, n, baseline)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPerAddressCap fills --max-per-ip from one address: the next
// connection gets the --max-clients refusal on either transport, and a
// place frees when one leaves.
func TestPerAddressCap(t *testing.T) {
	room := chattest.Start(t, server.Config{MaxPerIP: 2, CapLoopback: true})
	a := room.Join(t)
	room.JoinWS(t, "second")
	a.Expect("* second joined")
	c := room.Dial(t)
	c.Expect("! server full")
	c.ExpectEOF()
	if _, resp, err := room.TryDialWS(""); err == nil || resp == nil || resp.StatusCode != 503 {
		t.Fatalf("WebSocket over the cap: %v, %v; want 503", resp, err)
	}
	a.Sync("nothing else happened")
}

// TestSlowHeadersDoNotBlock holds many HTTP connections open with headers
// half sent (a slowloris): a fresh member joins and chats while the server
// still holds every one of them, not only once it has cut them.
func TestSlowHeadersDoNotBlock(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	var slow []net.Conn
	for range 200 {
		c, err := net.Dial("tcp", room.HTTPAddr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: "))
		slow = append(slow, c)
	}
	defer func() {
		for _, c := range slow {
			c.Close()
		}
	}()
	web := room.JoinWS(t, "Fresh")
	web.Say("made it")
	if m := web.Expect("message"); m.Str("text") != "made it" {
		t.Fatalf("got %v", m)
	}
	for i, c := range slow {
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("slow connection %d was answered or closed (%v) before the fresh member chatted", i, err)
		}
	}
}

// TestFloodOfAThousandLines sends 1000 lines in one burst: all arrive in
// order, and another member's message meanwhile is not held up behind
// them. (TestFloodRefill checks the pace.)
func TestFloodOfAThousandLines(t *testing.T) {
	limit := server.FloodLimit{Burst: 10, PerSecond: 500}
	room := chattest.Start(t, server.Config{Flood: limit})
	flooder, other, watcher := room.Join(t), room.Join(t), room.Join(t)
	flooder.Expect("* " + other.Name + " joined")
	flooder.Expect("* " + watcher.Name + " joined")
	other.Expect("* " + watcher.Name + " joined")
	const lines = 1000
	var burst strings.Builder
	for i := range lines {
		fmt.Fprintf(&burst, "f%d\n", i)
	}
	go flooder.Conn.Write([]byte(burst.String()))
	sentOther := false
	seen := 0
	for seen < lines {
		l := watcher.ReadLine()
		if l == other.Name+": not held up" {
			if seen >= lines/2 {
				t.Fatalf("another member's line waited behind %d flooded lines", seen)
			}
			continue
		}
		if l != fmt.Sprintf("%s: f%d", flooder.Name, seen) {
			t.Fatalf("line %d: %q", seen, l)
		}
		seen++
		if seen == 50 && !sentOther {
			other.Send("not held up")
			sentOther = true
		}
	}
}

// TestTextAcrossTransports sends awkward bytes from netcat: a WebSocket
// member stays connected and gets valid text, invalid bytes as U+FFFD.
func TestTextAcrossTransports(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	nc := room.Join(t)
	web := room.JoinWS(t, "Reader")
	nc.Expect("* Reader joined")
	send := func(chunks ...string) {
		for _, c := range chunks {
			nc.SendRaw(c)
		}
	}
	cases := []struct {
		chunks []string
		want   string
	}{
		{[]string{"bad \xc0\xaf bytes\n"}, "bad \ufffd\ufffd bytes"},
		{[]string{"tel\xff\xfb\x01net\n"}, "telnet"},
		{[]string{"split \xe6", "\x97", "\xa5 across packets\n"}, "split 日 across packets"},
		{[]string{"\xf0", "\x9f", "\x91", "\x8b", " byte by byte\n"}, "👋 byte by byte"},
		{[]string{"truncated \xe6\x97\n"}, "truncated \ufffd\ufffd"},
	}
	for _, c := range cases {
		send(c.chunks...)
		nc.Expect(nc.Name + ": " + c.want)
		if m := web.Expect("message"); m.Str("text") != c.want {
			t.Fatalf("web got %q, want %q", m.Str("text"), c.want)
		}
	}
	web.Say("still here")
	nc.Expect("Reader: still here")
}
