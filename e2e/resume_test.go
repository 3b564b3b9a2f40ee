package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/poolchat/poolchat/internal/chattest"
	"github.com/poolchat/poolchat/server"
)

// recordFrames runs in the page before any of its scripts and keeps every
// WebSocket frame the page sends or receives, in order, in window.__frames
// ({out: text} or {in: text}).
const recordFrames = `(() => {
  window.__frames = [];
  const Native = WebSocket;
  const send = Native.prototype.send;
  Native.prototype.send = function (data) {
    window.__frames.push({out: String(data)});
    return send.call(this, data);
  };
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (ev) => window.__frames.push({in: String(ev.data)}));
    }
  };
})()`

// frame is one recorded WebSocket frame.
type frame struct {
	Out string `json:"out"`
	In  string `json:"in"`
}

// sentAndReceived returns the events the page has sent and received, each
// decoded, in order.
func sentAndReceived(b *browser) (sent, received []map[string]any) {
	b.t.Helper()
	for _, f := range eval[[]frame](b, `window.__frames`) {
		if f.Out != "" {
			var e map[string]any
			if err := json.Unmarshal([]byte(f.Out), &e); err != nil {
				b.t.Fatalf("the page sent %q: %v", f.Out, err)
			}
			sent = append(sent, e)
			continue
		}
		for _, l := range strings.Split(f.In, "\n") {
			var e map[string]any
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				b.t.Fatalf("the page received %q: %v", l, err)
			}
			received = append(received, e)
		}
	}
	return sent, received
}

// newRecordingBrowser is newBrowser with the page's frames recorded.
func newRecordingBrowser(t *testing.T) *browser {
	b := newBrowser(t, 1000, 700)
	b.run(chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(recordFrames).Do(ctx)
		return err
	}))
	return b
}

const (
	statusIs     = `document.getElementById("status").textContent === `
	selfID       = `document.querySelector("#users [data-self]")?.dataset.userId`
	storedToken  = `sessionStorage.getItem("poolchat.resume")`
	logTexts     = `[...document.querySelectorAll("#log li")].map(e => [e.querySelector(".who").textContent, e.querySelector(".text").textContent].filter(Boolean).join(" "))`
	messageTexts = `[...document.querySelectorAll("#log li.message .text")].map(e => e.textContent)`
)

// lastOfType returns the last event of type typ in events.
func lastOfType(t *testing.T, events []map[string]any, typ string) map[string]any {
	t.Helper()
	for i := len(events) - 1; i >= 0; i-- {
		if events[i]["type"] == typ {
			return events[i]
		}
	}
	t.Fatalf("no %s event among %v", typ, events)
	return nil
}

// TestPageResumesAfterRestart restarts the server (gracefully, on the same
// addresses and data) under an open page. The page resumes its place: it
// keeps its id and name, nobody sees it leave or join, and it goes on
// talking.
func TestPageResumesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	room := startRoom(t, server.Config{DataDir: dir})
	b := newRecordingBrowser(t)
	joinPage(b, room, "Ada")
	watcher := room.Join(t)
	b.waitFor("the watcher's box", hasUser(watcher.Name))
	b.run(chromedp.SendKeys("#message", "before the restart\r"))
	watcher.Expect("Ada: before the restart")
	b.waitFor("the page's own line", lastLine+` === "before the restart"`)
	id := eval[string](b, selfID)
	_, received := sentAndReceived(b)
	token := lastOfType(t, received, "welcome")["resume"]
	lastSeq := lastOfType(t, received, "message")["seq"]
	if token == "" || token == nil || eval[string](b, storedToken) != token {
		t.Fatalf("the welcome's resume token %v is not the one the page keeps", token)
	}

	room.Stop(t)
	for {
		l, err := watcher.TryReadLine(chattest.Timeout)
		if err != nil {
			break // the server closed the watcher's connection
		}
		if strings.Contains(l, "Ada") {
			t.Errorf("at the restart the watcher saw %q", l)
		}
	}
	b.waitFor("the reconnecting status", statusIs+`"reconnecting…"`)

	again := startRoom(t, server.Config{DataDir: dir, HTTPAddr: room.HTTPAddr, TCPAddr: room.TCPAddr})
	watcher = again.Join(t)
	watcher.Expect("Ada: before the restart") // the history, from the log
	b.waitFor("the connected status", statusIs+`"connected"`)
	if got := eval[string](b, selfID); got != id {
		t.Errorf("after the restart the page's id is %q, was %q", got, id)
	}
	b.waitFor("the own box", `document.querySelector("#users [data-self] .name")?.textContent === "Ada"`)
	b.run(chromedp.SendKeys("#message", "after the restart\r"))
	watcher.Expect("Ada: after the restart") // and not "* Ada joined" first

	sent, received := sentAndReceived(b)
	resume := lastOfType(t, sent, "resume")
	if resume["token"] != token || resume["since"] != lastSeq {
		t.Errorf("the page resumed with %v; want token %v since %v", resume, token, lastSeq)
	}
	welcome := lastOfType(t, received, "welcome")
	if welcome["resumed"] != true {
		t.Errorf("the last welcome is %v, not a resume", welcome)
	}
	if got := eval[string](b, storedToken); got != welcome["resume"] || got == token {
		t.Errorf("the page keeps the token %q; the new welcome gave %v", got, welcome["resume"])
	}
	lines := eval[[]string](b, logTexts)
	for _, l := range lines {
		if strings.Contains(l, "Ada joined") || strings.Contains(l, "Ada left") {
			t.Errorf("the page shows %q", l)
		}
	}
	if n := strings.Count(strings.Join(eval[[]string](b, messageTexts), "\n"), "before the restart"); n != 1 {
		t.Errorf("the page shows the message from before the restart %d times: %q", n, lines)
	}
	if n := b.errors.Load(); n != 0 {
		t.Errorf("%d errors in the page", n)
	}
}

