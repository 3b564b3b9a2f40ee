//go:build js && wasm

package main

import "syscall/js"

// Where the session is kept, in sessionStorage: one per tab, so two tabs
// never hold the same token. web/src/app.js reads sessionToken too, to
// leave the name dialog closed for a page that will resume.
const (
	sessionToken = "poolchat.resume"
	sessionSeq   = "poolchat.seq"
	sessionEpoch = "poolchat.epoch"
	sessionName  = "poolchat.session-name"
)

// session is what the page needs to take its place in the room back after
// its connection dropped (SPEC §9): the token of the last welcome, the
// highest seq applied, the log that seq counts in, and the name. It
// outlives the page only in this tab, so a page that crashed and is
// loaded again resumes too; a page that is closed or left forgets it.
type session struct {
	token string
	seq   int // highest seq applied; 0: none
	epoch string
	name  string
}

func loadSession() session {
	get := func(key string) string {
		if v := storage("sessionStorage", "getItem", key); v.Type() == js.TypeString {
			return v.String()
		}
		return ""
	}
	return session{token: get(sessionToken), seq: atoi(get(sessionSeq)), epoch: get(sessionEpoch), name: get(sessionName)}
}

// save stores the whole session; saveSeq only the seq, after each event.
func (s *session) save() {
	storage("sessionStorage", "setItem", sessionToken, s.token)
	storage("sessionStorage", "setItem", sessionEpoch, s.epoch)
	storage("sessionStorage", "setItem", sessionName, s.name)
	s.saveSeq()
}

func (s *session) saveSeq() {
	storage("sessionStorage", "setItem", sessionSeq, s.seq) // stored as its decimal string
}

// forget drops the token, here and in storage: the member left on
// purpose, or the token was refused, so there is nothing to resume.
func (s *session) forget() {
	s.token = ""
	storage("sessionStorage", "removeItem", sessionToken)
}

// canResume says whether a new connection should resume rather than join.
func (s *session) canResume() bool { return s.token != "" && s.name != "" }

// seqOf returns an event's seq, or 0 if it has none.
func seqOf(ev js.Value) int {
	if v := ev.Get("seq"); v.Type() == js.TypeNumber {
		return v.Int()
	}
	return 0
}

// atoi reads a seq written by the page itself; anything else is 0. It
// spares the wasm strconv's parsing and its errors.
func atoi(s string) int {
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' || n > 1<<53 {
			return 0
		}
		n = n*10 + int(r-'0')
	}
	return n
}
