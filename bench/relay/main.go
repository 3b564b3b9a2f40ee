//go:build linux

// Command relay is the load benchmark's floor: the least work a chat server
// can do. Every line a connection sends is written, as it is, to every
// connection: no names, no JSON, no presence, no limits, no queue. The work
// is split the way poolchat splits its fan-out, one writer goroutine per CPU
// each owning a share of the connections, and a writer sends what has
// piled up for its share in one write system call per connection.
//
// The load generator runs it beside poolchat in one run (scenario 7), so
// that what this machine's loopback costs per delivery is seen apart from
// what poolchat adds. A socket too full to take a line loses it: the floor
// keeps nothing back, and the generator reports the loss.
//
// Usage: relay -addr 127.0.0.1:9000
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "TCP address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
	fmt.Println("relay", ln.Addr())
	shares := make([]*share, runtime.GOMAXPROCS(0))
	for i := range shares {
		shares[i] = &share{wake: make(chan struct{}, 1)}
		go shares[i].write()
	}
	for i := 0; ; i++ {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "relay:", err)
			os.Exit(1)
		}
		go serve(c.(*net.TCPConn), shares[i%len(shares)], shares)
	}
}

// share is one writer goroutine's part of the connections.
type share struct {
	fdsMu sync.RWMutex // held by the writer while it writes, so no fd closes under it
	fds   []int

	queueMu sync.Mutex
	queue   []byte // lines not yet written to this share

	wake chan struct{}
}

// serve reads c's lines and hands each to every share, until c ends.
func serve(c *net.TCPConn, own *share, all []*share) {
	defer c.Close()
	fd := -1
	if rc, err := c.SyscallConn(); err == nil {
		rc.Control(func(f uintptr) { fd = int(f) })
	}
	own.fdsMu.Lock()
	own.fds = append(own.fds, fd)
	own.fdsMu.Unlock()
	defer own.remove(fd)
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		for _, s := range all {
			s.queueMu.Lock()
			s.queue = append(s.queue, line...)
			s.queueMu.Unlock()
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
	}
}

func (s *share) remove(fd int) {
	s.fdsMu.Lock()
	defer s.fdsMu.Unlock()
	for i, f := range s.fds {
		if f == fd {
			s.fds = append(s.fds[:i], s.fds[i+1:]...)
			return
		}
	}
}

// write sends what has piled up to every connection of the share, once per
// wake-up.
func (s *share) write() {
	var out []byte
	for range s.wake {
		s.queueMu.Lock()
		out, s.queue = s.queue, out[:0]
		s.queueMu.Unlock()
		s.fdsMu.RLock()
		for _, fd := range s.fds {
			syscall.Write(fd, out)
		}
		s.fdsMu.RUnlock()
	}
}