// cutter is a TCP proxy between the browser and the room that can cut
// every connection through it at once, as a lost network does: neither
// side gets a close frame, and nothing connects until it is restored.
type cutter struct {
	t      *testing.T
	addr   string // where the browser connects
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

func newCutter(t *testing.T, target string) *cutter {
	p := &cutter{t: t, target: target, conns: map[net.Conn]bool{}}
	p.listen("127.0.0.1:0")
	p.addr = p.ln.Addr().String()
	t.Cleanup(func() {
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *cutter) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatalf("proxy: %v", err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			if !p.track(c, s) {
				return
			}
			p.wg.Go(func() { io.Copy(s, c); s.Close() })
			p.wg.Go(func() { io.Copy(c, s); c.Close() })
		}
	})
}

// track adds a connection's two sides, unless the proxy was cut meanwhile.
func (p *cutter) track(c, s net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		c.Close()
		s.Close()
		return false
	}
	p.conns[c], p.conns[s] = true, true
	return true
}

// cut closes the listener and every connection through the proxy.
func (p *cutter) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// restore listens again on the same address.
func (p *cutter) restore() { p.listen(p.addr) }

// TestPageResumesMissedEvents cuts the page's connection, as a lost
// network does, while the room goes on: messages, a member joining and
// leaving. When the network is back, the page resumes and shows what it
// missed, in order and once, and the room never sees it leave; a \quit
// then leaves for good.
func TestPageResumesMissedEvents(t *testing.T) {
	room := startRoom(t, server.Config{})
	proxy := newCutter(t, room.HTTPAddr)
	watcher := room.Join(t)
	b := newRecordingBrowser(t)
	b.run(
		chromedp.Navigate("http://"+proxy.addr+"/"),
		chromedp.WaitVisible("#name-dialog"),
		clearInput("#name"),
		chromedp.SendKeys("#name", "Ada"),
		chromedp.Click("#name-form button"),
	)
	b.waitFor("the connected status", statusIs+`"connected"`)
	watcher.Expect("* Ada joined")
	watcher.Send("before the cut")
	watcher.Expect(watcher.Name + ": before the cut")
	b.waitFor("the last line before the cut", lastLine+` === "before the cut"`)
	id := eval[string](b, selfID)

	proxy.cut()
	b.waitFor("the reconnecting status", statusIs+`"reconnecting…"`)
	watcher.Send("missed one")
	watcher.Expect(watcher.Name + ": missed one")
	passer := room.Join(t)
	watcher.Expect("* " + passer.Name + " joined")
	passer.Send(`\quit`)
	watcher.Expect("* " + passer.Name + " left")
	watcher.Send("missed two")
	watcher.Expect(watcher.Name + ": missed two")

	proxy.restore()
	b.waitFor("the connected status", statusIs+`"connected"`)
	b.waitFor("the last missed message", lastLine+` === "missed two"`)
	b.run(chromedp.SendKeys("#message", "still here\r"))
	watcher.Expect("Ada: still here") // and not "* Ada left" or "* Ada joined" first
	b.waitFor("the page's own line", lastLine+` === "still here"`)

	if got := eval[string](b, selfID); got != id {
		t.Errorf("after the cut the page's id is %q, was %q", got, id)
	}
	lines := eval[[]string](b, logTexts)
	from := -1
	for i, l := range lines {
		if strings.HasSuffix(l, "before the cut") {
			from = i
		}
	}
	want := []string{
		"reconnected", // for the page alone: the room saw nothing
		watcher.Name + " missed one",
		passer.Name + " joined",
		passer.Name + " left",
		watcher.Name + " missed two",
		"Ada still here",
	}
	if from < 0 || fmt.Sprint(lines[from+1:]) != fmt.Sprint(want) {
		t.Errorf("#log after the cut shows\n%q\nwant after %q\n%q", lines, "before the cut", want)
	}
	if eval[int](b, `document.querySelectorAll("#users [data-user-id]").length`) != 2 {
		t.Errorf("#users shows %q", eval[string](b, `document.getElementById("users").textContent`))
	}

	// \quit is a leave: the page does not resume, and forgets its token.
	b.run(chromedp.SendKeys("#message", `\quit`+"\r"))
	watcher.Expect("* Ada left")
	b.waitFor("the name dialog", `document.getElementById("name-dialog").open`)
	b.waitFor("the disconnected status", statusIs+`"disconnected"`)
	if tok := eval[any](b, storedToken); tok != nil {
		t.Errorf("after \\quit the page still keeps the token %v", tok)
	}
	if n := b.errors.Load(); n != 0 {
		t.Errorf("%d errors in the page", n)
	}
}

