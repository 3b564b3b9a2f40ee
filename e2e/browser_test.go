package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/poolchat/poolchat/internal/chattest"
	"github.com/poolchat/poolchat/server"
)

// browser is one headless Chromium tab, with what it reported.
type browser struct {
	t       *testing.T
	ctx     context.Context
	dialogs atomic.Int32 // alert/confirm/prompt dialogs opened: a sign of injected script
	errors  atomic.Int32 // uncaught exceptions and console errors
}

// chromiumPath finds Chromium. Without one the browser tests skip, loudly,
// except under CI=true, where they fail.
func chromiumPath(t *testing.T) string {
	for _, name := range []string{os.Getenv("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium found, and CI=true: .ci/run installs Debian's chromium")
	}
	t.Skip("SKIPPING BROWSER TEST: no Chromium found (install Debian's chromium, or set CHROMIUM)")
	return ""
}

func newBrowser(t *testing.T, width, height int) *browser {
	t.Helper()
	// Chromium may still be writing its profile as it exits, so the
	// profile is removed after it has, not by t.TempDir.
	profile, err := os.MkdirTemp("", "poolchat-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(width, height),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	// chromedp reports CDP events it does not know (newer Chromium sends
	// some) as errors; they are noise here.
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(string, ...any) {}))
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
		os.RemoveAll(profile)
	})
	b := &browser{t: t, ctx: ctx}
	chromedp.ListenTarget(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, string(a.Value))
			}
			t.Logf("console.%s: %s", ev.Type, strings.Join(parts, " "))
			if ev.Type == runtime.APITypeError {
				b.errors.Add(1)
			}
		case *runtime.EventExceptionThrown:
			t.Logf("exception: %s", ev.ExceptionDetails.Error())
			b.errors.Add(1)
		case *page.EventJavascriptDialogOpening:
			b.dialogs.Add(1)
			go chromedp.Run(ctx, page.HandleJavaScriptDialog(false))
		}
	})
	b.run(chromedp.EmulateViewport(int64(width), int64(height)))
	return b
}

// run performs browser actions, failing the test on error.
func (b *browser) run(actions ...chromedp.Action) {
	b.t.Helper()
	if err := chromedp.Run(b.ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// waitFor waits until a JavaScript expression is true in the page, across
// a reload of the page.
func (b *browser) waitFor(what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(chattest.Timeout)
	for {
		var ok bool
		err := chromedp.Run(b.ctx, chromedp.Poll(expr, &ok, chromedp.WithPollingTimeout(time.Until(deadline))))
		if err == nil {
			return
		}
		reloaded := strings.Contains(err.Error(), "navigated") || strings.Contains(err.Error(), "Cannot find context")
		if !reloaded || time.Now().After(deadline) {
			b.t.Fatalf("waiting for %s (%s): %v", what, expr, err)
		}
	}
}

// eval returns the value of a JavaScript expression.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	var v T
	b.run(chromedp.Evaluate(expr, &v))
	return v
}

// screenshot saves the page as PNG, in $POOLCHAT_SCREENSHOTS if set (to
// look at, or for the README) or else in the test's temporary directory.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv("POOLCHAT_SCREENSHOTS")
	if dir == "" {
		dir = b.t.TempDir()
	}
	var png []byte
	b.run(chromedp.FullScreenshot(&png, 100))
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
}

