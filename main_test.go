package main

import (
	"bufio"
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func noEnv(string) string { return "" }

func TestHelp(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, noEnv, &out, io.Discard); err != nil {
		t.Fatalf("--help: %v", err)
	}
	for _, want := range []string{"--http-addr ADDR", "--tcp-addr ADDR", "--allowed-origins LIST", "--history N",
		"--max-clients N", "--max-per-ip N", "--allowed-hosts LIST", "--log-format text|json", "--version", "--help",
		"env POOLCHAT_HTTP_ADDR", "env POOLCHAT_TCP_ADDR", "env POOLCHAT_ALLOWED_ORIGINS", "env POOLCHAT_ALLOWED_HOSTS",
		"env POOLCHAT_HISTORY", "env POOLCHAT_MAX_CLIENTS", "env POOLCHAT_MAX_PER_IP", "env POOLCHAT_LOG_FORMAT"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help does not mention %q", want)
		}
	}
	for _, never := range []string{"POOLCHAT_VERSION", "POOLCHAT_HELP"} {
		if strings.Contains(out.String(), never) {
			t.Errorf("--help names %s, which nothing reads", never)
		}
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--version"}, noEnv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "poolchat ") {
		t.Fatalf("--version printed %q", out.String())
	}
}

// TestVersionUnknown runs --version in the test binary, which records no
// version (go test stamps no VCS information): the line says so and how to
// get one, instead of a bare "devel".
func TestVersionUnknown(t *testing.T) {
	if v, known := buildVersion(); known {
		t.Skipf("this test binary records version %q", v)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--version"}, noEnv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSuffix(out.String(), "\n")
	if !strings.HasPrefix(line, "poolchat devel (") || !strings.Contains(line, "-buildvcs") ||
		!strings.Contains(line, "-X main.version=") || strings.Contains(line, "\n") {
		t.Fatalf("--version of a build without a version printed %q", out.String())
	}
}

// TestVersionFromVCS builds the binary the way `go build` does in a git
// clone and checks that --version names the commit it was built from, and
// whether the tree had uncommitted changes.
func TestVersionFromVCS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "poolchat")
	build := exec.Command("go", "build", "-buildvcs=auto", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// The build's own record, not git's: others may commit meanwhile.
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		t.Skip("not a git clone: the build recorded no revision")
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(out))
	if !strings.HasPrefix(line, "poolchat ") || !strings.Contains(line, rev[:12]) {
		t.Errorf("--version printed %q, want revision %s", line, rev[:12])
	}
	if dirty := strings.Contains(line, "dirty"); dirty != (modified == "true") {
		t.Errorf("--version printed %q, but vcs.modified is %s", line, modified)
	}
}

// TestBadFlags: each mistake on the command line is a usage error (exit
// 2) that says what is wrong, before anything starts.
func TestBadFlags(t *testing.T) {
	cluster := []string{"--node", "a", "--data", t.TempDir(), "--cluster-listen", "127.0.0.1:0", "--cluster-peers", "127.0.0.1:1"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"--history", "-1"}, "--history must be 0 or more"},
		{[]string{"--history", "many"}, `invalid value "many" for flag -history`},
		{[]string{"--log-format", "xml"}, `--log-format must be text or json, not "xml"`},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--max-clients", "0"}, "--max-clients must be at least 1"},
		{[]string{"--room", "Pool"}, `--room: room name "Pool": only lower-case letters, digits, '-' and '_' are allowed`},
		{[]string{"--room", "a.b"}, `--room: room name "a.b": only lower-case letters`},
		{[]string{"--room", strings.Repeat("r", 65)}, "longer than 64 characters"},
		{[]string{"--nats", "nats://127.0.0.1:1", "--node", "web 1"}, `--node: node name "web 1": only letters, digits, '-' and '_' are allowed`},
		{[]string{"--cluster-listen", "127.0.0.1:0", "--node", "a"}, "--cluster-listen and --cluster-peers go together"},
		{[]string{"--cluster-peers", "127.0.0.1:1"}, "--cluster-listen and --cluster-peers go together"},
		{append(cluster, "--nats", "nats://127.0.0.1:1"), "--cluster-listen is for the embedded server; with --nats the cluster is NATS's own"},
		{append(cluster, "--ephemeral"), "--cluster-listen cannot be --ephemeral"},
		{[]string{"--cluster-listen", "127.0.0.1:0", "--cluster-peers", "127.0.0.1:1"}, "--cluster-listen needs --node"},
		{append(cluster, "--node", "a.b"), `--node: node name "a.b": only letters`},
		{append(cluster, "--cluster-listen", "nowhere"), "--cluster-listen: address nowhere: missing port in address"},
		{append(cluster, "--cluster-listen", "127.0.0.1:http"), `--cluster-listen: address "127.0.0.1:http": bad port`},
		{append(cluster, "--cluster-peers", "127.0.0.1:1,peer"), "--cluster-peers: address peer: missing port in address"},
		{append(cluster, "--cluster-peers", "127.0.0.1:99999"), `--cluster-peers: address "127.0.0.1:99999": bad port`},
		{append(cluster, "--cluster-peers", " , "), "--cluster-peers needs at least one address"},
	} {
		err := run(context.Background(), c.args, noEnv, io.Discard, io.Discard)
		if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), c.want) || !strings.HasSuffix(err.Error(), "(see poolchat --help)") {
			t.Errorf("run(%q) = %v, want a usage error saying %q", c.args, err, c.want)
		}
	}
	env := func(k string) string {
		if k == "POOLCHAT_HISTORY" {
			return "lots"
		}
		return ""
	}
	if err := run(context.Background(), nil, env, io.Discard, io.Discard); !errors.As(err, new(usageError)) {
		t.Errorf("bad POOLCHAT_HISTORY: %v, want a usage error", err)
	}
}

