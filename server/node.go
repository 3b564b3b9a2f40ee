package server

// This node among others that share the room (SPEC §10): it tells the
// others it is alive, reaps the members of nodes that are not, and stops
// serving while it has lost NATS, rather than run a private copy of the
// room, until it has caught up with the log again.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"time"
)

// aliveEvery is how often this node says it is alive and looks for nodes
// that are not; with roomlog.NodeTTL it bounds how long a dead node's TCP
// members stay listed: NodeTTL + aliveEvery, and the bucket's own check
// for expired keys (at most a few hundred milliseconds late), while the
// nodes' bucket keeps its leader.
const aliveEvery = 500 * time.Millisecond

// aliveWork bounds a tick's requests (the word, the look at the others,
// the leaves of those gone): longer than a tick, so that a busy machine
// delays the next tick rather than failing this one.
const aliveWork = 2 * time.Second

// steadyTicks is at how many ticks in a row this node's word must have
// been stored before it reaps anyone (watchNodes): the first, then two
// seconds for every other node to have said it is alive again.
const steadyTicks = 1 + int(2*time.Second/aliveEvery)

// lostAfter is how long NATS may be out of reach before this node tells
// its members and stops serving.
const lostAfter = 5 * time.Second

// defaultNodeName is the hostname and a short random suffix.
func defaultNodeName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	var b [3]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return strings.ReplaceAll(host, ".", "-") + "-" + hex.EncodeToString(b[:])
}

// watchNodes says this node is alive every aliveEvery, from before the
// pool has replayed the log (a long replay must not let this node's word
// expire), until ctx ends. Once started is closed (the replay done), it
// also reaps the members of nodes that are not alive, purges what the log
// no longer needs, and serves the room again once it has lost it and
// NATS is back.
//
// It reaps, or serves again (which reaps too), only once its own word has
// been stored at steadyTicks ticks in a row since the last failure. While
// the nodes' bucket cannot be written (its leader died with its server,
// and the rest take seconds to elect another; this node or the others
// were cut off), every node's word expires; the first to be stored again
// must not take the others for dead before they have had a tick of their
// own to say otherwise. A word sent while there is no leader is sent
// again until one answers, so every live node is stored again soon after
// the election.
func (s *Server) watchNodes(ctx context.Context, started <-chan struct{}) {
	tick := time.NewTicker(aliveEvery)
	defer tick.Stop()
	steady := 0 // ticks in a row at which this node's word was stored
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rctx, cancel := context.WithTimeout(ctx, aliveWork)
		if s.pool.roomLog.Embedded() {
			// A log of its own, in this process: no other node to tell or
			// to reap, and it cannot be lost. Each word would be garbage,
			// ~100 KB a second of requests, which an idle server's
			// memory would carry until the next collection.
			s.pool.tidyLog(rctx)
			cancel()
			continue
		}
		err := s.pool.roomLog.Alive(rctx, s.pool.node)
		steady++
		switch {
		case err != nil:
			steady = 0
			if s.unavailable.Load() {
				err = nil // said when the room was lost; nothing new until NATS is back
			}
		case steady < steadyTicks, !closed(started): // not steady yet, or the log not yet replayed
		case s.unavailable.Load():
			if s.pool.roomLog.Connected() {
				err = s.regainRoom()
			}
		default:
			// The room's stream may still be electing a leader when the
			// nodes' bucket has one: reap once it answers, so that the
			// leaves it records can be stored.
			if _, err = s.pool.roomLog.LastSeq(rctx); err == nil {
				err = s.pool.reap(rctx, false)
			}
		}
		if !s.unavailable.Load() {
			s.pool.tidyLog(rctx)
		}
		cancel()
		if err != nil && ctx.Err() == nil {
			s.log.Warn("node liveness", "err", err)
		}
	}
}

// closed says whether c is closed.
func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// natsChanged hears that the connection to NATS was lost or is back. A
// node that has lost the room serves it again when watchNodes finds NATS
// steady.
func (s *Server) natsChanged(up bool) {
	s.lostMu.Lock()
	defer s.lostMu.Unlock()
	if s.stopping {
		return
	}
	if !up {
		s.log.Warn("lost the connection to nats")
		if s.lostTimer == nil {
			s.lostTimer = time.AfterFunc(lostAfter, s.loseRoom)
		}
		return
	}
	s.log.Info("connected to nats again")
	if s.lostTimer != nil {
		s.lostTimer.Stop()
		s.lostTimer = nil
	}
}

// loseRoom ends every member of this node: the room goes on without this
// node, which cannot follow it. Newcomers are refused until it is back.
func (s *Server) loseRoom() {
	s.lostMu.Lock()
	defer s.lostMu.Unlock()
	if s.lostTimer == nil || s.stopping {
		return // NATS came back as the timer ran out
	}
	s.lostTimer = nil
	s.log.Error("lost the room: nats has been out of reach too long", "after", lostAfter)
	s.unavailable.Store(true)
	s.pool.orphanAll()
}

// regainRoom catches up with the log, reaps this node's members from
// before and those of nodes gone meanwhile, and serves again. On an error
// it does not serve: watchNodes tries again at its next tick.
func (s *Server) regainRoom() error {
	if err := s.pool.catchUp(appendTimeout); err != nil {
		return fmt.Errorf("catching up with the room: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), appendTimeout)
	defer cancel()
	if err := s.pool.reap(ctx, false); err != nil {
		return fmt.Errorf("catching up with the room: %w", err)
	}
	s.unavailable.Store(false)
	s.log.Info("serving the room again")
	return nil
}
