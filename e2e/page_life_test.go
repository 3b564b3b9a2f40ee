package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/poolchat/poolchat/internal/chattest"
	"github.com/poolchat/poolchat/server"
)

// The page as a person keeps it open all day (issue 13): each test here
// drives one behaviour through the real page in Chromium.

const statusText = `document.getElementById("status").textContent`

// onNewDocument runs script in every page the tab loads, before its own.
func (b *browser) onNewDocument(script string) {
	b.t.Helper()
	b.run(chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(script).Do(ctx)
		return err
	}))
}

// openPage loads the room's page and waits for the wasm client to run.
func openPage(b *browser, room *chattest.Room) {
	b.t.Helper()
	b.run(chromedp.Navigate("http://"+room.HTTPAddr+"/"), chromedp.WaitVisible("#name-dialog"))
	b.waitFor("the client to load", `document.getElementById("loading").hidden`)
}

// TestPageEscOnNameDialog presses Esc on the name dialog: the page says it
// waits for a name and offers to join, and joining from there works.
func TestPageEscOnNameDialog(t *testing.T) {
	room := startRoom(t, server.Config{})
	nc := room.Join(t)
	b := newBrowser(t, 1280, 800)
	openPage(b, room)
	if s := eval[string](b, statusText); s != "waiting for your name" {
		t.Errorf("status %q while the dialog asks for a name", s)
	}
	b.run(chromedp.KeyEvent(kb.Escape))
	b.waitFor("the dialog to close", `!document.getElementById("name-dialog").open`)
	b.waitFor("the join button", `!document.getElementById("join").hidden`)
	if s := eval[string](b, statusText); s != "waiting for your name" {
		t.Errorf("status %q after Esc", s)
	}
	b.run(chromedp.Click("#join"))
	b.waitFor("the dialog again", `document.getElementById("name-dialog").open && !document.getElementById("name").disabled`)
	b.run(clearInput("#name"), chromedp.SendKeys("#name", "Escaper\r"), chromedp.WaitVisible("#users [data-self]"))
	nc.Expect("* Escaper joined")
	b.waitFor("the connected status", statusText+` === "connected"`)
	if !eval[bool](b, `document.getElementById("join").hidden`) {
		t.Error("the join button stays after joining")
	}
}

// TestPageStatusOnNameError: a refused name is not "connected".
func TestPageStatusOnNameError(t *testing.T) {
	room := startRoom(t, server.Config{})
	room.JoinWS(t, "Taken")
	b := newBrowser(t, 1280, 800)
	openPage(b, room)
	b.run(clearInput("#name"), chromedp.SendKeys("#name", "taken\r"))
	b.waitFor("the refusal", `document.getElementById("name-error").textContent !== ""`)
	if s := eval[string](b, statusText); s != "waiting for your name" {
		t.Errorf("status %q while a name is refused", s)
	}
}

// longNames joins n members with 16-character names.
func longNames(t *testing.T, room *chattest.Room, n int) []string {
	var names []string
	for i := range n {
		name := fmt.Sprintf("member-number-%02d", i)
		room.JoinWS(t, name)
		names = append(names, name)
	}
	return names
}

// layoutProblems lists what is wrong with the member list and a long
// sender's line at the current size.
const layoutProblems = `(() => {
  const out = [];
  const members = document.querySelector(".members");
  if (members.scrollWidth > members.clientWidth + 1) out.push("the member list scrolls sideways");
  if (document.documentElement.scrollWidth > document.documentElement.clientWidth + 1) out.push("the page scrolls sideways");
  const edge = members.getBoundingClientRect().right;
  for (const box of document.querySelectorAll("#users [data-user-id]")) {
    const name = box.querySelector(".name"), full = name.textContent;
    const r = box.getBoundingClientRect();
    if (r.right > edge + 1) out.push(full + ": box overflows the list");
    if (box.title.split(" ")[0] !== full) out.push(full + ": title " + box.title);
    if (name.getBoundingClientRect().width < 110) out.push(full + ": name only " + name.getBoundingClientRect().width + "px wide");
    const parts = [box.querySelector(".via"), box.querySelector(".avatar")];
    if (box.hasAttribute("data-self")) parts.push(box.querySelector(".you"));
    for (const p of parts) {
      const pr = p.getBoundingClientRect();
      if (pr.width === 0 || pr.right > r.right + 1 || getComputedStyle(p).display === "none") out.push(full + ": " + p.className + " not shown");
    }
  }
  const log = document.getElementById("log");
  const text = [...document.querySelectorAll("#log .line.message .text")].at(-1);
  if (text) {
    const widest = Math.max(...[...text.getClientRects()].map((r) => r.width));
    if (widest < 0.6 * log.clientWidth) out.push("a long sender's message is squeezed to " + widest + "px of " + log.clientWidth);
  }
  return out;
})()`

