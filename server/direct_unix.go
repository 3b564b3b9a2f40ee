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

// tryWrite writes as much of b as the socket takes without waiting.
func tryWrite(rc syscall.RawConn, b []byte) (n int, err error) {
	werr := rc.Write(func(fd uintptr) bool {
		for n < len(b) {
			m, e := syscall.Write(int(fd), b[n:])
			if e == syscall.EINTR {
				continue
			}
			if m > 0 {
				n += m
			}
			if e != nil || m <= 0 {
				if e != syscall.EAGAIN {
					err = e
				}
				break
			}
		}
		return true // never wait for the socket
	})
	if err == nil {
		err = werr
	}
	return n, err
}