// TestPageLoadsOlderHistory scrolls #log to the top: the page asks for the
// messages before the oldest it shows and puts them above it, in order,
// without moving what is on the screen, until there are no more.
func TestPageLoadsOlderHistory(t *testing.T) {
	room := startRoom(t, server.Config{}) // --history 50
	nc := room.Join(t)
	const total = 120
	for i := 1; i <= total; i++ {
		nc.Send(fmt.Sprintf("m%03d", i))
		nc.Expect(fmt.Sprintf("%s: m%03d", nc.Name, i))
	}
	b := newRecordingBrowser(t)
	joinPage(b, room, "Reader")
	want := func(from int) string {
		var w []string
		for i := from; i <= total; i++ {
			w = append(w, fmt.Sprintf("m%03d", i))
		}
		return js(strings.Join(w, "\n"))
	}
	shown := messageTexts + `.join("\n")`
	b.waitFor("the join's history", shown+` === `+want(total-49))

	// The top line stays where it is on the screen as older ones arrive.
	const topOf = `(document.querySelector("#log li.message").getBoundingClientRect().top - document.getElementById("log").getBoundingClientRect().top)`
	b.run(chromedp.Evaluate(`document.getElementById("log").scrollTop = 0`, nil))
	before := eval[float64](b, topOf)
	b.waitFor("a page of older messages", shown+` === `+want(total-99))
	at := eval[float64](b, `(() => { const m = [...document.querySelectorAll("#log li.message")].find(e => e.textContent.endsWith("m071")); return m.getBoundingClientRect().top - document.getElementById("log").getBoundingClientRect().top })()`)
	if at < before-1 || at > before+1 {
		t.Errorf("the line at the top moved from %v to %v px as older ones came", before, at)
	}

	// Keep scrolling up until the first message.
	b.waitFor("the first message", `(document.getElementById("log").scrollTop = 0, `+shown+` === `+want(1)+`)`)
	// Two frames after one more scroll to the top, any request it made
	// is sent; there must be none.
	b.run(chromedp.Evaluate(`document.getElementById("log").scrollTop = 0`, nil))
	b.run(chromedp.Evaluate(`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))`, nil, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	}))
	sent, received := sentAndReceived(b)
	var asked []any
	for _, e := range sent {
		if e["type"] == "history" {
			asked = append(asked, e["before"])
			if e["limit"] != float64(50) {
				t.Errorf("the page asked for %v", e)
			}
		}
	}
	var answers []any
	for _, e := range received {
		if e["type"] == "history" {
			answers = append(answers, e["more"])
		}
	}
	if len(asked) != 2 || fmt.Sprint(answers) != "[true true false]" {
		t.Errorf("the page asked for history before %v, and got answers with more = %v", asked, answers)
	}
	if n := b.errors.Load(); n != 0 {
		t.Errorf("%d errors in the page", n)
	}
}