// TestPageLongNames: 20 long-named members and a long-named sender hold
// their layout from a 320 px phone to a wide screen, light and dark. With
// POOLCHAT_SCREENSHOTS=docs (go tool task screenshots) its pictures at
// 390×844 and 1280×800 land in docs/.
func TestPageLongNames(t *testing.T) {
	room := startRoom(t, server.Config{})
	names := longNames(t, room, 20)
	sender := room.JoinWS(t, "a-sender-with-24-letters")
	b := newBrowser(t, 1280, 800)
	joinPage(b, room, "you-with-a-long-name-too")
	for _, n := range names {
		b.waitFor(n+"'s box", hasUser(n))
	}
	sender.Say("a message long enough to wrap on a phone, so it shows whether the text keeps the width of the log")
	b.waitFor("the long sender's message", lastLine+` === "a message long enough to wrap on a phone, so it shows whether the text keeps the width of the log"`)
	b.run(chromedp.Evaluate(`document.activeElement.blur()`, nil))
	for _, size := range [][2]int64{{1280, 800}, {390, 844}, {320, 640}} {
		for _, scheme := range []string{"light", "dark"} {
			b.run(chromedp.EmulateViewport(size[0], size[1]),
				emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}))
			if problems := eval[[]string](b, layoutProblems); len(problems) > 0 {
				t.Errorf("at %dx%d: %s", size[0], size[1], strings.Join(problems, "; "))
			}
			if size[0] != 320 { // the sizes issue 13 was tried at, for docs/
				// Scrolled to the end of the list, where your own box is.
				b.run(chromedp.Evaluate(`for (const e of [document.querySelector(".members"), document.getElementById("users")]) e.scrollTop = e.scrollHeight`, nil))
				b.screenshot(fmt.Sprintf("screenshot-long-names-%dx%d-%s.png", size[0], size[1], scheme))
			}
		}
	}
}

// TestPageWhoAnswersInLog: \who typed on the page is answered in #log.
func TestPageWhoAnswersInLog(t *testing.T) {
	room := startRoom(t, server.Config{})
	nc := room.Join(t)
	b := newBrowser(t, 1280, 800)
	joinPage(b, room, "Asker")
	nc.Expect("* Asker joined")
	before := eval[int](b, `document.querySelectorAll("#log .line").length`)
	b.run(chromedp.SendKeys("#message", `\who`+"\r"))
	b.waitFor("the answer in the log", fmt.Sprintf(`document.querySelectorAll("#log .line").length > %d`, before))
	got := eval[string](b, lastLine)
	if !strings.Contains(got, "2 online") || !strings.Contains(got, nc.Name) || !strings.Contains(got, "Asker") {
		t.Errorf("\\who answered %q", got)
	}
}

// countSockets counts the WebSockets the page opens, as window.__sockets,
// and records each reconnect delay the client plans, as window.__delays.
const countSockets = `(() => {
  window.__sockets = 0;
  window.__delays = [];
  const WS = window.WebSocket;
  window.WebSocket = class extends WS {
    constructor(...args) { super(...args); window.__sockets++; }
  };
  document.addEventListener("DOMContentLoaded", () => {
    new MutationObserver(() => window.__delays.push(Number(document.body.dataset.retryDelay)))
      .observe(document.body, {attributes: true, attributeFilter: ["data-retry-delay"]});
  });
})()`

// opensSocketAt is true when doing what opens a socket synchronously.
func opensSocketAt(doing string) string {
	return `(() => { const n = window.__sockets; ` + doing + `; return window.__sockets === n + 1; })()`
}

