package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/poolchat/poolchat/internal/chattest"
	"github.com/poolchat/poolchat/server"
)

// watchGo runs in the page before any of its scripts. It keeps the Go
// instance that app.js makes from wasm_exec.js's Go class as window.__go,
// where _values holds every JavaScript value the wasm still references.
// Go drops a value from _values only when its garbage collector finds the
// value unreachable, and with the default settings the client's small heap
// would not be collected during the test; a memory limit of one byte makes
// it collect all the time, so a value the client has let go of leaves
// _values within an event or two.
const watchGo = `(() => {
  let Go;
  Object.defineProperty(globalThis, "Go", {
    configurable: true,
    get: () => Go,
    set: (cls) => {
      Go = class extends cls {
        constructor() {
          super();
          this.env = { GOMEMLIMIT: "1" };
          globalThis.__go = this;
        }
      };
    },
  });
})()`

// heldSockets counts the WebSockets the wasm client still references.
const heldSockets = `window.__go._values.filter(v => v instanceof WebSocket).length`

// TestPageReleasesClosedConnections restarts the server under an open page
// several times. Each reconnect opens a new WebSocket with its own event
// listeners; once a socket has closed, the client must release them, or
// every socket it ever opened stays reachable from the wasm. Releasing them
// too early would show as "call to released function" in the console.
func TestPageReleasesClosedConnections(t *testing.T) {
	room := startRoom(t, server.Config{})
	b := newBrowser(t, 1000, 700)
	b.run(chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(watchGo).Do(ctx)
		return err
	}))
	joinPage(b, room, "Rejoiner")

	const restarts = 3
	for range restarts {
		room.Stop(t)
		b.waitFor("the reconnecting status", `document.getElementById("status").textContent === "reconnecting…"`)
		room = startRoom(t, server.Config{HTTPAddr: room.HTTPAddr, TCPAddr: room.TCPAddr})
		b.waitFor("the connected status", `document.getElementById("status").textContent === "connected"`)
	}

	// Messages make the client allocate, so the wasm collects what it no
	// longer references; only the open socket may stay.
	nc := room.Join(t)
	held := 0
	for deadline := time.Now().Add(chattest.Timeout); ; {
		if held = eval[int](b, heldSockets); held == 1 || time.Now().After(deadline) {
			break
		}
		nc.Send("tick")
		time.Sleep(50 * time.Millisecond)
	}
	if held != 1 {
		t.Errorf("after %d reconnects the client still holds %d WebSockets, want only the open one", restarts, held)
	}
	if n := b.errors.Load(); n != 0 {
		t.Errorf("%d errors in the page", n)
	}
}

// TestPageJoinWhileReconnecting submits the name form again while the page
// waits to reconnect to a stopped server. That join connects at once, and
// the reconnect already scheduled must then not open a second socket: one
// would be left open, unused, with its listeners never released.
func TestPageJoinWhileReconnecting(t *testing.T) {
	room := startRoom(t, server.Config{})
	b := newBrowser(t, 1000, 700)
	b.run(chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(watchGo).Do(ctx)
		return err
	}))
	b.run(chromedp.Navigate("http://"+room.HTTPAddr+"/"), chromedp.WaitVisible("#name-dialog"))
	b.waitFor("the client to start", `document.getElementById("loading").hidden`)
	room.Stop(t)
	b.run(clearInput("#name"), chromedp.SendKeys("#name", "Twice"), chromedp.Click("#name-form button"))
	b.waitFor("the reconnecting status", `document.getElementById("status").textContent === "reconnecting…"`)
	b.run(chromedp.Click("#name-form button"))
	b.waitFor("the reconnecting status", `document.getElementById("status").textContent === "reconnecting…"`)

	room = startRoom(t, server.Config{HTTPAddr: room.HTTPAddr, TCPAddr: room.TCPAddr})
	b.waitFor("the connected status", `document.getElementById("status").textContent === "connected"`)
	// Every reconnect scheduled while the server was down (after at most
	// three failures, 3 s with jitter) has fired by now.
	time.Sleep(3500 * time.Millisecond)
	nc := room.Join(t)
	b.run(chromedp.SendKeys("#message", "still here\r"))
	nc.Expect("Twice: still here")
	if held := eval[int](b, heldSockets); held != 1 {
		t.Errorf("the client holds %d WebSockets, want only the open one", held)
	}
	if n := b.errors.Load(); n != 0 {
		t.Errorf("%d errors in the page", n)
	}
}
