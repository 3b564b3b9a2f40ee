package e2e

import (
	"fmt"
	"html"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/poolchat/poolchat/internal/chattest"
	"github.com/poolchat/poolchat/server"
)

// readmeBlock returns the code block that follows marker in README.md.
func readmeBlock(t *testing.T, marker string) []string {
	t.Helper()
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(data), marker)
	if !ok {
		t.Fatalf("README.md has no %s", marker)
	}
	_, block, _ := strings.Cut(after, "```\n")
	block, _, _ = strings.Cut(block, "```")
	return strings.Split(strings.TrimSuffix(block, "\n"), "\n")
}

// terminal records a netcat member's session as its screen shows it: what
// was typed and what came back, in order.
type terminal struct {
	c     *chattest.TCPClient
	lines []string
}

func newTerminal(c *chattest.TCPClient) *terminal {
	return &terminal{c: c, lines: []string{"$ nc localhost 3000"}}
}

// got records the next n lines from the server.
func (s *terminal) got(n int) {
	for range n {
		s.lines = append(s.lines, s.c.ReadLine())
	}
}

// typed sends a line and records it with the replies that follow.
func (s *terminal) typed(line string, replies int) {
	s.lines = append(s.lines, line)
	s.c.Send(line)
	s.got(replies)
}

// screen returns the session with guest numbers shown as the README's.
func (s *terminal) screen() []string {
	guest := regexp.MustCompile(`guest-[0-9]+`)
	out := make([]string, len(s.lines))
	for i, l := range s.lines {
		out[i] = guest.ReplaceAllString(l, "guest-43")
	}
	return out
}

// netcatSession plays the README's netcat session against a real server
// and returns the transcript as a terminal shows it: what was typed and
// what came back, in order.
func netcatSession(t *testing.T) []string {
	room := startRoom(t, server.Config{})
	ada := room.Join(t)
	ada.Send(`\nick ada`)
	ada.Expect("* " + ada.Name + " is now known as ada")
	ada.Name = "ada"

	you := newTerminal(room.Dial(t))
	you.c.Send("") // join now rather than after the join delay
	you.got(2)
	ada.ExpectPrefix("* guest-")
	ada.Send("hello, who's there?")
	you.got(1)
	you.typed("hi ada", 1)
	you.typed(`\nick bob`, 1)
	you.typed("/me waves", 1)
	you.typed(`\nick ADA`, 1)
	you.typed(`\who`, 1)
	ada.Send(`\quit`)
	you.got(1)
	you.typed(`\quit`, 1)
	you.c.ExpectEOF()
	return you.screen()
}

// TestReadmeNetcatSession checks that the README's netcat transcript is
// what the server really does.
func TestReadmeNetcatSession(t *testing.T) {
	want := readmeBlock(t, "<!-- netcat session: checked by e2e/readme_test.go -->")
	got := netcatSession(t)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("README.md's netcat session has drifted from the server. Real session:\n%s", strings.Join(got, "\n"))
	}
}

// TestReadmeScreenshots makes the README's pictures: the page with a few
// members, and a terminal showing what a netcat member of the same room
// saw. With POOLCHAT_SCREENSHOTS=docs (go tool task screenshots) they land
// in docs/.
func TestReadmeScreenshots(t *testing.T) {
	room := startRoom(t, server.Config{})
	grace := newTerminal(room.Dial(t))
	grace.c.Send("")
	grace.got(2)
	grace.typed(`\nick grace`, 1)
	linus := room.JoinWS(t, "linus")
	grace.got(1)
	b := newBrowser(t, 960, 600)
	joinPage(b, room, "ada")
	grace.got(1)
	linus.Say("morning all")
	grace.got(1)
	b.run(chromedp.SendKeys("#message", "hi! joining from the browser\r"))
	grace.got(1)
	grace.typed("hello from a terminal, ada", 1)
	grace.typed("/me waves", 1)
	b.waitFor("the last line", lastLine+` === "waves"`)
	b.run(chromedp.Evaluate(`document.activeElement.blur()`, nil))
	b.screenshot("screenshot-page.png")

	var pre strings.Builder
	for _, l := range grace.screen() {
		pre.WriteString(html.EscapeString(l) + "\n")
	}
	page := `<!doctype html><meta charset=utf-8><body style="margin:0;background:#1e1e1e">` +
		`<pre style="margin:0;padding:16px;color:#d4d4d4;font:15px/1.5 'DejaVu Sans Mono',monospace;min-height:568px">` +
		pre.String() + `</pre>`
	tb := newBrowser(t, 620, 600)
	tb.run(chromedp.Navigate("data:text/html;charset=utf-8," + url.PathEscape(page)))
	tb.screenshot("screenshot-terminal.png")
}

// TestReadmeWasmSizes checks the sizes the README gives for the browser
// client against the committed files.
func TestReadmeWasmSizes(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`([0-9,]+) bytes raw, ([0-9,]+) gzip, ([0-9,]+) brotli`).FindStringSubmatch(string(data))
	if m == nil {
		t.Fatal("README.md does not give the wasm's sizes")
	}
	for i, name := range []string{"poolchat.wasm", "poolchat.wasm.gz", "poolchat.wasm.br"} {
		fi, err := os.Stat("../web/assets/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.ReplaceAll(m[i+1], ",", ""); want != fmt.Sprint(fi.Size()) {
			t.Errorf("README.md says %s is %s bytes; it is %d", name, m[i+1], fi.Size())
		}
	}
}