// TestPageReconnect stops the server under the page: the first retry
// comes at once, later ones at most 5 s apart, "Retry now", the browser
// coming back online and the tab shown again retry at once, the member
// list is greyed;
// back, the page says so and each avatar keeps its colour.
func TestPageReconnect(t *testing.T) {
	room := startRoom(t, server.Config{})
	nc := room.Join(t)
	b := newBrowser(t, 1280, 800)
	b.onNewDocument(countSockets)
	b.onNewDocument(fakeVisibility)
	joinPage(b, room, "Phoenix")
	b.waitFor("the member's box", hasUser(nc.Name))
	selfAvatar := `(() => { const a = document.querySelector("#users [data-self] .avatar"); return a.textContent + "/" + a.dataset.hue + "/" + getComputedStyle(a).backgroundColor; })()`
	avatarBefore := eval[string](b, selfAvatar)

	room.Stop(t)
	b.waitFor("the reconnecting status", statusText+` === "reconnecting…"`)
	b.waitFor("a greyed member list", `document.getElementById("users").hasAttribute("data-stale") && getComputedStyle(document.getElementById("users")).opacity < 1`)
	b.waitFor("the retry button", `!document.getElementById("retry").hidden`)
	b.waitFor("Retry now to open a socket at once", opensSocketAt(`document.getElementById("retry").click()`))
	b.waitFor("coming back online to open a socket at once", opensSocketAt(`window.dispatchEvent(new Event("online"))`))
	b.run(setHidden(true))
	b.waitFor("the tab shown again to open a socket at once", opensSocketAt(`window.__hidden = false; document.dispatchEvent(new Event("visibilitychange"))`))
	// Each retry that fails plans the next one further off, until the
	// cap; coming back online retries at once, so they add up quickly.
	b.waitFor("a dozen retries", `(window.dispatchEvent(new Event("online")), window.__delays.length >= 12)`)
	delays := eval[[]float64](b, `window.__delays`)
	if delays[0] != 0 {
		t.Errorf("first retry after %v ms, want at once", delays[0])
	}
	for _, d := range delays {
		if d > 5000 {
			t.Errorf("a retry waits %v ms, more than 5 s: %v", d, delays)
		}
	}
	if last := delays[len(delays)-1]; last < 2500 {
		t.Errorf("after %d retries the next waits %v ms: the backoff does not reach its cap", len(delays), last)
	}

	again := startRoom(t, server.Config{HTTPAddr: room.HTTPAddr, TCPAddr: room.TCPAddr})
	b.run(chromedp.Click("#retry")) // or it could wait up to 5 s
	b.waitFor("the connected status", statusText+` === "connected"`)
	b.waitFor("a fresh member list", `!document.getElementById("users").hasAttribute("data-stale")`)
	b.waitFor("the reconnected line", `[...document.querySelectorAll("#log .line.event .text")].some(e => e.textContent === "reconnected")`)
	if !eval[bool](b, `document.getElementById("retry").hidden`) {
		t.Error("Retry now is still shown once connected")
	}
	if got := eval[string](b, selfAvatar); got != avatarBefore {
		t.Errorf("own avatar was %q, is %q after reconnecting", avatarBefore, got)
	}
	again.Join(t)
}

// TestPageAvatarsRendered: boxes the server renders have their letter and
// the colour the client gives the same name.
func TestPageAvatarsRendered(t *testing.T) {
	room := startRoom(t, server.Config{})
	room.JoinWS(t, "grace")
	b := newBrowser(t, 1280, 800)
	openPage(b, room)
	avatar := `(() => { const a = document.querySelector("#users [data-user-id] .avatar"); return a.textContent + "/" + a.dataset.hue + "/" + getComputedStyle(a).backgroundColor; })()`
	rendered := eval[string](b, avatar)
	if !strings.HasPrefix(rendered, "G/") {
		t.Errorf("rendered avatar %q", rendered)
	}
	b.run(clearInput("#name"), chromedp.SendKeys("#name", "ada\r"), chromedp.WaitVisible("#users [data-self]"))
	// A box the client draws for the same name looks the same.
	room.JoinWS(t, "grace2")
	b.waitFor("grace2's box", hasUser("grace2"))
	if got := eval[string](b, avatar); got != rendered {
		t.Errorf("rendered avatar %q, after joining %q", rendered, got)
	}
	hues := eval[[]string](b, `[...document.querySelectorAll("#users .avatar")].map(a => getComputedStyle(a).backgroundColor)`)
	if len(hues) != 3 || hues[0] == hues[1] && hues[1] == hues[2] {
		t.Errorf("avatar colours %q", hues)
	}
}

// hideTab makes the page believe its tab is hidden or shown, and tells it.
const fakeVisibility = `(() => {
  window.__hidden = false;
  Object.defineProperty(Document.prototype, "hidden", {configurable: true, get: () => window.__hidden});
  Object.defineProperty(Document.prototype, "visibilityState", {configurable: true, get: () => window.__hidden ? "hidden" : "visible"});
})()`

