package server_test

import (
	"testing"

	"github.com/coder/websocket"

	"github.com/poolchat/poolchat/internal/chattest"
	"github.com/poolchat/poolchat/server"
)

// TestPrivateMessages: \msg reaches only its two members, on both
// transports; a third member sees nothing of it (the marker after proves
// it), and history never shows it to anyone.
func TestPrivateMessages(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	ann, bob, eve := room.Join(t), room.Join(t), room.Join(t)
	ann.Expect("* " + bob.Name + " joined")
	for _, c := range []*chattest.TCPClient{ann, bob} {
		c.Expect("* " + eve.Name + " joined")
	}
	ann.Send(`\msg ` + bob.Name + ` just between us`)
	ann.Expect("-> " + bob.Name + ": just between us")
	bob.Expect("<- " + ann.Name + ": just between us")
	ann.Sync("public again", bob, eve)

	ann.Send(`\msg nobody-here hello?`)
	ann.Expect("! no one called nobody-here is here")
	ann.Send(`\msg ` + bob.Name)
	ann.Expect(`! usage: \msg NAME TEXT`)

	web := room.JoinWS(t, "Web")
	for _, c := range []*chattest.TCPClient{ann, bob, eve} {
		c.Expect("* Web joined")
	}
	users := map[string]string{}
	web.Say(`\who`)
	for _, u := range web.Expect("existing_users")["users"].([]any) {
		u := u.(map[string]any)
		users[u["name"].(string)] = u["id"].(string)
	}
	web.Send(map[string]any{"type": "private", "to": users[bob.Name], "text": "from the page"})
	p := web.Expect("private")
	if p.Str("to") != users[bob.Name] || p.Str("to_name") != bob.Name || p.Str("name") != "Web" || p.Str("text") != "from the page" || p["seq"] == nil || p.Str("msg_id") == "" {
		t.Fatalf("private event %v", p)
	}
	bob.Expect("<- Web: from the page")
	bob.Send(`\msg Web and back`)
	bob.Expect("-> Web: and back")
	if p := web.Expect("private"); p.Str("name") != bob.Name || p.Str("text") != "and back" {
		t.Fatalf("private event %v", p)
	}
	web.Send(map[string]any{"type": "private", "to": "user_000000000000", "text": "anyone?"})
	if e := web.Expect("error"); e.Str("code") != "no_such_user" {
		t.Fatalf("private to nobody: %v", e)
	}
	eve.Sync("nothing private reached eve", ann)

	late := room.DialWS(t)
	late.Send(map[string]any{"type": "got_a_new_user", "name": "Late"})
	late.Expect("welcome")
	late.Expect("existing_users")
	for _, m := range late.Expect("history")["messages"].([]any) {
		if text := m.(map[string]any)["text"]; text != "public again" && text != "nothing private reached eve" {
			t.Fatalf("history shows %v to a newcomer", m)
		}
	}
}

// TestAwayAndBack: away and back reach everyone, \who marks the away, a
// message tells a private sender the recipient is away, and a public
// message ends the away just before it.
func TestAwayAndBack(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	ann, bob := room.Join(t), room.Join(t)
	ann.Expect("* " + bob.Name + " joined")
	web := room.JoinWS(t, "Web")
	ann.Expect("* Web joined")
	bob.Expect("* Web joined")

	bob.Send(`\away lunch`)
	for _, c := range []*chattest.TCPClient{ann, bob} {
		c.Expect("* " + bob.Name + " is away: lunch")
	}
	if e := web.Expect("away"); e.Str("reason") != "lunch" || e["seq"] == nil {
		t.Fatalf("away event %v", e)
	}
	ann.Send(`\who`)
	ann.Expect("* online now (3): " + ann.Name + ", " + bob.Name + " (away), Web")
	web.Say(`\who`)
	for _, u := range web.Expect("existing_users")["users"].([]any) {
		u := u.(map[string]any)
		if away, ok := u["away"]; (u["name"] == bob.Name) != ok || ok && away != "lunch" {
			t.Fatalf("existing_users entry %v", u)
		}
	}
	ann.Send(`\msg ` + bob.Name + ` are you there?`)
	ann.Expect("-> " + bob.Name + ": are you there?")
	ann.Expect("* " + bob.Name + " is away: lunch")
	bob.Expect("<- " + ann.Name + ": are you there?")

	bob.Send("I'm back")
	for _, c := range []*chattest.TCPClient{ann, bob} {
		c.Expect("* " + bob.Name + " is back")
		c.Expect(bob.Name + ": I'm back")
	}
	web.Expect("back")
	web.Expect("message")
	bob.Send(`\back`)
	bob.Expect("! you are not away")
	web.Say(`\away`)
	ann.Expect("* Web is away")
	web.Say(`\back`)
	ann.Expect("* Web is back")
}

