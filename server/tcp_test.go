package server_test

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolchat/poolchat/internal/chattest"
	"github.com/poolchat/poolchat/server"
)

var guestName = regexp.MustCompile(`^guest-[0-9]+$`)

// TestLabBehaviour walks through the TCP chat lab: guest names, ids, the
// broadcast format, a rename and removal on close.
func TestLabBehaviour(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	a := room.Join(t)
	if !guestName.MatchString(a.Name) {
		t.Fatalf("guest name %q", a.Name)
	}
	b := room.Dial(t)
	b.Name = strings.TrimPrefix(b.ReadLine(), "* welcome to poolchat, ")
	b.Expect(fmt.Sprintf("* online now (2): %s, %s", a.Name, b.Name))
	a.Expect("* " + b.Name + " joined")
	if a.Name == b.Name {
		t.Fatalf("two members named %s", a.Name)
	}
	for _, m := range room.Server.Pool().Members() {
		if !regexp.MustCompile(`^user_[0-9]{12}$`).MatchString(m.ID) {
			t.Errorf("member id %q", m.ID)
		}
	}

	a.Send("whats up?")
	a.Expect(a.Name + ": whats up?")
	b.Expect(a.Name + ": whats up?")

	a.Send(`\nick new-name`)
	a.Expect("* " + a.Name + " is now known as new-name")
	b.Expect("* " + a.Name + " is now known as new-name")
	a.Name = "new-name"

	b.Conn.Close()
	a.Expect("* " + b.Name + " left")
	if got := len(room.Server.Pool().Members()); got != 1 {
		t.Fatalf("%d members after one left, want 1", got)
	}
}

func TestCommands(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	a, b := room.Join(t), room.Join(t)
	a.Expect("* " + b.Name + " joined")

	a.Send("/me waves")
	a.Expect("* " + a.Name + " waves")
	b.Expect("* " + a.Name + " waves")

	b.Send(`\who`)
	b.Expect(fmt.Sprintf("* online now (2): %s, %s", a.Name, b.Name))

	b.Send(`\help`)
	for help := ""; !strings.Contains(help, "//shrug"); {
		help = b.ExpectPrefix("* ")
	}

	b.Send(`//shrug`)
	a.Expect(b.Name + ": /shrug")
	b.Expect(b.Name + ": /shrug")

	b.Send(`\quit`)
	b.Expect("* bye")
	b.ExpectEOF()
	a.Expect("* " + b.Name + " left")
	a.Sync("still here")
}

func TestRenameRules(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	a, b := room.Join(t), room.Join(t)
	a.Expect("* " + b.Name + " joined")

	a.Send(`\nick Alice`)
	a.Expect("* " + a.Name + " is now known as Alice")
	b.Expect("* " + a.Name + " is now known as Alice")
	a.Name = "Alice"

	refused := []struct{ line, want string }{
		{`\nick alice`, "! the name alice is taken"},
		{`\nick ALİCE`, ""}, // a different name (dotted capital I): accepted below
		{`\nick`, `! usage: \nick NEW`},
		{`\nick two words`, "! a name cannot contain spaces"},
		{`\nick ` + strings.Repeat("x", 25), "! a name is at most 24 characters"},
		{`\nick Guest-0`, "! names starting with 'guest-' are given by the server"},
		{`\nick <script>`, "! a name may hold only letters, digits, '-', '_' and '.'"},
		{`\nick ` + a.Name, "! the name Alice is taken"},
		{`\nick ` + b.Name, "! you are already called " + b.Name},
	}
	for _, r := range refused {
		if r.want == "" {
			continue
		}
		b.Send(r.line)
		b.Expect(r.want)
	}
	b.Sync("nothing leaked", a)

	// Changing the case of one's own name is allowed, even for a guest name.
	upper := strings.ToUpper(b.Name)
	b.Send(`\nick ` + upper)
	b.Expect("* " + b.Name + " is now known as " + upper)
	a.Expect("* " + b.Name + " is now known as " + upper)
}