func setHidden(hidden bool) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`window.__hidden = %t; document.dispatchEvent(new Event("visibilitychange"))`, hidden), nil)
}

// TestPageUnreadInTitle: messages that come while the tab is hidden are
// counted in its title, mentions of you apart and highlighted; showing
// the tab clears the count.
func TestPageUnreadInTitle(t *testing.T) {
	room := startRoom(t, server.Config{})
	nc := room.Join(t)
	b := newBrowser(t, 1280, 800)
	b.onNewDocument(fakeVisibility)
	joinPage(b, room, "Reader")
	nc.Expect("* Reader joined")
	b.run(setHidden(true))
	nc.Send("nothing for you")
	nc.Send("hey reader, look")
	nc.Send("readers are not you")
	b.waitFor("the title count", `document.title === "(3, @1) poolchat"`)
	if n := eval[int](b, `document.querySelectorAll("#log .line.mention").length`); n != 1 {
		t.Errorf("%d lines highlighted as mentions, want 1", n)
	}
	b.run(setHidden(false))
	b.waitFor("the plain title", `document.title === "poolchat"`)
	b.run(chromedp.SendKeys("#message", "my own words\r"))
	nc.Expect(nc.Name + ": nothing for you")
	b.run(setHidden(true))
	b.run(chromedp.SendKeys("#message", "still mine\r"))
	b.waitFor("my line", lastLine+` === "still mine"`)
	if title := eval[string](b, `document.title`); title != "poolchat" {
		t.Errorf("own message counted: title %q", title)
	}
}

// TestPageNewMessagesCue: scrolled up, new messages show a cue instead of
// moving the view; the cue brings the reader down.
func TestPageNewMessagesCue(t *testing.T) {
	room := startRoom(t, server.Config{})
	nc := room.Join(t)
	b := newBrowser(t, 1280, 800)
	joinPage(b, room, "Scroller")
	for i := range 60 {
		nc.Send(fmt.Sprintf("filler %d", i))
	}
	b.waitFor("the filler", lastLine+` === "filler 59"`)
	b.run(chromedp.Evaluate(`document.getElementById("log").scrollTop = 200`, nil))
	b.waitFor("the scroll", `document.getElementById("log").scrollTop === 200`)
	nc.Send("below you")
	b.waitFor("the cue", `!document.getElementById("new-below").hidden`)
	if s := eval[float64](b, `document.getElementById("log").scrollTop`); s != 200 {
		t.Errorf("the view moved to %v", s)
	}
	if txt := eval[string](b, `document.getElementById("new-below").textContent`); txt != "1 new message below" {
		t.Errorf("the cue says %q", txt)
	}
	b.run(chromedp.Click("#new-below"))
	b.waitFor("the end of the log", `(l => l.scrollHeight - l.scrollTop - l.clientHeight < 2)(document.getElementById("log"))`)
	b.waitFor("the cue to go", `document.getElementById("new-below").hidden`)
}

// TestPageHistoryDivider: replayed history is set apart from live lines.
func TestPageHistoryDivider(t *testing.T) {
	room := startRoom(t, server.Config{})
	nc := room.Join(t)
	nc.Send("from before")
	nc.Expect(nc.Name + ": from before")
	b := newBrowser(t, 1280, 800)
	joinPage(b, room, "Late")
	nc.Send("live now")
	b.waitFor("the live line", lastLine+` === "live now"`)
	kinds := eval[[]string](b, `[...document.querySelectorAll("#log .line")].filter(l => !l.classList.contains("event")).map(l => l.classList.contains("divider") ? "divider" : l.querySelector(".text").textContent)`)
	if strings.Join(kinds, "|") != "from before|divider|live now" {
		t.Errorf("log reads %q", kinds)
	}
	if role := eval[string](b, `document.querySelector("#log .divider").getAttribute("role")`); role != "separator" {
		t.Errorf("divider role %q", role)
	}
}

