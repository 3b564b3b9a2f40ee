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

// netcatSession plays the README's netcat session against a real server
// and returns the transcript as a terminal shows it: what was typed and
// what came back, in order.
func netcatSession(t *testing.T) []string {
	room := startRoom(t, server.Config{})
	ada := room.Join(t)
	ada.Send(`\nick ada`)
	ada.Expect("* " + ada.Name + " is now known as ada")
	ada.Name = "ada"

	you := room.Dial(t)
	var transcript []string
	got := func(n int) {
		for range n {
			transcript = append(transcript, you.ReadLine())
		}
	}
	typed := func(line string, replies int) {
		transcript = append(transcript, line)
		you.Send(line)
		got(replies)
	}
	transcript = append(transcript, "$ nc localhost 3000")
	you.Send("") // join now rather than after the join delay
	got(2)
	ada.ExpectPrefix("* guest-")
	ada.Send("hello, who's there?")
	got(1)
	typed("hi ada", 1)
	typed(`\nick bob`, 1)
	typed("/me waves", 1)
	typed(`\nick ADA`, 1)
	typed(`\who`, 1)
	ada.Send(`\quit`)
	got(1)
	typed(`\quit`, 1)
	you.ExpectEOF()

	// Guest numbers are random: show the README's.
	guest := regexp.MustCompile(`guest-[0-9]+`)
	for i, l := range transcript {
		transcript[i] = guest.ReplaceAllString(l, "guest-43")
	}
	return transcript
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
	grace := room.Dial(t)
	term := []string{"$ nc localhost 3000"}
	got := func(n int) {
		for range n {
			term = append(term, grace.ReadLine())
		}
	}
	typed := func(line string, replies int) {
		term = append(term, line)
		grace.Send(line)
		got(replies)
	}
	grace.Send("")
	got(2)
	typed(`\nick grace`, 1)
	linus := room.JoinWS(t, "linus")
	got(1)
	b := newBrowser(t, 960, 600)
	joinPage(b, room, "ada")
	got(1)
	linus.Say("morning all")
	got(1)
	b.run(chromedp.SendKeys("#message", "hi! joining from the browser\r"))
	got(1)
	typed("hello from a terminal, ada", 1)
	typed("/me waves", 1)
	b.waitFor("the last line", lastLine+` === "waves"`)
	b.run(chromedp.Evaluate(`document.activeElement.blur()`, nil))
	b.screenshot("screenshot-page.png")

	guest := regexp.MustCompile(`guest-[0-9]+`)
	var pre strings.Builder
	for _, l := range term {
		pre.WriteString(html.EscapeString(guest.ReplaceAllString(l, "guest-43")) + "\n")
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
