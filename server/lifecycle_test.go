package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/poolchat/poolchat/internal/chattest"
	"github.com/poolchat/poolchat/server"
)

// TestQuitKeepsWhatWasQueued: \quit sent in one write with other lines
// still gets the answers to those lines before the goodbye.
func TestQuitKeepsWhatWasQueued(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	for i := range 5 {
		c := room.Join(t)
		c.SendRaw(fmt.Sprintf("hello %d\n\\who\n\\quit\n", i))
		c.Expect(fmt.Sprintf("%s: hello %d", c.Name, i))
		c.Expect("* online now (1): " + c.Name)
		c.Expect("* bye")
		c.ExpectEOF()
	}
}

// TestHalfCloseGetsItsAnswers: a client that sends its lines and closes
// its side (nc -N, printf | nc) still receives everything they caused.
func TestHalfCloseGetsItsAnswers(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	watcher := room.Join(t)
	for i := range 5 {
		c := room.Dial(t)
		c.SendRaw(fmt.Sprintf("hello %d\n\\who\n", i))
		c.Conn.CloseWrite()
		name := strings.TrimPrefix(c.ExpectPrefix("* welcome to poolchat, "), "* welcome to poolchat, ")
		c.ExpectPrefix("* online now (2)")
		c.Expect(fmt.Sprintf("%s: hello %d", name, i))
		c.Expect(fmt.Sprintf("* online now (2): %s, %s", watcher.Name, name))
		c.ExpectEOF()
		watcher.Expect("* " + name + " joined")
		watcher.Expect(fmt.Sprintf("%s: hello %d", name, i))
		watcher.Expect("* " + name + " left")
	}
}

// TestWebQuitKeepsWhatWasQueued is TestQuitKeepsWhatWasQueued on the
// WebSocket: the answers come before the close.
func TestWebQuitKeepsWhatWasQueued(t *testing.T) {
	room := chattest.Start(t, server.Config{})
	for i := range 5 {
		c := room.JoinWS(t, fmt.Sprintf("web%d", i))
		c.Say("hello")
		c.Say(`\who`)
		c.Say(`\quit`)
		if e := c.Expect("message"); e.Str("text") != "hello" {
			t.Fatalf("got %v", e)
		}
		c.Expect("existing_users")
		if status := c.ExpectClose(); status != websocket.StatusNormalClosure {
			t.Fatalf("closed with %v, want 1000", status)
		}
	}
}
