package server_test

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/poolchat/poolchat/internal/chattest"
	"github.com/poolchat/poolchat/server"
)

// TestSlowMemberIsDropped has one member never read while the others
// exchange more than the kernel's socket buffers hold: the others get every
// message, the slow one is dropped and announced, and the server's memory
// stays bounded by the outbox limit (the default, 1 MiB).
func TestSlowMemberIsDropped(t *testing.T) {
	const (
		senders   = 4
		perSender = 1000 // 4 MB to each member, far more than the socket buffers hold
	)
	// Senders are held to a pace readers keep up with; only the slow
	// member falls behind.
	room := chattest.Start(t, server.Config{Flood: server.FloodLimit{Burst: 100, PerSecond: 400}})
	slow := room.Join(t)
	slow.Conn.SetReadBuffer(4096)
	clients := make([]*chattest.TCPClient, senders)
	for i := range clients {
		clients[i] = room.Join(t)
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	text := strings.Repeat("x", 990)
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			for i := range perSender {
				c.Send(fmt.Sprintf("%04d %s", i, text))
			}
		})
	}
	errs := make(chan error, senders)
	for i, c := range clients {
		wg.Go(func() {
			next := map[string]int{}
			sawLeft := false
			for got := 0; got < senders*perSender; {
				l, err := c.TryReadLine(chattest.Timeout)
				if err != nil {
					errs <- fmt.Errorf("%s: %v after %d lines", c.Name, err, got)
					return
				}
				if l == "* "+slow.Name+" left" {
					sawLeft = true
					continue
				}
				if strings.HasSuffix(l, " joined") || strings.HasPrefix(l, "! you are sending too fast") {
					continue // later joiners' announcements; the flood notice
				}
				name, rest, _ := strings.Cut(l, ": ")
				if want := fmt.Sprintf("%04d ", next[name]); !strings.HasPrefix(rest, want) {
					errs <- fmt.Errorf("%s: from %s got %.10q, want %q", c.Name, name, rest, want)
					return
				}
				next[name]++
				got++
			}
			if !sawLeft {
				errs <- fmt.Errorf("client %d never saw the slow member leave", i)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	clients[0].Sync("after the flood", clients[1:]...)

	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	total := senders * perSender * 1000 * (senders + 1)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 16<<20 {
		t.Errorf("heap grew by %d bytes after %d bytes of traffic", grew, total)
	}
	for _, m := range room.Server.Pool().Members() {
		if m.Name == slow.Name {
			t.Fatalf("slow member still in the pool")
		}
	}
}