// clearInput empties an input (the remembered name, say).
func clearInput(sel string) chromedp.Action {
	return chromedp.Evaluate(`document.querySelector(`+js(sel)+`).value = ""`, nil)
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// hasUser is a JavaScript test for a box in #users whose name is name.
func hasUser(name string) string {
	return `[...document.querySelectorAll("#users [data-user-id] .name")].some(e => e.textContent === ` + js(name) + `)`
}

// lastLine is a JavaScript expression for the text of #log's last line.
const lastLine = `document.querySelector("#log li:last-child .text")?.textContent`

func startRoom(t *testing.T, cfg server.Config) *chattest.Room {
	cfg.Assets = os.DirFS("../web/assets")
	if cfg.History == 0 {
		cfg.History = 50
	}
	return chattest.Start(t, cfg)
}

// joinPage opens the room's page and joins as name through the dialog.
func joinPage(b *browser, room *chattest.Room, name string) {
	b.t.Helper()
	b.run(
		chromedp.Navigate("http://"+room.HTTPAddr+"/"),
		chromedp.WaitVisible("#name-dialog"),
		clearInput("#name"),
		chromedp.SendKeys("#name", name),
		chromedp.Click("#name-form button"),
		chromedp.WaitVisible("#users [data-self]"),
	)
	b.waitFor("the connected status", `document.getElementById("status").textContent === "connected"`)
}

func TestPageChat(t *testing.T) {
	room := startRoom(t, server.Config{})
	early := room.Join(t) // on the page before it loads: rendered by the server
	b := newBrowser(t, 1100, 720)
	joinPage(b, room, "Alice")
	early.Expect("* Alice joined")

	if self := eval[string](b, `document.querySelector("#users [data-self]").textContent`); !strings.Contains(self, "Alice") {
		t.Fatalf("own box says %q", self)
	}
	b.waitFor("the early netcat member's box", hasUser(early.Name))

	// A netcat member's box appears when it joins and goes when it leaves.
	nc := room.Join(t)
	early.Expect("* " + nc.Name + " joined")
	b.waitFor("the new netcat member's box", hasUser(nc.Name))
	if via := eval[string](b, `[...document.querySelectorAll("#users [data-user-id]")].find(e => e.querySelector(".name").textContent === `+js(nc.Name)+`).dataset.via`); via != "tcp" {
		t.Errorf("netcat member's box via %q", via)
	}
	nc.Conn.Close()
	early.Expect("* " + nc.Name + " left")
	b.waitFor("the leaver's box to go", "!"+hasUser(nc.Name))

	// Messages both ways.
	b.run(chromedp.SendKeys("#message", "hello from the browser\r"))
	early.Expect("Alice: hello from the browser")
	early.Send("hello from the terminal")
	early.Expect(early.Name + ": hello from the terminal")
	b.waitFor("the terminal's message", lastLine+` === "hello from the terminal"`)
	b.run(chromedp.SendKeys("#message", "/me waves\r"))
	early.Expect("* Alice waves")

	// A rename, typed as a command.
	b.run(chromedp.SendKeys("#message", `\nick Alicia`+"\r"))
	early.Expect("* Alice is now known as Alicia")
	b.waitFor("the relabelled own box", `document.querySelector("#users [data-self] .name").textContent === "Alicia"`)

	// Hostile text is shown as text.
	payload := `<img src=x onerror=alert(1)><script>alert(2)</script>`
	early.Send(payload)
	early.Expect(early.Name + ": " + payload)
	b.waitFor("the payload as text", lastLine+` === `+js(payload))
	if n := eval[int](b, `document.querySelectorAll("img, script:not([src]), iframe, object, svg").length`); n != 0 {
		t.Fatalf("hostile text made %d elements", n)
	}
	if b.dialogs.Load() != 0 {
		t.Fatal("a JavaScript dialog opened")
	}
	b.screenshot("page.png")
	b.run(chromedp.EmulateViewport(390, 780))
	b.screenshot("page-phone.png")
	if b.errors.Load() != 0 {
		t.Fatalf("%d errors in the page", b.errors.Load())
	}
}

// classicXSS are payloads that have worked against chat pages.
var classicXSS = []string{
	`<img src=x onerror=alert(1)>`,
	`<script>alert(document.cookie)</script>`,
	`<svg/onload=alert(1)>`,
	`"><script>alert(1)</script>`,
	`'><img src=x onerror=alert(1)>`,
	`<iframe src="javascript:alert(1)"></iframe>`,
	`<a href="javascript:alert(1)">click</a>`,
	`<body onload=alert(1)>`,
	`<details open ontoggle=alert(1)>`,
	`<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>`,
	`javascript:alert(1)`,
	`{{constructor.constructor('alert(1)')()}}`,
	`</textarea><script>alert(1)</script>`,
	`<style>body{display:none}</style>`,
	`&lt;script&gt;alert(1)&lt;/script&gt;`,
}

// watchPage counts, from now on, elements added to the page other than log
// lines and user boxes (with their parts) and http(s) links that open
// apart, and Content-Security-Policy violations.
const watchPage = `(() => {
  window.__stray = [];
  window.__csp = 0;
  const link = (el) => el.matches('#log > li.line > .text > a[rel="noopener noreferrer"][target="_blank"]') && /^https?:\/\//i.test(el.getAttribute("href"));
  const ok = (el) => el.matches("#log > li.line, #log > li.line > *, #users > li.user, #users > li.user > *") || link(el);
  new MutationObserver((records) => {
    for (const r of records) for (const n of r.addedNodes) {
      if (n.nodeType !== 1) continue;
      for (const el of [n, ...n.querySelectorAll("*")]) if (!ok(el)) window.__stray.push(el.outerHTML.slice(0, 80));
    }
  }).observe(document.body, {childList: true, subtree: true});
  document.addEventListener("securitypolicyviolation", () => window.__csp++);
})()`

// TestPageHostileText sends the Big List of Naughty Strings and classic
// XSS payloads as messages, from netcat and from the WebSocket, and naughty
// strings that are valid names as names: each shows as exactly the text the
// server cleaned, with no dialog, no CSP violation and no element other
// than log lines and user boxes.
func TestPageHostileText(t *testing.T) {
	data, err := os.ReadFile("../internal/testdata/blns/blns.json")
	if err != nil {
		t.Fatal(err)
	}
	var naughty []string
	if err := json.Unmarshal(data, &naughty); err != nil {
		t.Fatal(err)
	}
	naughty = append(naughty, classicXSS...)
	room := startRoom(t, server.Config{})
	nc := room.Join(t)
	ws := room.JoinWS(t, "wsSender")
	nc.Expect("* wsSender joined")
	b := newBrowser(t, 1000, 700)
	joinPage(b, room, "Watcher")
	nc.Expect("* Watcher joined")
	ws.Expect("new_user")
	b.run(chromedp.Evaluate(watchPage, nil))

	var want []string
	for i, s := range naughty {
		cleaned := server.Clean(s)
		if strings.TrimSpace(cleaned) == "" || strings.HasPrefix(cleaned, `\`) || strings.HasPrefix(cleaned, "/") || len([]rune(cleaned)) > server.MaxMessageRunes {
			continue // not a message: ignored or a command, covered elsewhere
		}
		if i%2 == 0 && !strings.ContainsAny(s, "\r\n") {
			nc.Send(s)
		} else {
			ws.Say(s)
			cleaned = server.Clean(strings.ToValidUTF8(s, "\ufffd")) // JSON carries valid UTF-8 only
		}
		want = append(want, cleaned)
		ws.Expect("message")
	}
	b.waitFor("every naughty line", fmt.Sprintf(`document.querySelectorAll("#log li.message").length === %d`, len(want)))
	got := eval[[]string](b, `[...document.querySelectorAll("#log li.message .text")].map(e => e.textContent)`)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d shows %q, want %q", i, got[i], want[i])
		}
	}

	// Naughty strings that are valid names, as names of members.
	names := 0
	for _, s := range naughty {
		if names == 20 {
			break
		}
		if _, r := server.CheckName(s); r != nil || strings.HasPrefix(strings.ToLower(s), "guest-") {
			continue
		}
		c := room.DialWS(t)
		c.Send(map[string]any{"type": "got_a_new_user", "name": s})
		e := c.Next()
		if e.Str("type") != "welcome" {
			continue // taken by an earlier one in another form
		}
		names++
		b.waitFor("the box of "+s, hasUser(e.Str("name")))
	}
	if names == 0 {
		t.Fatal("no naughty string was a valid name")
	}

	if stray := eval[[]string](b, `window.__stray`); len(stray) > 0 {
		t.Errorf("unexpected elements appeared: %q", stray)
	}
	if n := eval[int](b, `window.__csp`); n != 0 {
		t.Errorf("%d Content-Security-Policy violations", n)
	}
	if b.dialogs.Load() != 0 {
		t.Errorf("%d JavaScript dialogs opened", b.dialogs.Load())
	}
}

// TestPageRecoversAfterRestart stops the server under an open page and
// starts a new one on the same addresses: the page reconnects and rejoins.
func TestPageRecoversAfterRestart(t *testing.T) {
	room := startRoom(t, server.Config{})
	b := newBrowser(t, 1000, 700)
	joinPage(b, room, "Phoenix")
	room.Stop(t)
	b.waitFor("the reconnecting status", `document.getElementById("status").textContent === "reconnecting…"`)

	again := startRoom(t, server.Config{HTTPAddr: room.HTTPAddr, TCPAddr: room.TCPAddr})
	nc := again.Join(t)
	b.waitFor("the connected status", `document.getElementById("status").textContent === "connected"`)
	b.waitFor("the own box", `document.querySelector("#users [data-self] .name")?.textContent === "Phoenix"`)
	nc.Send("welcome back")
	b.waitFor("a message on the new server", lastLine+` === "welcome back"`)
}

// TestPageAsksAgainForATakenName joins with a name a netcat member holds.
func TestPageAsksAgainForATakenName(t *testing.T) {
	room := startRoom(t, server.Config{})
	nc := room.Join(t)
	nc.Send(`\nick Taken`)
	nc.Expect("* " + nc.Name + " is now known as Taken")
	b := newBrowser(t, 1000, 700)
	b.run(
		chromedp.Navigate("http://"+room.HTTPAddr+"/"),
		chromedp.WaitVisible("#name-dialog"),
		chromedp.SendKeys("#name", "taken"),
		chromedp.Click("#name-form button"),
	)
	b.waitFor("the refusal in the dialog", `document.getElementById("name-error").textContent.includes("taken")`)
	b.run(
		clearInput("#name"),
		chromedp.SendKeys("#name", "Other"),
		chromedp.Click("#name-form button"),
		chromedp.WaitVisible("#users [data-self]"),
	)
	nc.Expect("* Other joined")
}

// TestPageDevReload is the `go tool task dev` loop: with DevReload, an open
// page reloads itself when the server comes back, and rejoins by itself.
func TestPageDevReload(t *testing.T) {
	room := startRoom(t, server.Config{DevReload: true})
	b := newBrowser(t, 1000, 700)
	joinPage(b, room, "Dev")
	b.run(chromedp.Evaluate(`window.beforeRestart = true`, nil))
	room.Stop(t)
	again := startRoom(t, server.Config{DevReload: true, HTTPAddr: room.HTTPAddr, TCPAddr: room.TCPAddr})
	b.waitFor("a reloaded page", `window.beforeRestart === undefined && document.querySelector("#users [data-self]") !== null`)
	if got := again.Server.Pool().Members(); len(got) != 1 || got[0].Name != "Dev" {
		t.Fatalf("after the reload the pool holds %v", got)
	}
}
