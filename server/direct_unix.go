//go:build unix

package server

import (
	"net"
	"syscall"
)

// rawConnOf returns the socket under c, for writes that do not wait.
func rawConnOf(c net.Conn) syscall.RawConn {
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			return rc
		}
	}
	return nil
}

// writeSome writes as much of b to the socket fd as it takes without
// waiting, and returns how much that was. It does not report why it
// stopped: a broken connection is found by the writer that takes over.
func writeSome(fd uintptr, b []byte) (n int) {
	for n < len(b) {
		m, err := syscall.Write(int(fd), b[n:])
		if err == syscall.EINTR {
			continue
		}
		if m <= 0 {
			break
		}
		n += m
	}
	return n
}
