package server

// SetPanicHooks makes member input containing readerText panic in that
// member's reader goroutine, and input containing poolText panic on the
// pool goroutine, until the returned function restores them.
func SetPanicHooks(readerText, poolText string) (restore func()) {
	oldInput, oldHandle := testHookInput, testHookHandle
	testHookInput = func(text string) {
		if text == readerText {
			panic("test: a bug in a reader")
		}
	}
	testHookHandle = func(text string) {
		if text == poolText {
			panic("test: a bug in the pool")
		}
	}
	return func() { testHookInput, testHookHandle = oldInput, oldHandle }
}

// OpenConnections is how many connections the server is serving, on both
// transports: a test can tell that one it dialled has been accepted.
func (s *Server) OpenConnections() int {
	s.conns.mu.Lock()
	defer s.conns.mu.Unlock()
	return len(s.conns.conns)
}
