package e2e

// §11 across nodes: typing beside the log; private messages, away and
// mentions through it.

import (
	"testing"

	"github.com/poolchat/poolchat/internal/chattest"
)

// TestTypingCrossesNodes: a page typing on one node is seen typing by the
// pages of another, without the log; TCP members see nothing of it.
func TestTypingCrossesNodes(t *testing.T) {
	a, b := twoNodes(t)
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

// TestPrivateAwayMentionAcrossNodes: §11 on two nodes: a private message
// reaches its recipient on the other node and no one else there; away and
// back cross; a mention rings the bell of a member on the other node.
func TestPrivateAwayMentionAcrossNodes(t *testing.T) {
	a, b := twoNodes(t)
	ann := a.room().Join(t)
	bob := b.room().Join(t)
	ann.Expect("* " + bob.Name + " joined")
	eve := b.room().Join(t)
	ann.Expect("* " + eve.Name + " joined")
	bob.Expect("* " + eve.Name + " joined")

	ann.Send(`\msg ` + bob.Name + ` across the nodes`)
	ann.Expect("-> " + bob.Name + ": across the nodes")
	bob.Expect("<- " + ann.Name + ": across the nodes")
	ann.Sync("marker", bob, eve) // eve's next line is the marker: nothing private reached her

	bob.Send(`\away tea`)
	for _, c := range []*chattest.TCPClient{ann, bob, eve} {
		c.Expect("* " + bob.Name + " is away: tea")
	}
	ann.Send("hello " + bob.Name)
	ann.Expect(ann.Name + ": hello " + bob.Name)
	eve.Expect(ann.Name + ": hello " + bob.Name)
	bob.Expect("\a" + ann.Name + ": hello " + bob.Name)
	bob.Send(`\back`)
	for _, c := range []*chattest.TCPClient{ann, bob, eve} {
		c.Expect("* " + bob.Name + " is back")
	}
}
