package e2e

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/poolchat/poolchat/internal/chattest"
	"github.com/poolchat/poolchat/server"
)

// The page's side of SPEC §11 (issue 15): private messages, away,
// typing.

// until reads events until one of type typ, returning those before it.
func until(c *chattest.WSClient, typ string) (before []chattest.Event, got chattest.Event) {
	for {
		e := c.Next()
		if e.Str("type") == typ {
			return before, e
		}
		before = append(before, e)
	}
}

// TestPagePrivateMessages: choosing a member's box offers \msg; private
// messages both ways show as such; a third member sees none of them.
func TestPagePrivateMessages(t *testing.T) {
	room := startRoom(t, server.Config{})
	bob := room.JoinWS(t, "bob")
	eve := room.JoinWS(t, "eve")
	b := newBrowser(t, 390, 844)
	joinPage(b, room, "Pat")
	b.waitFor("bob's box", hasUser("bob"))
	joined := bob.Expect("new_user")
	for joined.Str("new_user_name") != "Pat" {
		joined = bob.Expect("new_user")
	}
	pat := joined.Str("id")

	b.run(chromedp.Click(`#users [data-user-id="` + bob.ID + `"]`))
	b.waitFor("the offered \\msg", `document.getElementById("message").value === "\\msg bob "`)
	b.run(chromedp.SendKeys("#message", "just for you\r"))
	if _, e := until(bob, "private"); e.Str("text") != "just for you" || e.Str("id") != pat {
		t.Fatalf("bob got %v", e)
	}
	b.waitFor("the private line", `!!document.querySelector("#log li:last-child")?.classList.contains("private")`)
	if who := eval[string](b, `document.querySelector("#log li:last-child .who").textContent`); who != "Pat → bob" {
		t.Errorf("own private line from %q", who)
	}

	bob.Send(map[string]any{"type": "private", "to": pat, "text": "and back"})
	b.waitFor("bob's private line", lastLine+` === "and back"`)
	line := eval[[]string](b, `(l => [l.className, l.querySelector(".who").textContent, getComputedStyle(l.querySelector(".who"), "::before").content])(document.querySelector("#log li:last-child"))`)
	if line[0] != "line private" || line[1] != "bob → Pat" || line[2] != `"private · "` {
		t.Errorf("bob's private line: %q", line)
	}

	// eve saw neither: the next thing she gets is a marker sent after.
	bob.Say("marker")
	before, _ := until(eve, "message")
	for _, e := range before {
		if e.Str("type") == "private" {
			t.Errorf("eve got %v", e)
		}
	}
}

// TestPageAway: an away member's box looks away, and back again.
func TestPageAway(t *testing.T) {
	room := startRoom(t, server.Config{})
	bob := room.JoinWS(t, "bob")
	bob.Say(`\away lunch`)
	b := newBrowser(t, 1280, 800)
	joinPage(b, room, "Pat")
	box := `document.querySelector('#users [data-user-id="` + bob.ID + `"]')`
	b.waitFor("bob away from the start", box+`?.dataset.away === "lunch"`)
	if op := eval[string](b, `getComputedStyle(`+box+`.querySelector(".avatar")).opacity`); op == "1" {
		t.Error("an away member's avatar looks like anyone's")
	}
	bob.Say(`\back`)
	b.waitFor("bob back", box+`.dataset.away === undefined`)
	b.waitFor("the back line", lastLine+` === "bob is back"`)
	bob.Say(`\away`)
	b.waitFor("bob away without a reason", box+`.dataset.away === ""`)
	b.waitFor("the away line", lastLine+` === "bob is away"`)
}

// TestPageTyping: typing on the page tells the others once, not per key;
// another's typing shows under the log and clears itself.
func TestPageTyping(t *testing.T) {
	room := startRoom(t, server.Config{})
	bob := room.JoinWS(t, "bob")
	b := newBrowser(t, 1280, 800)
	joinPage(b, room, "Pat")
	until(bob, "new_user")
	b.run(chromedp.SendKeys("#message", "hello there\r"))
	before, msg := until(bob, "message")
	if msg.Str("text") != "hello there" {
		t.Fatalf("bob got %v", msg)
	}
	typing := 0
	for _, e := range before {
		if e.Str("type") == "typing" {
			typing++
		}
	}
	if typing != 1 {
		t.Errorf("typing 11 keys sent %d typing events, want 1: %v", typing, before)
	}

	bob.Send(map[string]any{"type": "typing"})
	b.waitFor("bob typing", `document.getElementById("typing").textContent === "bob is typing…"`)
	b.waitFor("it to clear itself", `document.getElementById("typing").textContent === ""`)
	bob.Send(map[string]any{"type": "typing"})
	b.waitFor("bob typing again", `document.getElementById("typing").textContent === "bob is typing…"`)
	bob.Say("done")
	b.waitFor("his message", lastLine+` === "done"`)
	if s := eval[string](b, `document.getElementById("typing").textContent`); s != "" {
		t.Errorf("after his message the page still says %q", s)
	}
}