func TestEnvironmentAndFlags(t *testing.T) {
	env := func(k string) string {
		return map[string]string{"POOLCHAT_HTTP_ADDR": "127.0.0.1:1", "POOLCHAT_ALLOWED_ORIGINS": "a.example, b.example"}[k]
	}
	c, err := parseFlags([]string{"--http-addr", "127.0.0.1:2"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.httpAddr != "127.0.0.1:2" {
		t.Errorf("the command line must win over the environment: %q", c.httpAddr)
	}
	if got := splitList(c.allowedOrigins); len(got) != 2 || got[1] != "b.example" {
		t.Errorf("allowed origins %q", got)
	}
}

// TestActionFlagsReadNoEnvironment starts the server with POOLCHAT_VERSION
// and POOLCHAT_HELP set: --version and --help are actions asked for on the
// command line, so a variable left in a shell or a unit file must neither
// refuse the start nor replace it.
func TestActionFlagsReadNoEnvironment(t *testing.T) {
	for _, kv := range [][2]string{{"POOLCHAT_VERSION", "true"}, {"POOLCHAT_VERSION", "v1.2.3"}, {"POOLCHAT_HELP", "true"}} {
		t.Run(kv[0]+"="+kv[1], func(t *testing.T) {
			env := func(k string) string {
				if k == kv[0] {
					return kv[1]
				}
				return ""
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stdout := newWatchWriter("tcp  nc ")
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, []string{"--http-addr", "127.0.0.1:0", "--tcp-addr", "127.0.0.1:0", "--ephemeral"}, env, stdout, io.Discard)
			}()
			select {
			case <-stdout.seen:
				cancel()
				if err := <-done; err != nil {
					t.Fatalf("serve: %v", err)
				}
			case err := <-done:
				t.Fatalf("run returned %v without serving; stdout:\n%s", err, stdout)
			}
		})
	}
}

// watchWriter collects what is written to it and closes seen once that
// contains want.
type watchWriter struct {
	want string
	seen chan struct{}
	mu   sync.Mutex
	buf  bytes.Buffer
}

func newWatchWriter(want string) *watchWriter {
	return &watchWriter{want: want, seen: make(chan struct{})}
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	had := strings.Contains(w.buf.String(), w.want)
	w.buf.Write(p)
	if !had && strings.Contains(w.buf.String(), w.want) {
		close(w.seen)
	}
	return len(p), nil
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = run(context.Background(), []string{"--tcp-addr", ln.Addr().String(), "--http-addr", "127.0.0.1:0", "--ephemeral"}, noEnv, io.Discard, io.Discard)
	if err == nil || errors.As(err, new(usageError)) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("run on a busy port: %v", err)
	}
}

