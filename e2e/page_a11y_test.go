package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/poolchat/poolchat/server"
)

// axeSource returns axe-core's axe.min.js: from $AXE_CORE_JS, or where
// .ci/run installs it (npm install --prefix ~/.cache/poolchat-ci
// axe-core). Without it the test skips, loudly, except under CI=true.
func axeSource(t *testing.T) string {
	t.Helper()
	path := os.Getenv("AXE_CORE_JS")
	if path == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		path = filepath.Join(cache, "poolchat-ci", "node_modules", "axe-core", "axe.min.js")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no axe-core, and CI=true: %v", err)
		}
		t.Skipf("SKIPPING ACCESSIBILITY TEST: no axe-core (%v); install it with `npm install --prefix ~/.cache/poolchat-ci axe-core`, or set AXE_CORE_JS", err)
	}
	return string(data)
}

// axeViolation is what axe-core reports of one rule the page breaks.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// checkAccessible runs axe-core on the page as it is, in the given colour
// scheme, and fails the test on any serious or critical violation.
func checkAccessible(b *browser, axe, what, scheme string) {
	b.t.Helper()
	b.run(emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}))
	if !eval[bool](b, `typeof axe === "object"`) {
		b.run(chromedp.Evaluate(axe, nil))
	}
	var out string
	b.run(chromedp.Evaluate(`axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations))`, &out,
		func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	var violations []axeViolation
	if err := json.Unmarshal([]byte(out), &violations); err != nil {
		b.t.Fatalf("axe-core said %q: %v", out, err)
	}
	for _, v := range violations {
		if v.Impact != "serious" && v.Impact != "critical" {
			b.t.Logf("%s, %s: %s (%s) on %d elements", what, scheme, v.ID, v.Impact, len(v.Nodes))
			continue
		}
		var where []string
		for _, n := range v.Nodes {
			where = append(where, fmt.Sprintf("%v: %s", n.Target, n.Summary))
		}
		b.t.Errorf("%s, %s: %s (%s): %s\n\t%s", what, scheme, v.ID, v.Impact, v.Help, strings.Join(where, "\n\t"))
	}
}

// TestPageAccessible checks the name dialog, the room, and the room while
// it reconnects, light and dark, with axe-core: no serious or critical
// violation.
func TestPageAccessible(t *testing.T) {
	axe := axeSource(t)
	room := startRoom(t, server.Config{})
	room.JoinWS(t, "member-with-a-long-name")
	nc := room.Join(t)
	b := newBrowser(t, 1280, 800)
	openPage(b, room)
	for _, scheme := range []string{"light", "dark"} {
		checkAccessible(b, axe, "the name dialog", scheme)
	}
	b.run(clearInput("#name"), chromedp.SendKeys("#name", "taken-by-nobody\r"), chromedp.WaitVisible("#users [data-self]"))
	nc.Expect("* taken-by-nobody joined")
	nc.Send("hello taken-by-nobody, see https://example.com/page")
	nc.Send(`\msg taken-by-nobody just for you: https://example.com/private`)
	nc.Send("/me waves")
	b.waitFor("the messages", lastLine+` === "waves"`)
	b.waitFor("the private message's link", `document.querySelector("#log .line.private a") !== null`)
	b.run(chromedp.SendKeys("#message", "my own line\r"))
	b.waitFor("the own line", lastLine+` === "my own line"`)
	for _, scheme := range []string{"light", "dark"} {
		checkAccessible(b, axe, "the room", scheme)
	}
	room.Stop(t)
	b.waitFor("the greyed list and Retry now", `document.getElementById("users").hasAttribute("data-stale") && !document.getElementById("retry").hidden`)
	for _, scheme := range []string{"light", "dark"} {
		checkAccessible(b, axe, "the room reconnecting", scheme)
	}
}
