package roomlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultRoom is the room a Config without one opens.
const DefaultRoom = "pool"

// epochKey is the stream metadata key that holds the log's epoch.
const epochKey = "poolchat_epoch"

// requestTimeout bounds a request to the embedded server made without a
// caller's context (opening the stream).
const requestTimeout = 10 * time.Second

// ErrClosed is returned by the methods of a Log after Close.
var ErrClosed = errors.New("roomlog: log closed")

// Config says where and how Open keeps the log. The zero value is not
// usable: set Dir, or Ephemeral.
type Config struct {
	// Dir is where the embedded server keeps its files. It is created with
	// mode 0700 if missing. Only one Log at a time may have it open.
	Dir string

	// Ephemeral keeps the log in memory only: no entry, no stream and no
	// lock is written anywhere on disk, and Dir is ignored. See the package
	// comment for the one empty directory JetStream insists on.
	Ephemeral bool

	// SyncAlways makes every Append reach the disk (fsync) before it is
	// acknowledged, so that a power loss cannot lose an acknowledged entry.
	// Without it an acknowledged entry survives a crash of the process but
	// not of the machine; see the package comment. Ignored when Ephemeral.
	SyncAlways bool

	// URLs, comma-separated, are an outside NATS cluster with JetStream to
	// keep the log in instead of the embedded server; Dir, Ephemeral and
	// SyncAlways are then the cluster's business and ignored here.
	URLs string

	// Replicas is how many servers of the cluster keep each entry: 1 (the
	// default) for a single server; 3 on a cluster of three or more, so
	// that the room survives a server's death.
	Replicas int

	// ClusterListen (host:port), if set, makes the embedded server listen
	// there for routes from the embedded servers of the room's other
	// nodes, and route to ClusterPeers, theirs: together they are one NATS
	// cluster, with JetStream clustered, keeping the log in Replicas
	// copies under each one's Dir. Node names this server in the cluster;
	// it must be unique there and the same at every start. The routes are
	// neither authenticated nor encrypted: listen on a private network.
	// Open waits up to ClusterWait for the cluster to form. Not with
	// Ephemeral (JetStream keeps a clustered server's state on disk);
	// ignored with URLs.
	ClusterListen string
	ClusterPeers  []string
	Node          string

	// OnConnection, if set, is called (on a goroutine of the NATS client)
	// each time the connection to NATS is lost (false) or back (true).
	OnConnection func(up bool)

	// Room is the room's name; DefaultRoom when empty. It names the stream
	// and its subjects, so it is limited to lower-case ASCII letters,
	// digits, '-' and '_', at most 64 of them.
	Room string

	// Logger receives the embedded server's own log lines at Debug level.
	// Nil drops them.
	Logger *slog.Logger
}

// Log is one room's ordered, durable log: a JetStream stream on an
// embedded NATS server that only this process can reach, on embedded
// servers routed together, or on an outside cluster. Its methods are safe
// for concurrent use.
type Log struct {
	srv    *natsserver.Server
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	lock   *dirLock // nil when Ephemeral

	name    string // the stream's name
	prefix  string // subject prefix, with its trailing dot
	signals string // the subject of signals, outside the stream
	epoch   string

	nodes     jetstream.KeyValue // the nodes alive, each key expiring NodeTTL after it was last put
	nodesLog  jetstream.Stream   // the bucket's stream, to ask its leader which keys it holds
	embedded  bool               // on the server in this process, not an outside cluster
	clustered bool               // the embedded server is routed into a cluster
	up        atomic.Bool        // the connection to NATS is up (clustered: routed to a majority)

	stopWatch chan struct{} // closed by Close: the route watcher ends (nil: none)
	watchDone chan struct{} // closed when it has

	mu        sync.Mutex
	closed    bool
	ops       sync.WaitGroup // calls in flight: every method but Epoch and Close
	followers map[*Follower]struct{}

	closeOnce sync.Once
	closeErr  error
}

