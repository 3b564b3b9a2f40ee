package e2e

import (
	"testing"
)

// TestTypingCrossesNodes: a page typing on one node is seen typing by the
// pages of another, without the log; TCP members see nothing of it.
func TestTypingCrossesNodes(t *testing.T) {
	poolchat, nats := binaries(t)
	ns := startNATS(t, nats, t.TempDir(), 0)
	a := startNode(t, poolchat, "--nats", ns.url, "--node", "a")
	b := startNode(t, poolchat, "--nats", ns.url, "--node", "b")
	nc := b.room().Join(t)
	ann := a.room().JoinWS(t, "Ann")
	nc.Expect("* Ann joined")
	bea := b.room().JoinWS(t, "Bea")
	nc.Expect("* Bea joined")
	ann.Expect("new_user")
	ann.Send(map[string]any{"type": "typing"})
	if e := bea.Expect("typing"); e.Str("name") != "Ann" || e.Str("id") != ann.ID || e["seq"] != nil {
		t.Fatalf("typing across nodes: %v", e)
	}
	nc.Sync("no typing on tcp")
	if e := bea.Expect("message"); e.Str("text") != "no typing on tcp" {
		t.Fatalf("after the typing: %v", e)
	}
}
