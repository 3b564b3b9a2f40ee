//go:build !unix

package server

import (
	"net"
	"syscall"
)

// rawConnOf reports that this platform has no writes that do not wait:
// every member's writes go through its writer goroutine.
func rawConnOf(net.Conn) syscall.RawConn { return nil }

// writeSome is not called where rawConnOf returns nil.
func writeSome(uintptr, []byte) int { return 0 }