// TestMentionsRingTheBell: a TCP member named in a message as a whole word
// gets that line with a bell first; nobody else does, and a longer word
// that merely starts with the name does not ring.
func TestMentionsRingTheBell(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	ann, bob := room.Join(t), room.Join(t)
	ann.Expect("* " + bob.Name + " joined")
	bob.Send(`\nick Bobby.x`)
	ann.Expect("* " + bob.Name + " is now known as Bobby.x")
	bob.Expect("* " + bob.Name + " is now known as Bobby.x")
	for _, tt := range []struct {
		text string
		bell bool
	}{
		{"hi bobby.x", true},
		{"hi BOBBY.X.", true},
		{"(bobby.x)", true},
		{"hi bobby", false},
		{"hi bobby.xyz", false},
	} {
		ann.Send(tt.text)
		ann.Expect(ann.Name + ": " + tt.text)
		want := ann.Name + ": " + tt.text
		if tt.bell {
			want = "\a" + want
		}
		bob.Expect(want)
	}
}

// TestLookAlikeNames: a name that looks like one in the room (a Cyrillic а
// for a Latin a) is taken; names of punctuation only are refused.
func TestLookAlikeNames(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	room.JoinWS(t, "ada")
	for _, tt := range []struct{ name, code string }{{"\u0430da", "name_taken"}, {"ADA", "name_taken"}, {"...", "name_invalid"}, {"-_-", "name_invalid"}} {
		c := room.DialWS(t)
		c.Send(map[string]any{"type": "got_a_new_user", "name": tt.name})
		if e := c.Expect("error"); e.Str("code") != tt.code {
			t.Errorf("%q: %v, want %s", tt.name, e, tt.code)
		}
		c.Conn.Close(websocket.StatusNormalClosure, "")
	}
	nc := room.Join(t)
	nc.Send("\\nick \u0430da")
	nc.ExpectPrefix("! the name \u0430da looks too much like ada")
}

// TestTyping: a page's typing reaches the other pages, not TCP members.
func TestTyping(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	nc := room.Join(t)
	a := room.JoinWS(t, "Ann")
	b := room.JoinWS(t, "Bea")
	a.Expect("new_user")
	nc.Expect("* Ann joined")
	nc.Expect("* Bea joined")
	a.Send(map[string]any{"type": "typing"})
	if e := b.Expect("typing"); e.Str("name") != "Ann" || e["seq"] != nil {
		t.Fatalf("typing event %v", e)
	}
	nc.Sync("no typing over tcp")
	a.Expect("message")
	b.Expect("message")
}

// TestPrivateIsRecoveredOnResume: a private message sent while its
// recipient's connection was cut reaches it on resume; a third member who
// resumes too is not sent it.
func TestPrivateIsRecoveredOnResume(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	ada, wa := joinForResume(t, room, "Ada")
	eve, we := joinForResume(t, room, "Eve")
	ada.Expect("new_user")
	bob := room.Join(t)
	ada.Expect("new_user")
	seen := eve.Expect("new_user")["seq"].(float64)
	ada.Conn.CloseNow()
	eve.Conn.CloseNow()
	bob.Send(`\msg Ada while you were out`)
	bob.Expect("-> Ada: while you were out")
	bob.Send("and to everyone")
	bob.Expect(bob.Name + ": and to everyone")

	back := resume(t, room, wa.Str("resume"), seen)
	back.Expect("welcome")
	back.Expect("existing_users")
	if p := back.Expect("private"); p.Str("text") != "while you were out" {
		t.Fatalf("Ada missed %v", p)
	}
	back.Expect("message")
	eveBack := resume(t, room, we.Str("resume"), seen)
	eveBack.Expect("welcome")
	eveBack.Expect("existing_users")
	if m := eveBack.Expect("message"); m.Str("text") != "and to everyone" {
		t.Fatalf("Eve was sent %v", m)
	}
}

// TestAwaySurvivesResume: a member away when its connection dropped is
// still away when it takes its place back, and nobody hears it come back.
func TestAwaySurvivesResume(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	watcher := room.Join(t)
	ada, w := joinForResume(t, room, "Ada")
	watcher.Expect("* Ada joined")
	ada.Say(`\away lunch`)
	seen := ada.Expect("away")["seq"].(float64)
	watcher.Expect("* Ada is away: lunch")
	ada.Conn.CloseNow()
	back := resume(t, room, w.Str("resume"), seen)
	back.Expect("welcome")
	for _, u := range back.Expect("existing_users")["users"].([]any) {
		if u := u.(map[string]any); u["name"] == "Ada" && u["away"] != "lunch" {
			t.Fatalf("after the resume Ada's entry is %v", u)
		}
	}
	watcher.Send(`\who`)
	watcher.Expect("* online now (2): " + watcher.Name + ", Ada (away)")
}

// TestAwayThenSayAtOnce: a line right after \away, in the same write, ends
// the away just before it; a second line does not try to again.
func TestAwayThenSayAtOnce(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	ann, bob := room.Join(t), room.Join(t)
	ann.Expect("* " + bob.Name + " joined")
	bob.SendRaw("\\away lunch\nhello\nagain\n")
	for _, want := range []string{"* " + bob.Name + " is away: lunch", "* " + bob.Name + " is back", bob.Name + ": hello", bob.Name + ": again"} {
		ann.Expect(want)
		bob.Expect(want)
	}
}
