package roomlog

// How soon the embedded servers of a cluster elect a new leader for the
// room's stream and the nodes' bucket when theirs dies. NATS waits 4 to
// 9 s of silence from a leader before its followers stand for election,
// a margin made for servers across a WAN; poolchat's nodes promise
// (SPEC §10) that a dead node's members are announced as left within 5 s,
// and that needs a leader to store the leaves. nats-server has no option
// for it, so its variables are set directly: a nats-server version that
// renames them fails to build here, rather than silently keeping 4–9 s.

import (
	"time"
	_ "unsafe" // go:linkname
)

//go:linkname raftMinElectionTimeout github.com/nats-io/nats-server/v2/server.minElectionTimeout
var raftMinElectionTimeout time.Duration

//go:linkname raftMaxElectionTimeout github.com/nats-io/nats-server/v2/server.maxElectionTimeout
var raftMaxElectionTimeout time.Duration

// The election timeout, drawn at random between these bounds, is how
// long a follower hears nothing from its leader before it stands. NATS's
// leaders beat every second, so two beats missed start an election.
const (
	electionAfterMin = 2 * time.Second
	electionAfterMax = 3 * time.Second
)

// The embedded server is this process's own: set before any starts.
func init() {
	raftMinElectionTimeout, raftMaxElectionTimeout = electionAfterMin, electionAfterMax
}