// TestNameRace has two members ask for one name at once, many times:
// exactly one gets it each time.
func TestNameRace(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	a, b := room.Join(t), room.Join(t)
	a.Expect("* " + b.Name + " joined")
	for i := range 20 {
		name := fmt.Sprintf("prize%d", i)
		var wg sync.WaitGroup
		for _, c := range []*chattest.TCPClient{a, b} {
			wg.Go(func() { c.Send(`\nick ` + name) })
		}
		wg.Wait()
		// Each sees one rename line; the loser also sees its refusal.
		won := map[string]bool{}
		for _, c := range []*chattest.TCPClient{a, b} {
			for range 2 {
				l := c.ReadLine()
				if old, ok := strings.CutSuffix(l, " is now known as "+name); ok {
					won[strings.TrimPrefix(old, "* ")] = true
					if c.Name == strings.TrimPrefix(old, "* ") {
						break
					}
					continue
				}
				if l != "! the name "+name+" is taken" {
					t.Fatalf("round %d: %s got %q", i, c.Name, l)
				}
			}
		}
		if len(won) != 1 {
			t.Fatalf("round %d: winners %v", i, won)
		}
		for _, c := range []*chattest.TCPClient{a, b} {
			if won[c.Name] {
				c.Name = name
			}
		}
	}
}

// TestBadInputIsRefused sends each kind of bad input: the sender gets a
// `! ` line (or nothing, for lines that are ignored) and a watching member
// sees nothing at all.
func TestBadInputIsRefused(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	a, watcher := room.Join(t), room.Join(t)
	a.Expect("* " + watcher.Name + " joined")
	tests := []struct {
		name, raw, reply string
	}{
		{"unknown command", "\\bogus\n", "! unknown command \\bogus; type \\help for the list"},
		{"bare prefix", "/\n", "! a command needs a name after the \\; type \\help for the list"},
		{"nick without name", "\\nick\n", "! usage: \\nick NEW"},
		{"me without text", "/me   \n", "! usage: \\me TEXT"},
		{"message too long", strings.Repeat("é", 1001) + "\n", "! message too long: at most 1000 characters"},
		{"line too long", strings.Repeat("x", 5000) + "\n", "! line too long: at most 4096 bytes; the rest of it was discarded"},
		{"empty line", "\n", ""},
		{"blank line", " \t \r\n", ""},
		{"only escapes", "\x1b[2J\x1b]0;x\x07\n", ""},
		{"only telnet", "\xff\xfb\x01\xff\xfd\x03\r\n", ""},
		{"nul", "\x00\n", ""},
	}
	for i, tt := range tests {
		a.SendRaw(tt.raw)
		if tt.reply != "" {
			a.Expect(tt.reply)
		}
		a.Sync(fmt.Sprintf("after %s %d", tt.name, i), watcher)
	}
}

func TestTextIsCleanedForOthers(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	a, b := room.Join(t), room.Join(t)
	a.Expect("* " + b.Name + " joined")
	a.SendRaw("hi \x1b[2J\x1b]0;pwned\x07there\u202e \xc3 ok\x07\r\n")
	want := a.Name + ": hi there \ufffd ok"
	a.Expect(want)
	b.Expect(want)

	// A multibyte character split across two TCP packets arrives whole.
	a.SendRaw("split \xe6\x97")
	a.SendRaw("\xa5 end\n")
	b.Expect(a.Name + ": split 日 end")
}

func TestHistoryReplay(t *testing.T) {
	room := chattest.Start(t, server.Config{History: 3})
	a := room.Join(t)
	for i := range 5 {
		a.Send(fmt.Sprintf("m%d", i))
		a.Expect(fmt.Sprintf("%s: m%d", a.Name, i))
	}
	a.Send("/me is done")
	a.Expect("* " + a.Name + " is done")
	late := room.Join(t)
	a.Expect("* " + late.Name + " joined")
	late.Expect(a.Name + ": m3")
	late.Expect(a.Name + ": m4")
	late.Expect("* " + a.Name + " is done")
	late.Sync("hello", a)
}

// TestUnjoinedConnectionsAreNeverAnnounced covers port scans and HTTP
// requests sent to the chat port.
func TestUnjoinedConnectionsAreNeverAnnounced(t *testing.T) {
	room := chattest.Start(t, server.Config{JoinDelay: 2 * time.Second})
	a := room.Join(t)

	scan := room.Dial(t)
	scan.Conn.Close()

	for _, req := range []string{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "POST /api HTTP/1.0\r\n", "\x16\x03\x01\x02\x00\x01\n"} {
		c := room.Dial(t)
		c.SendRaw(req)
		c.ExpectEOF()
	}
	a.Sync("only me")
	if n := len(room.Server.Pool().Members()); n != 1 {
		t.Fatalf("%d members, want 1", n)
	}
}

// TestJoinAtFirstLine shows a line sent at once joins without waiting for
// the join delay, and is then said.
func TestJoinAtFirstLine(t *testing.T) {
	room := chattest.Start(t, server.Config{JoinDelay: time.Hour})
	c := room.Dial(t)
	c.Send("GET me a coffee")
	name := strings.TrimPrefix(c.ExpectPrefix("* welcome to poolchat, "), "* welcome to poolchat, ")
	c.ExpectPrefix("* online now (1)")
	c.Expect(name + ": GET me a coffee")
}

