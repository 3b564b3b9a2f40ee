package server

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"net"
	"strconv"
	"sync/atomic"
	"time"
)

// Member is one connection in the pool, from either transport. Its id never
// changes; its name is owned by the pool's goroutine.
type Member struct {
	id   string
	via  Transport
	addr string // remote address, for logs
	out  *outbox

	// Kept for the member's reader, which does not wait for the pool.
	sent   atomic.Uint64          // the seq of the last log entry it appended
	shown  atomic.Pointer[string] // its name, as the pool last set it
	gone   atomic.Bool            // it has left, or is leaving: its input is ignored
	isAway atomic.Bool            // as its reader last appended it, or a resume found it: its next message ends it

	// Owned by the member's reader.
	token  string // its resume token, secret: only its own welcome carries it
	inRoom bool   // its join was accepted, and it has not left

	// Owned by the pool goroutine. (The flags go together, after the
	// reader's one: a Member is then 256 bytes, not 320.)
	lost        bool // its node is gone, and that has been dealt with
	orphan      bool // this node lost the room while it was connected here
	away        bool
	mentioned   bool // the message being broadcast names it: it gets its own copy
	joined      bool
	node        string      // the node it is connected to
	tokenHash   string      // the hash of its resume token; "" for none
	grace       *time.Timer // while it is dropped and keeps its place
	resumeSince uint64      // the seq a resuming connection has seen up to
	name        string
	key         string // comparison key of name, see checkName
	skel        string // its confusable skeleton, which the room keeps unique
	awayReason  string
	lastStored  string // the msg_id of the last of its messages the room applied
	entry       []byte // this member in existing_users, see rosterEntry
}

// setName names a member that has its id. Pool goroutine only.
func (m *Member) setName(name, key string) {
	m.name, m.key, m.skel = name, key, nameSkeleton(key)
	m.entry = rosterEntry(m)
	m.shown.Store(&name)
}

// setToken records the hash of m's resume token in the pool's index ("":
// none). Pool goroutine only.
func (m *Member) setToken(p *ClientPool, hash string) {
	if m.tokenHash != "" && p.tokens[m.tokenHash] == m {
		delete(p.tokens, m.tokenHash)
	}
	m.tokenHash = hash
	if hash != "" {
		p.tokens[hash] = m
	}
}

// stopGrace stops the count of a dropped member's grace. Pool goroutine
// only.
func (m *Member) stopGrace() {
	if m.grace != nil {
		m.grace.Stop()
		m.grace = nil
	}
}

// newResumeToken returns a fresh secret for taking a place back.
func newResumeToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// tokenHash is how the room keeps a resume token: never the token itself.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// shownName is the member's name as the pool last set it, for its reader.
func (m *Member) shownName() string {
	if n := m.shown.Load(); n != nil {
		return *n
	}
	return ""
}

// endMember ends a member, of either transport, after its reader stopped
// with err, always in this order: the member leaves the pool if it is still
// there; what is queued for it goes out, then its last words if the server
// ended it (outbox contract 5); only then is the connection closed, at
// once with a reset if the server had said its last words and the client
// did not close within lingerAfter.
func (s *Server) endMember(m *Member, conn net.Conn, err error) {
	s.pool.Unregister(m)
	m.out.wait()
	closeAfterRead(conn, err)
}

func newMember(via Transport, addr string, conn net.Conn, outboxLimit int) *Member {
	return &Member{via: via, addr: addr, out: newOutbox(via, conn, outboxLimit)}
}

// newMemberID returns `user_` and 12 random decimal digits.
func newMemberID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	n := binary.LittleEndian.Uint64(b[:]) % 1_000_000_000_000
	s := strconv.FormatUint(n, 10)
	return "user_" + "000000000000"[len(s):] + s
}