// Open starts the embedded server, takes Dir's lock, and opens the room's
// stream, creating it (with a new epoch) if Dir does not hold it yet. A Dir
// that another Log holds, in this process or another, is refused at once
// with an error that wraps ErrDirInUse. With Config.ClusterListen it waits
// up to ClusterWait for the cluster to form; with Config.URLs it only
// connects.
func Open(cfg Config) (_ *Log, err error) {
	room := cfg.Room
	if room == "" {
		room = DefaultRoom
	}
	if err := CheckRoom(room); err != nil {
		return nil, fmt.Errorf("roomlog: %w", err)
	}
	l := &Log{
		name:      "POOLCHAT_" + room,
		prefix:    "poolchat." + room + ".",
		signals:   "poolchat_signal." + room,
		followers: make(map[*Follower]struct{}),
	}
	defer func() {
		if err != nil {
			l.mu.Lock()
			l.closed = true // the connection's end is not news to anyone
			l.mu.Unlock()
			l.shutdown()
		}
	}()

	if cfg.URLs != "" {
		return l, l.connect(cfg, room, cfg.URLs)
	}
	opts := serverOptions()
	var token string
	if cfg.ClusterListen != "" {
		if cfg.Ephemeral {
			return nil, errors.New("roomlog: an ephemeral log cannot be clustered: JetStream keeps a clustered server's state on disk")
		}
		if token, err = clusterOptions(opts, cfg, room); err != nil {
			return nil, fmt.Errorf("roomlog: %w", err)
		}
		l.clustered = true
	}
	var storeDir string
	if cfg.Ephemeral {
		if storeDir, err = ephemeralStoreDir(); err != nil {
			return nil, fmt.Errorf("roomlog: %w", err)
		}
	} else {
		if cfg.Dir == "" {
			return nil, errors.New("roomlog: no directory (set Config.Dir or Config.Ephemeral)")
		}
		if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("roomlog: %w", err)
		}
		if l.lock, err = lockDir(cfg.Dir); err != nil {
			return nil, fmt.Errorf("roomlog: %w", err)
		}
		storeDir = cfg.Dir
	}

	opts.StoreDir = storeDir
	opts.SyncAlways = cfg.SyncAlways && !cfg.Ephemeral
	l.srv, err = startServer(opts, cfg.Logger)
	if cfg.Ephemeral {
		// JetStream is up; nothing it does with memory streams touches the
		// directory again.
		if rerr := os.RemoveAll(storeDir); rerr != nil && err == nil {
			err = fmt.Errorf("roomlog: remove ephemeral store dir: %w", rerr)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("roomlog: %w", err)
	}

	if cfg.Ephemeral {
		cfg.Replicas = 1
	}
	connOpts := []nats.Option{nats.InProcessServer(l.srv)}
	if token != "" {
		connOpts = append(connOpts, nats.Token(token))
	}
	if err := l.connect(cfg, room, "", connOpts...); err != nil {
		return nil, err
	}
	if l.clustered {
		l.stopWatch, l.watchDone = make(chan struct{}), make(chan struct{})
		go l.watchRoutes(cfg, max(cfg.Replicas, 1), l.stopWatch, l.watchDone)
	}
	return l, nil
}

