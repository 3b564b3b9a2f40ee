//go:build linux

package main

import (
	"errors"
	"runtime"
	"sync"
	"syscall"
)

// poller reads the sockets of many members from one goroutine with epoll,
// so that receiving costs the generator a read per wake-up and not a
// goroutine switch per delivery: the generator shares the two cores with
// the server it measures.
type poller struct {
	epfd    int
	mu      sync.Mutex // held while reading, so remove never races a read
	members map[int32]*member
}

// pollers spreads members over one poller per CPU.
var pollers = sync.OnceValue(func() []*poller {
	ps := make([]*poller, runtime.GOMAXPROCS(0))
	for i := range ps {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			panic(err)
		}
		ps[i] = &poller{epfd: fd, members: make(map[int32]*member)}
		go ps[i].run()
	}
	return ps
})

// watch starts reading m's socket on one of the pollers.
func watch(m *member) {
	ps := pollers()
	p := ps[m.idx%len(ps)]
	p.mu.Lock()
	defer p.mu.Unlock()
	m.poller = p
	p.members[int32(m.fd)] = m
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(m.fd)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, m.fd, &ev); err != nil {
		panic(err)
	}
}

// remove stops reading m's socket; after it returns, the poller will not
// touch it, and it may be closed.
func (p *poller) remove(m *member) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.members[int32(m.fd)] == m {
		delete(p.members, int32(m.fd))
		syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, m.fd, nil)
	}
}

func (p *poller) run() {
	events := make([]syscall.EpollEvent, 256)
	buf := make([]byte, 256<<10)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			panic(err)
		}
		p.mu.Lock()
		for _, ev := range events[:n] {
			m := p.members[ev.Fd]
			if m == nil {
				continue
			}
			if !m.readFrom(buf) {
				delete(p.members, ev.Fd)
				syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, m.fd, nil)
				if f := m.ended.Load(); f != nil {
					go (*f)()
				}
			}
		}
		p.mu.Unlock()
	}
}

// readFrom reads what the socket holds and hands it to the member; false
// when the connection has ended.
func (m *member) readFrom(buf []byte) bool {
	n, err := syscall.Read(m.fd, buf)
	if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR) {
		return true
	}
	if n <= 0 {
		return false
	}
	return m.received(buf[:n])
}
