//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// cpuProfile, when set (-cpuprofile), is where each started server writes
// its CPU profile; the last scenario's wins.
var cpuProfile string

// memProfile, when set (-memprofile), is where each started server writes a
// heap profile as it is stopped, members still connected.
var memProfile string

// serverLogs, when set (-serverlogs), is a directory where each started
// server's stderr goes, one file per process; otherwise it is discarded.
var serverLogs string

// protocol is what a benchmarked server speaks.
type protocol int

const (
	poolchatProtocol protocol = iota // poolchat: TCP lines, JSON events on /ws
	gorillaProtocol                  // gorilla/websocket's chat example: text frames on /ws, relayed as they are
	relayProtocol                    // bench/relay, the floor: TCP lines relayed as they are
)

func (p protocol) String() string {
	return [...]string{"poolchat", "gorilla/websocket chat example", "relay (the floor)"}[p]
}

// target is a server binary and the protocol it speaks.
type target struct {
	proto protocol
	bin   string
}

// start runs t for one scenario: poolchat with the benchmark's flags, any
// other on a free port.
func (t target) start() (*serverProc, error) {
	if t.proto == poolchatProtocol {
		return startServer(t.bin)
	}
	return startPeer(t)
}

// serverProc is a server started for one scenario.
type serverProc struct {
	procMu   sync.Mutex // guards cmd, which a restart replaces while memory is sampled
	cmd      *exec.Cmd
	proto    protocol
	tcpAddr  string
	httpAddr string
	dataDir  string   // poolchat's log, removed at stop
	bin      string   // poolchat's binary and flags, to start it again
	args     []string // (restart), on the same addresses and log
}

// startServer runs the binary on loopback port-0 addresses with the limits
// a benchmark needs lifted, and reads the addresses it printed.
func startServer(bin string, extra ...string) (*serverProc, error) {
	dataDir, err := os.MkdirTemp("", "poolchat-bench-")
	if err != nil {
		return nil, err
	}
	s := &serverProc{dataDir: dataDir, bin: bin, args: append([]string{
		"--max-clients", "30000", "--max-per-ip", "0", "--history", "0",
		"--log-format", "json",
	}, extra...)}
	if err := s.launch("127.0.0.1:0", "127.0.0.1:0"); err != nil {
		os.RemoveAll(dataDir)
		return nil, err
	}
	return s, nil
}

// launch starts the poolchat process on these addresses and waits until
// it prints where it serves.
func (s *serverProc) launch(httpAddr, tcpAddr string) error {
	cmd := exec.Command(s.bin, append([]string{"--http-addr", httpAddr, "--tcp-addr", tcpAddr}, s.args...)...)
	cmd.Stderr = io.Discard
	if serverLogs != "" {
		f, err := os.CreateTemp(serverLogs, "poolchat-*.log")
		if err != nil {
			return err
		}
		defer f.Close() // the process has its own copy once started
		cmd.Stderr = f
	}
	// The room's log on disk, as a user runs it; by the environment, so a
	// binary from before the log still starts.
	cmd.Env = append(os.Environ(), "POOLCHAT_DATA="+s.dataDir)
	if cpuProfile != "" {
		cmd.Env = append(cmd.Env, "POOLCHAT_CPUPROFILE="+cpuProfile)
	}
	if memProfile != "" {
		cmd.Env = append(cmd.Env, "POOLCHAT_MEMPROFILE="+memProfile)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	httpAddr, tcpAddr = "", ""
	lines := bufio.NewScanner(out)
	for (tcpAddr == "" || httpAddr == "") && lines.Scan() {
		l := lines.Text()
		if rest, ok := strings.CutPrefix(l, "web  http://"); ok {
			httpAddr = rest
		}
		if rest, ok := strings.CutPrefix(l, "tcp  nc "); ok {
			host, port, _ := strings.Cut(rest, " ")
			tcpAddr = net.JoinHostPort(host, port)
		}
	}
	if tcpAddr == "" || httpAddr == "" {
		cmd.Process.Kill()
		cmd.Wait()
		return errors.New("the server did not print its addresses")
	}
	go io.Copy(io.Discard, out)
	s.procMu.Lock()
	s.cmd = cmd
	s.procMu.Unlock()
	s.httpAddr, s.tcpAddr = httpAddr, tcpAddr
	return nil
}

// restart stops the server gracefully (SIGTERM) and starts it again on
// the same addresses and log. down is when the old process had exited.
func (s *serverProc) restart() (down time.Time, err error) {
	if err := s.terminate(); err != nil {
		return time.Time{}, err
	}
	down = time.Now()
	return down, s.launch(s.httpAddr, s.tcpAddr)
}

// startPeer runs another server, to compare with (scenario 7), on a free
// loopback port given as -addr, and waits until it accepts connections.
func startPeer(t target) (*serverProc, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(t.bin, "-addr", addr)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &serverProc{cmd: cmd, proto: t.proto, tcpAddr: addr, httpAddr: addr}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("%s did not listen on %s: %w", t.bin, addr, err)
		}
	}
}

// stop sends SIGTERM, waits for the exit, and removes the log.
func (s *serverProc) stop() error {
	if s.dataDir != "" {
		defer os.RemoveAll(s.dataDir)
	}
	return s.terminate()
}

// terminate sends SIGTERM and waits for the exit.
func (s *serverProc) terminate() error {
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		return errors.New("the server did not stop within 10s")
	}
}

// procSample is the server's CPU time and resident memory at one moment.
type procSample struct {
	at  time.Time
	cpu time.Duration // user + system
	rss int64         // bytes
}

// clockTick is the kernel's USER_HZ, 100 on Linux.
const clockTick = 100

func (s *serverProc) sample() (procSample, error) {
	s.procMu.Lock()
	pid := strconv.Itoa(s.cmd.Process.Pid)
	s.procMu.Unlock()
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return procSample{}, err
	}
	// Fields after the command name, which is in parentheses.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return procSample{}, err
	}
	var rss int64
	for _, l := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			rss = kb << 10
		}
	}
	return procSample{at: time.Now(), cpu: time.Duration(utime+stime) * time.Second / clockTick, rss: rss}, nil
}

// selfCPU is the load generator's own CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuPercent is the server's CPU use between two samples, in percent of
// one core.
func cpuPercent(a, b procSample) float64 {
	return 100 * float64(b.cpu-a.cpu) / float64(b.at.Sub(a.at))
}

func mustSample(s *serverProc) procSample {
	p, err := s.sample()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen: sample:", err)
	}
	return p
}