// connect reaches the server (the embedded one through an in-process
// connection, or an outside cluster at urls) and opens the room's stream
// and its bucket of live nodes.
func (l *Log) connect(cfg Config, room, urls string, opts ...nats.Option) (err error) {
	l.embedded = urls == ""
	opts = append(opts,
		nats.Name("poolchat-roomlog"),
		nats.MaxReconnects(-1), // never give up: the room waits for NATS to come back
		nats.ReconnectWait(250*time.Millisecond),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { l.connectionChanged(cfg, false) }),
		nats.ReconnectHandler(func(*nats.Conn) { l.connectionChanged(cfg, true) }),
	)
	if l.nc, err = nats.Connect(urls, opts...); err != nil {
		return fmt.Errorf("roomlog: connect to nats: %w", err)
	}
	l.up.Store(true)
	// An append whose answer never comes (its server died) is given up
	// by its caller; the client forgets it after requestTimeout.
	if l.js, err = jetstream.New(l.nc, jetstream.WithPublishAsyncTimeout(requestTimeout)); err != nil {
		return fmt.Errorf("roomlog: %w", err)
	}
	storage := jetstream.FileStorage
	if cfg.Ephemeral && l.embedded {
		storage = jetstream.MemoryStorage
	}
	replicas := max(cfg.Replicas, 1)
	wait := requestTimeout
	if l.clustered {
		wait = ClusterWait
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	streamCfg := jetstream.StreamConfig{
		Name:        l.name,
		Description: "poolchat room " + room,
		Subjects:    []string{l.prefix + ">"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     storage,
		Replicas:    replicas,
		Discard:     jetstream.DiscardOld,
		Duplicates:  2 * time.Minute,
	}
	if err := l.try(ctx, "stream "+l.name, func(ctx context.Context) (err error) {
		l.stream, l.epoch, err = openStream(ctx, l.js, streamCfg)
		return err
	}); err != nil {
		return fmt.Errorf("roomlog: %w", err)
	}
	bucketCfg := jetstream.KeyValueConfig{
		Bucket:      l.name + "_nodes",
		Description: "poolchat nodes alive in room " + room,
		TTL:         NodeTTL,
		Storage:     storage,
		Replicas:    replicas,
	}
	if err := l.try(ctx, "bucket of nodes", func(ctx context.Context) (err error) {
		if l.nodes, err = l.js.CreateOrUpdateKeyValue(ctx, bucketCfg); err != nil {
			return err
		}
		l.nodesLog, err = l.js.Stream(ctx, "KV_"+bucketCfg.Bucket)
		return err
	}); err != nil {
		return fmt.Errorf("roomlog: %w", err)
	}
	return nil
}

// try calls f once, or, while an embedded cluster forms, until it
// succeeds (untilFormed).
func (l *Log) try(ctx context.Context, what string, f func(context.Context) error) error {
	if l.clustered {
		return l.untilFormed(ctx, what, f)
	}
	if err := f(ctx); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// connectionChanged records and reports a lost or regained connection,
// unless the log is closing, which closes the connection itself.
func (l *Log) connectionChanged(cfg Config, up bool) {
	l.up.Store(up)
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if cfg.OnConnection != nil && !closed {
		cfg.OnConnection(up)
	}
}

// Connected reports whether the log's connection to NATS is up now.
func (l *Log) Connected() bool { return l.up.Load() }

// Embedded reports whether the log is on the embedded server alone: a
// server in this process that no other process reaches, so the room is
// this process's only. An embedded server routed into a cluster
// (Config.ClusterListen) is one server of a cluster like an outside one:
// Embedded is false, and Connected says whether it is routed to a
// majority of the cluster's servers.
func (l *Log) Embedded() bool { return l.embedded && !l.clustered }

// Signal sends data to every node of the room now, beside the log: it is
// not stored and not numbered, and a node that is not listening (or not
// connected) never gets it. For news that is stale in seconds, such as
// who is typing.
func (l *Log) Signal(data []byte) error {
	if err := l.begin(); err != nil {
		return err
	}
	defer l.ops.Done()
	return l.nc.Publish(l.signals, data)
}

// OnSignal calls handle with every signal of the room, this node's own
// included, on a goroutine of the NATS client, until stop is called.
func (l *Log) OnSignal(handle func(data []byte)) (stop func(), err error) {
	if err := l.begin(); err != nil {
		return nil, err
	}
	defer l.ops.Done()
	sub, err := l.nc.Subscribe(l.signals, func(m *nats.Msg) { handle(m.Data) })
	if err != nil {
		return nil, fmt.Errorf("roomlog: signals: %w", err)
	}
	return func() { sub.Unsubscribe() }, nil
}

// NodeTTL is how long a node counts as alive after it last said so
// (Alive): a node that stops saying so is dead that long after.
const NodeTTL = 3 * time.Second

// Alive records that the node of this name is alive, for NodeTTL.
func (l *Log) Alive(ctx context.Context, node string) error {
	if err := l.begin(); err != nil {
		return err
	}
	defer l.ops.Done()
	err := retry(ctx, unanswered, func(ctx context.Context) error {
		_, err := l.nodes.PutString(ctx, node, time.Now().UTC().Format(time.RFC3339))
		return err
	})
	if err != nil {
		return fmt.Errorf("roomlog: node %s alive: %w", node, err)
	}
	return nil
}

// Nodes returns the names of the nodes alive now. It asks the bucket's
// leader, not a replica that may lag behind: a node missing from the
// answer is taken for dead.
func (l *Log) Nodes(ctx context.Context) (map[string]bool, error) {
	if err := l.begin(); err != nil {
		return nil, err
	}
	defer l.ops.Done()
	prefix := "$KV." + l.nodes.Bucket() + "."
	var info *jetstream.StreamInfo
	err := retry(ctx, unanswered, func(ctx context.Context) (err error) {
		info, err = l.nodesLog.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("roomlog: nodes: %w", err)
	}
	alive := make(map[string]bool, len(info.State.Subjects))
	for subject := range info.State.Subjects {
		alive[strings.TrimPrefix(subject, prefix)] = true
	}
	return alive, nil
}

// retry calls try until it succeeds, fails for a reason again does not
// tell it to try again, or ctx ends, and returns its last error. Each try
// waits firstAttempt for an answer, each next one twice as long, up to
// lastAttempt, with clusterRetry between them.
func retry(ctx context.Context, again func(error) bool, try func(context.Context) error) error {
	for attempt := firstAttempt; ; attempt = min(2*attempt, lastAttempt) {
		actx, cancel := context.WithTimeout(ctx, attempt)
		err := try(actx)
		cancel()
		if err == nil || !again(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(clusterRetry):
		}
	}
}

// unanswered says whether err is a request that got no answer: sent while
// its stream had no leader (a cluster forming, or electing a new one after
// losing a server), it may be dropped or refused for want of responders,
// and the same request sent again reaches the new leader.
func unanswered(err error) bool {
	return notSent(err) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, jetstream.ErrAsyncPublishTimeout)
}

// openStream returns the stream cfg names and its epoch, creating the
// stream with a new epoch if it does not exist.
func openStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, string, error) {
	for {
		s, err := js.Stream(ctx, cfg.Name)
		if err == nil {
			info := s.CachedInfo()
			if epoch := info.Config.Metadata[epochKey]; epoch != "" {
				return s, epoch, nil
			}
			// A stream someone else made: give it an epoch of its own.
			ncfg := info.Config
			ncfg.Metadata = mergeMeta(ncfg.Metadata, epochKey, uuid.NewString())
			if s, err = js.UpdateStream(ctx, ncfg); err != nil {
				return nil, "", err
			}
			return s, s.CachedInfo().Config.Metadata[epochKey], nil
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, "", err
		}
		cfg.Metadata = mergeMeta(cfg.Metadata, epochKey, uuid.NewString())
		s, err = js.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			continue // made by someone else since we looked: use theirs
		}
		if err != nil {
			return nil, "", err
		}
		return s, cfg.Metadata[epochKey], nil
	}
}