// TestBinary builds the real binary, starts it on port-0 addresses, chats
// over TCP, sends SIGTERM, and checks the notice and exit status 0.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildPoolchat(t)
	p := startPoolchat(t, bin, "--data", t.TempDir())
	cmd, stderr := p.cmd, p.stderr
	if !strings.Contains(p.firstLine, "v9.9.9-test") {
		t.Errorf("start line %q does not give the stamped version", p.firstLine)
	}
	conn, r := p.dial(t)
	io.WriteString(conn, "hello from the test\r\n")
	readLine := func() string {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v (stderr:\n%s)", err, stderr.String())
		}
		return strings.TrimSuffix(l, "\r\n")
	}
	name := strings.TrimPrefix(readLine(), "* welcome to poolchat, ")
	if l := readLine(); l != "* online now (1): "+name {
		t.Fatalf("online line %q", l)
	}
	if l := readLine(); l != name+": hello from the test" {
		t.Fatalf("message line %q", l)
	}

	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if l := readLine(); l != "* server is shutting down" {
		t.Fatalf("after SIGTERM: %q", l)
	}
	if _, err := r.ReadString('\n'); !errors.Is(err, io.EOF) {
		t.Fatalf("after the notice: %v, want EOF", err)
	}
	conn.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\nstderr:\n%s", err, stderr.String())
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("shutdown took %v", took)
	}
	if strings.Contains(stderr.String(), "hello from the test") {
		t.Errorf("chat text in the logs:\n%s", stderr.String())
	}
	_ = os.Remove(bin)
}

// buildPoolchat builds the binary, stamped v9.9.9-test, into a temporary
// directory.
func buildPoolchat(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "poolchat")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=v9.9.9-test", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// poolchatProc is the binary running on port-0 addresses.
type poolchatProc struct {
	cmd       *exec.Cmd
	stderr    *bytes.Buffer
	firstLine string
	tcpAddr   string
}

// startPoolchat runs bin with args on port-0 loopback addresses and reads
// the addresses it printed; the process is killed when the test ends.
func startPoolchat(t *testing.T, bin string, args ...string) *poolchatProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--http-addr", "127.0.0.1:0", "--tcp-addr", "127.0.0.1:0"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &poolchatProc{cmd: cmd, stderr: new(bytes.Buffer)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	for p.tcpAddr == "" && lines.Scan() {
		l := lines.Text()
		if p.firstLine == "" {
			p.firstLine = l
		}
		if rest, ok := strings.CutPrefix(l, "tcp  nc "); ok {
			host, port, _ := strings.Cut(rest, " ")
			p.tcpAddr = net.JoinHostPort(host, port)
		}
	}
	if p.tcpAddr == "" {
		t.Fatalf("no tcp line on stdout; stderr:\n%s", p.stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	return p
}

// dial connects a netcat-like client.
func (p *poolchatProc) dial(t *testing.T) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", p.tcpAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	return conn, bufio.NewReader(conn)
}

// TestCrashKeepsTheRoom: a message someone saw is still there after the
// server is killed with SIGKILL, a second server refuses the same --data
// with one line, and the restarted server announces nobody twice.
func TestCrashKeepsTheRoom(t *testing.T) {
	bin := buildPoolchat(t)
	dir := t.TempDir()
	first := startPoolchat(t, bin, "--data", dir)
	conn, r := first.dial(t)
	io.WriteString(conn, "seen before the crash\n")
	readLine(t, r) // welcome
	readLine(t, r) // online now
	if l := readLine(t, r); !strings.HasSuffix(l, ": seen before the crash") {
		t.Fatalf("the message came back as %q", l)
	}

	second := exec.Command(bin, "--http-addr", "127.0.0.1:0", "--tcp-addr", "127.0.0.1:0", "--data", dir)
	var out, errOut bytes.Buffer
	second.Stdout, second.Stderr = &out, &errOut
	err := second.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("a second server on the same --data: %v, want exit status 1", err)
	}
	if lines := strings.Split(strings.TrimSpace(errOut.String()), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "in use") || out.Len() != 0 {
		t.Fatalf("a second server on the same --data said %q on stdout and %q on stderr, want one line on stderr", out.String(), errOut.String())
	}

	first.cmd.Process.Kill()
	first.cmd.Wait()
	third := startPoolchat(t, bin, "--data", dir)
	conn, r = third.dial(t)
	io.WriteString(conn, "\n")
	name := strings.TrimPrefix(readLine(t, r), "* welcome to poolchat, ")
	if l := readLine(t, r); l != "* online now (1): "+name {
		t.Fatalf("after the crash %q, want only the newcomer online", l)
	}
	if l := readLine(t, r); !strings.HasSuffix(l, ": seen before the crash") {
		t.Fatalf("after the crash the history is %q", l)
	}
}

// readLine reads one line from the server, without its CRLF.
func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	l, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return strings.TrimSuffix(l, "\r\n")
}