// TestPageLinks: http(s) URLs are links that open apart; nothing else is.
func TestPageLinks(t *testing.T) {
	room := startRoom(t, server.Config{})
	nc := room.Join(t)
	b := newBrowser(t, 1280, 800)
	joinPage(b, room, "Clicker")
	text := `see https://example.com/a?b=1, (http://x.test/wiki/Go_(lang)) javascript:alert(1) ftp://x.test nothttp://x.test HTTPS://up.test.`
	nc.Send(text)
	b.waitFor("the line", lastLine+` === `+js(text))
	links := eval[[]string](b, `[...document.querySelectorAll("#log .line:last-child .text > *")].map(a => a.tagName + " " + a.getAttribute("href") + " " + a.rel + " " + a.target + " " + a.textContent)`)
	want := []string{
		"A https://example.com/a?b=1 noopener noreferrer _blank https://example.com/a?b=1",
		"A http://x.test/wiki/Go_(lang) noopener noreferrer _blank http://x.test/wiki/Go_(lang)",
		"A HTTPS://up.test noopener noreferrer _blank HTTPS://up.test",
	}
	if strings.Join(links, "\n") != strings.Join(want, "\n") {
		t.Errorf("links:\n%s\nwant:\n%s", strings.Join(links, "\n"), strings.Join(want, "\n"))
	}
}

// TestPageTooLongWarning: a text past 1000 characters is not sent; the
// page says why before it is, and keeps it in the box.
func TestPageTooLongWarning(t *testing.T) {
	room := startRoom(t, server.Config{})
	nc := room.Join(t)
	b := newBrowser(t, 390, 844)
	joinPage(b, room, "Paster")
	nc.Expect("* Paster joined")
	long := strings.Repeat("é", 1001)
	b.run(chromedp.Evaluate(`(m => { m.value = `+js(long)+`; m.dispatchEvent(new Event("input", {bubbles: true})); })(document.getElementById("message"))`, nil))
	b.waitFor("the warning", `document.getElementById("message-warning").textContent.includes("1001")`)
	if !eval[bool](b, `(w => w.getBoundingClientRect().height > 0 && getComputedStyle(w).display !== "none")(document.getElementById("message-warning"))`) {
		t.Error("the warning is not visible")
	}
	b.run(chromedp.SendKeys("#message", "\r"))
	if got := eval[int](b, `document.getElementById("message").value.length`); got != 1001 {
		t.Errorf("the box holds %d characters after sending, want the 1001 kept", got)
	}
	b.run(chromedp.Evaluate(`(m => { m.value = "short"; m.dispatchEvent(new Event("input", {bubbles: true})); })(document.getElementById("message"))`, nil))
	b.waitFor("the warning to go", `document.getElementById("message-warning").textContent === ""`)
	b.run(chromedp.SendKeys("#message", "\r"))
	nc.Expect("Paster: short") // the long text never reached the room
}

// TestPagePresenceTimes: join and leave lines carry their time.
func TestPagePresenceTimes(t *testing.T) {
	room := startRoom(t, server.Config{})
	b := newBrowser(t, 1280, 800)
	joinPage(b, room, "Watcher")
	nc := room.Join(t)
	b.waitFor("the join line", lastLine+` === `+js(nc.Name+" joined"))
	at := eval[[]string](b, `(t => [t.getAttribute("datetime") || "", t.textContent])(document.querySelector("#log li:last-child .at"))`)
	if at[0] == "" || !strings.Contains(at[1], ":") {
		t.Errorf("join line time %q", at)
	}
}

// TestPageManyMembers: past 200 members the list ends with a count of the
// rest, and a box freed by a leaver goes to the next member.
func TestPageManyMembers(t *testing.T) {
	room := startRoom(t, server.Config{})
	var members []*chattest.TCPClient
	for range 230 {
		members = append(members, room.Join(t))
	}
	b := newBrowser(t, 1280, 800)
	joinPage(b, room, "Crowded")
	b.waitFor("the count", `document.getElementById("count").textContent === "231"`)
	if n := eval[int](b, `document.querySelectorAll("#users [data-user-id]").length`); n != 201 {
		t.Errorf("%d boxes, want 200 and your own", n)
	}
	if more := eval[string](b, `document.getElementById("users-more").textContent`); more != "and 30 more" {
		t.Errorf("the rest counted as %q", more)
	}
	members[0].Conn.Close()
	b.waitFor("the count after a leave", `document.getElementById("count").textContent === "230"`)
	b.waitFor("the next member's box", hasUser(members[200].Name))
	if more := eval[string](b, `document.getElementById("users-more").textContent`); more != "and 29 more" {
		t.Errorf("after a leave the rest counted as %q", more)
	}
	order := eval[[]string](b, `[...document.querySelectorAll("#users [data-user-id] .name")].map(e => e.textContent)`)
	if order[199] != members[200].Name || order[200] != "Crowded" {
		t.Errorf("boxes end %q", order[195:])
	}
}