func mergeMeta(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for mk, mv := range m {
		out[mk] = mv
	}
	out[k] = v
	return out
}

// Epoch names this log. It is the same for as long as the stream exists,
// across restarts on the same Dir, and different for every new stream: a
// new or emptied-out Dir, and every Open of an ephemeral log. Sequences are
// comparable only between positions of the same epoch.
func (l *Log) Epoch() string { return l.epoch }

// LastSeq returns the sequence of the last entry ever appended, or 0 if
// none ever was. Entries removed by Trim or Forget still count: LastSeq
// never goes down, and the next Append gets a larger sequence.
func (l *Log) LastSeq(ctx context.Context) (uint64, error) {
	if err := l.begin(); err != nil {
		return 0, err
	}
	defer l.ops.Done()
	var info *jetstream.StreamInfo
	err := retry(ctx, unanswered, func(ctx context.Context) (err error) {
		info, err = l.stream.Info(ctx)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("roomlog: last seq: %w", err)
	}
	return info.State.LastSeq, nil
}

// Append stores data as one entry under subject, which is relative to the
// room ("msg", "member.user_123": dot-separated tokens, no wildcards), and
// returns its sequence once the entry is stored: in the file store it has
// been written to the operating system (and synced, with
// Config.SyncAlways); only then can a follower see it.
//
// msgID makes Append idempotent: a second Append with the same msgID within
// the duplicate window (two minutes), including one after a restart, stores
// nothing and returns the sequence of the first. An empty msgID turns this
// off for the entry.
//
// An Append that returns an error may still have stored its entry (the
// acknowledgement was lost, or ctx ended while waiting for it): retry with
// the same msgID to learn its sequence without storing it twice. Append
// itself tries again, while ctx allows, when the stream has no leader to
// answer (a cluster electing one), and, for an entry with a msgID, when an
// answer does not come or the first try is still being stored.
func (l *Log) Append(ctx context.Context, subject, msgID string, data []byte) (uint64, error) {
	if err := checkSubject(subject, false); err != nil {
		return 0, err
	}
	if err := l.begin(); err != nil {
		return 0, err
	}
	defer l.ops.Done()
	opts := []jetstream.PublishOpt{jetstream.WithExpectStream(l.name)}
	again := notSent // nothing was stored: safe to send again
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
		again = func(err error) bool { return unanswered(err) || storing(err) }
	}
	var seq uint64
	err := retry(ctx, again, func(ctx context.Context) error {
		// Asynchronously: the acknowledgement comes to one handler for
		// all of them, rather than to a reply subscription each, which a
		// storm of joins pays for in garbage (NOTES.md, issue 12).
		f, err := l.js.PublishAsync(l.prefix+subject, data, opts...)
		if err != nil {
			return err
		}
		select {
		case ack := <-f.Ok():
			seq = ack.Sequence
			return nil
		case err := <-f.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	if err != nil {
		return 0, fmt.Errorf("roomlog: append to %s: %w", subject, err)
	}
	return seq, nil
}

// notSent says whether err is a request that was not sent, or that no
// server took up (the stream has no leader now): nothing was stored.
func notSent(err error) bool {
	return errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrTooManyStalledMsgs)
}

// storing says whether err is JetStream's answer to an entry whose msgID
// an earlier try holds and is still storing: the next try learns its seq.
func storing(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == duplicateInProcess
}

// duplicateInProcess is JetStream's error code for a msgID whose first
// entry is still being stored (JSStreamDuplicateMessageConflict).
const duplicateInProcess jetstream.ErrorCode = 10158

// Trim removes the entries whose subject matches subject (wildcards
// allowed: "msg.>") except the last keep of them, counted across all the
// matching subjects. Sequences are not reused.
func (l *Log) Trim(ctx context.Context, subject string, keep int) error {
	if keep < 0 {
		return fmt.Errorf("roomlog: trim %s: negative keep %d", subject, keep)
	}
	return l.purge(ctx, subject, uint64(keep))
}

// Forget removes every entry whose subject matches subject, for example
// "member.user_123" once that member has left. Sequences are not reused.
func (l *Log) Forget(ctx context.Context, subject string) error {
	return l.purge(ctx, subject, 0)
}

func (l *Log) purge(ctx context.Context, subject string, keep uint64) error {
	if err := checkSubject(subject, true); err != nil {
		return err
	}
	if err := l.begin(); err != nil {
		return err
	}
	defer l.ops.Done()
	opts := []jetstream.StreamPurgeOpt{jetstream.WithPurgeSubject(l.prefix + subject)}
	if keep > 0 {
		opts = append(opts, jetstream.WithPurgeKeep(keep))
	}
	if err := l.stream.Purge(ctx, opts...); err != nil {
		return fmt.Errorf("roomlog: purge %s: %w", subject, err)
	}
	return nil
}

// begin counts one operation in, or refuses it once Close has begun.
func (l *Log) begin() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.ops.Add(1)
	return nil
}

// Close stops every follower (each stop returns only after its last
// handle call), waits for the operations in flight to finish, and shuts the
// embedded server down, which writes out the file store's state; it
// returns once the server's goroutines are gone and Dir's lock is released.
// Calling Close again returns the first call's result.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		followers := make([]*Follower, 0, len(l.followers))
		for f := range l.followers {
			followers = append(followers, f)
		}
		l.mu.Unlock()
		for _, f := range followers {
			f.Stop()
		}
		l.ops.Wait()
		l.closeErr = l.shutdown()
	})
	return l.closeErr
}

