package server

import (
	"testing"
	"testing/synctest"
)

// TestAppendAnswerLost: a member whose message the log could not take is
// told to send it again, but not when the log stored it and only its
// answer was lost (the server that stored it died before answering): the
// room has it, and everyone saw it.
func TestAppendAnswerLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startPipeRoom(t, Config{})
		log := r.s.pool.roomLog.(*memLog)
		a := r.joinTCP()

		log.setLoss(loseAnswer)
		a.send("stored, unanswered")
		a.expect(a.name + ": stored, unanswered")
		log.setLoss(loseNothing)
		a.send("next")
		a.expect(a.name + ": next")

		log.setLoss(loseEntry)
		a.send("not stored")
		a.expect("! the room cannot be reached right now; try again")
		log.setLoss(loseNothing)
		a.send("again")
		a.expect(a.name + ": again")
	})
}