func TestServerFull(t *testing.T) {
	room := chattest.Start(t, server.Config{MaxClients: 2})
	a, b := room.Join(t), room.Join(t)
	a.Expect("* " + b.Name + " joined")
	c := room.Dial(t)
	c.Expect("! server full")
	c.ExpectEOF()
	a.Sync("two of us", b)

	// A place frees when someone's connection ends.
	b.Send(`\quit`)
	b.Expect("* bye")
	b.ExpectEOF()
	a.Expect("* " + b.Name + " left")
	b.Conn.Close()
	for deadline := time.Now().Add(chattest.Timeout); ; {
		c := room.Dial(t)
		if l := c.ReadLine(); strings.HasPrefix(l, "* welcome") {
			break
		} else if l != "! server full" || time.Now().After(deadline) {
			t.Fatalf("after a member left: %q", l)
		}
	}
}

// TestFanOut has 40 members send 25 messages each: every member receives
// every message exactly once, each sender's in order.
func TestFanOut(t *testing.T) {
	const members, perSender = 40, 25
	room := chattest.Start(t, server.Config{}) // chattest's flood limit lets every line through at once
	clients := make([]*chattest.TCPClient, members)
	for i := range clients {
		clients[i] = room.Join(t)
		for _, prev := range clients[:i] {
			prev.Expect("* " + clients[i].Name + " joined")
		}
	}
	sendAndReadInOrder(t, clients, clients, perSender)
	clients[0].Sync("done", clients[1:]...)
}

func TestShutdownTellsEveryone(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	a, b := room.Join(t), room.Join(t)
	a.Expect("* " + b.Name + " joined")
	pending := room.Dial(t) // not yet joined
	// Only once the server has accepted it: a connection still in the
	// listener's backlog when the server stops is reset by the kernel.
	for deadline := time.Now().Add(chattest.Timeout); room.Server.OpenConnections() < 3; {
		if time.Now().After(deadline) {
			t.Fatal("the pending connection was never accepted")
		}
		time.Sleep(time.Millisecond) // polling: accepting has no event to wait on
	}
	room.Stop(t)
	for _, c := range []*chattest.TCPClient{a, b} {
		c.Expect("* server is shutting down")
		c.ExpectEOF()
	}
	// The pending connection comes to join after its delay and is refused.
	pending.Expect("! the server is shutting down")
	pending.ExpectEOF()
}

// TestFanOutToAWideRoom has many members and several senders at once:
// every member still gets every message, in order. (A flush split between
// cores, from 512 members, is TestSplitFlushReachesEveryone's.)
func TestFanOutToAWideRoom(t *testing.T) {
	const members, senders, perSender = 160, 4, 20
	room := chattest.Start(t, server.Config{})
	clients := make([]*chattest.TCPClient, members)
	for i := range clients {
		clients[i] = room.Join(t)
	}
	last := clients[members-1]
	for _, c := range clients[:members-1] {
		for c.ReadLine() != "* "+last.Name+" joined" { // the joins after c's own
		}
	}
	sendAndReadInOrder(t, clients[:senders], clients, perSender)
}

// sendAndReadInOrder has each sender send perSender lines "n=K" at once,
// and checks that every reader gets them all, each sender's in order.
func sendAndReadInOrder(t *testing.T, senders, readers []*chattest.TCPClient, perSender int) {
	t.Helper()
	var wg sync.WaitGroup
	for _, c := range senders {
		wg.Go(func() {
			for i := range perSender {
				c.Send(fmt.Sprintf("n=%d", i))
			}
		})
	}
	errs := make(chan error, len(readers))
	for _, c := range readers {
		wg.Go(func() {
			if err := readInOrder(c, len(senders)*perSender); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// readInOrder reads count lines "NAME: n=K" and checks that each sender's
// K counts up from 0, with nothing else in between.
func readInOrder(c *chattest.TCPClient, count int) error {
	next := map[string]int{}
	for range count {
		l, err := c.TryReadLine(chattest.Timeout)
		if err != nil {
			return fmt.Errorf("%s: %v after %v", c.Name, err, next)
		}
		name, n, ok := strings.Cut(l, ": n=")
		if !ok {
			return fmt.Errorf("%s: unexpected line %q", c.Name, l)
		}
		if want := fmt.Sprint(next[name]); n != want {
			return fmt.Errorf("%s: from %s got n=%s, want n=%s", c.Name, name, n, want)
		}
		next[name]++
	}
	return nil
}