// shutdown releases whatever Open acquired, in reverse order.
func (l *Log) shutdown() error {
	if l.stopWatch != nil {
		close(l.stopWatch)
		<-l.watchDone
	}
	if l.nc != nil {
		l.nc.Close()
	}
	if l.srv != nil {
		shutdown(l.srv)
	}
	if l.lock != nil {
		if err := l.lock.release(); err != nil {
			return fmt.Errorf("roomlog: release lock: %w", err)
		}
	}
	return nil
}

// CheckRoom reports what is wrong with a room's name (Config.Room), if
// anything: it names a stream and a single subject token, so it is limited
// to lower-case ASCII letters, digits, '-' and '_', at most 64 of them,
// which no case-insensitive file system confuses either.
func CheckRoom(room string) error {
	if len(room) > 64 {
		return fmt.Errorf("room name %q: longer than 64 characters", room)
	}
	for _, r := range room {
		if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("room name %q: only lower-case letters, digits, '-' and '_' are allowed", room)
		}
	}
	return nil
}

// checkSubject accepts dot-separated, non-empty tokens without spaces or
// control characters; wildcards ("*" as a token, ">" as the last) only when
// filter is set.
func checkSubject(subject string, filter bool) error {
	if subject == "" {
		return errors.New("roomlog: empty subject")
	}
	tokens := strings.Split(subject, ".")
	for i, t := range tokens {
		switch {
		case t == "":
			return fmt.Errorf("roomlog: subject %q: empty token", subject)
		case strings.ContainsFunc(t, func(r rune) bool { return r <= ' ' || r == 0x7f }):
			return fmt.Errorf("roomlog: subject %q: space or control character", subject)
		case t == "*" || t == ">" && i == len(tokens)-1:
			if !filter {
				return fmt.Errorf("roomlog: subject %q: wildcards are for filters", subject)
			}
		case strings.ContainsAny(t, "*>"):
			return fmt.Errorf("roomlog: subject %q: misplaced wildcard", subject)
		}
	}
	return nil
}
