package server

import (
	"net"
	"sync"
	"syscall"
	"time"
)

// framing is how a transport puts events on the wire.
type framing interface {
	// encode appends the first events of batch to buf as they go on the
	// wire, packed up to about maxPacked bytes, and reports how many it
	// took (at least one). A lone event larger than that is not copied:
	// encode appends what goes before it and returns it as tail, to be
	// written after buf.
	encode(buf []byte, batch [][]byte) (out, tail []byte, n int)
	// lastWords is what the connection sends before the server ends it
	// for the given reason; nil for nothing.
	lastWords(end ending) []byte
}

// outbox is a member's bounded queue of encoded events, and the only way
// bytes reach its connection. Its contract:
//
//  1. Whoever pushes never waits: when the member's backlog passes the
//     limit, push reports it and the pool drops the member.
//  2. Events leave in the order they were pushed; nothing pushed before
//     the outbox was closed is lost, unless the ending drops the backlog
//     (a member too slow to take it).
//  3. One writer at a time: queued events are written at the pool's flush,
//     straight to the socket as far as it takes them without waiting; only
//     what the socket does not take at once goes to a writer goroutine,
//     which runs while there is something left. An idle member holds none.
//  4. A newcomer's snapshot (who is online, history) does not count
//     against the limit while it waits: however large the room, it is
//     delivered, and only what comes after it can make the member too slow.
//  5. An ending sends the connection's last words after the backlog (or
//     instead of it), then half-closes.
type outbox struct {
	via      Transport
	wire     framing
	conn     net.Conn
	raw      *rawWriter // for writes that do not wait; nil where there are none
	deadline writeDeadline
	limit    int // bytes queued at most, beyond one event

	mu      sync.Mutex
	queue   [][]byte  // events waiting; nil while none do
	queueB  *[][]byte // the pooled holder queue came from; nil with it
	queued  int       // bytes in queue and unsent
	exempt  int       // bytes of queued that are a snapshot, not counted against limit
	unsent  []byte    // encoded bytes a flush could not write, to go first
	unsentB *[]byte   // the pooled buffer unsent lies in
	writing bool      // a writer goroutine is running
	state   outboxState
	end     ending
	writer  sync.WaitGroup

	touched bool // queued to since the pool's last flush; pool goroutine only
}

type outboxState uint8

const (
	outboxOpen   outboxState = iota
	outboxEnding             // finish after what is being written
	outboxDone               // finished or failed; pushes are ignored
)

// queues hold a member's waiting events only while they wait, as
// packBuffers hold them encoded only while they are written: a member
// between flushes keeps no queue, and a busy room does not grow a new one
// for every member at every flush (which was most of what the server
// allocated at 400k deliveries a second).
var queues = sync.Pool{New: func() any { return new([][]byte) }}

// maxQueue is the largest queue given back to the pool; a larger one (a
// member far behind) is left to the collector. Every member busy in a
// flush holds one, so a pool of large ones would keep a burst's size for
// every member.
const maxQueue = 16

// releaseQueue gives o's queue back to the pool, emptied, and leaves o
// without one. o.mu is held.
func (o *outbox) releaseQueue() {
	if o.queueB != nil {
		putQueue(o.queueB, o.queue)
	}
	o.queue, o.queueB = nil, nil
}

// putQueue gives a queue back to holder and holder to the pool, dropping
// the queue's references to events.
func putQueue(holder *[][]byte, q [][]byte) {
	clear(q)
	if cap(q) > maxQueue {
		q = nil
	}
	*holder = q[:0]
	queues.Put(holder)
}

func newOutbox(via Transport, conn net.Conn, limit int) *outbox {
	o := &outbox{via: via, wire: tcpFraming{}, conn: conn, raw: newRawWriter(conn), deadline: writeDeadline{conn: conn}, limit: limit}
	if via == ViaWeb {
		o.wire = wsFraming{}
	}
	return o
}

// push queues the event for the member, without writing it: the pool
// flushes each member once after a batch of work. It returns false when
// the member is too far behind to take the event; the event is then not
// queued.
func (o *outbox) push(f frame) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pushLocked(f, false)
}

// pushRun queues an event the pool copied into its broadcast runs: when
// it follows the last one queued in the same run, the two become one item.
func (o *outbox) pushRun(f frame) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	b, sep := o.bytesOf(f), 0
	if o.via == ViaWeb {
		sep = 1
	}
	if n := len(o.queue); n > 0 && len(b) > 0 && o.state == outboxOpen {
		last := o.queue[n-1]
		if joined := len(last) + sep + len(b); joined <= cap(last) && joined <= maxPacked && &last[:joined][joined-len(b)] == &b[0] {
			if o.over(sep + len(b)) {
				return false
			}
			o.queue[n-1] = last[:joined]
			o.queued += sep + len(b)
			return true
		}
	}
	return o.pushLocked(f, false)
}

// broadcastRun is where the pool copies what it broadcasts on one
// transport, event after event (with sep between them, if not 0), so that
// a member who gets several in a row between two flushes queues one item
// instead of one each (pushRun): in a storm of joins, every member gets
// hundreds. What it has handed out is never written again: a full run is
// replaced, not reused, and a member's item only grows over bytes already
// written.
type broadcastRun struct {
	buf []byte
	sep byte
}

// broadcastRuns are the pool's, one for each transport.
type broadcastRuns struct{ tcp, web broadcastRun }

// runSize is the capacity of a run; an event larger than a quarter of it
// is not copied.
const runSize = maxPacked

// add returns ev copied into the run, or ev itself when it is empty or
// large.
func (r *broadcastRun) add(ev []byte) []byte {
	if len(ev) == 0 || len(ev) > runSize/4 {
		return ev
	}
	sep := 0
	if len(r.buf) > 0 && r.sep != 0 {
		sep = 1
	}
	if len(r.buf)+sep+len(ev) > cap(r.buf) {
		r.buf, sep = make([]byte, 0, runSize), 0
	}
	if sep > 0 {
		r.buf = append(r.buf, r.sep)
	}
	start := len(r.buf)
	r.buf = append(r.buf, ev...)
	return r.buf[start:]
}

// pushSnapshot queues a newcomer's snapshot, or a roster it asked for,
// beyond the limit (contract 4). Only one snapshot waits at a time: a
// member that asks for another before taking the last is held to the limit.
func (o *outbox) pushSnapshot(frames ...frame) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	exempt := o.exempt == 0
	for _, f := range frames {
		if !o.pushLocked(f, exempt) {
			return false
		}
	}
	return true
}

// pushLocked queues f's bytes for this transport, counting them against
// the limit unless exempt. o.mu is held.
func (o *outbox) pushLocked(f frame, exempt bool) bool {
	b := o.bytesOf(f)
	if len(b) == 0 || o.state != outboxOpen {
		return true
	}
	if !exempt && o.over(len(b)) {
		return false
	}
	if o.queueB == nil {
		o.queueB = queues.Get().(*[][]byte)
		o.queue = *o.queueB
	}
	o.queue = append(o.queue, b)
	o.queued += len(b)
	if exempt {
		o.exempt += len(b)
	}
	return true
}

// bytesOf is f as this outbox's transport sends it.
func (o *outbox) bytesOf(f frame) []byte {
	if o.via == ViaWeb {
		return f.web
	}
	return f.tcp
}

// over reports whether n more bytes would put the member past its limit;
// one event is always taken beyond what is counted. o.mu is held.
func (o *outbox) over(n int) bool {
	counted := o.queued - o.exempt
	return counted > 0 && counted+n > o.limit
}

// flush writes what push queued: at once, as far as the socket takes it,
// and the rest through the writer.
func (o *outbox) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.queue) == 0 || o.writing || o.state == outboxDone {
		return
	}
	if o.state == outboxOpen && o.raw != nil && o.writeNow() {
		return
	}
	o.wake()
}

// writeNow writes the queue to the socket without waiting, and reports
// whether all of it went. What the socket did not take stays queued, or in
// unsent when an encoded chunk went in part. A broken connection is left
// to the writer to find. o.mu is held.
func (o *outbox) writeNow() bool {
	q := o.queue
	for len(q) > 0 {
		buf := packBuffers.Get().(*[]byte)
		b, tail, n := o.wire.encode((*buf)[:0], q)
		*buf = b
		written := 0
		if tail == nil { // a large event is the writer's, uncopied
			written = o.raw.try(b)
		}
		if written == 0 {
			putPackBuffer(buf) // nothing went (or the connection broke): the writer starts from the queue
			break
		}
		for _, e := range q[:n] {
			o.queued -= len(e)
		}
		q = q[n:]
		if written < len(b) {
			o.unsent, o.unsentB = b[written:], buf
			o.queued += len(o.unsent)
			break
		}
		putPackBuffer(buf)
	}
	o.exempt = min(o.exempt, o.queued)
	kept := copy(o.queue, q)
	clear(o.queue[kept:])
	o.queue = o.queue[:kept]
	if kept == 0 {
		o.releaseQueue()
	}
	return kept == 0 && o.unsent == nil
}

// send queues an event and flushes it, for callers outside the pool.
func (o *outbox) send(f frame) {
	o.push(f)
	o.flush()
}

// close ends the connection for the given reason: after what is queued,
// or, when the ending drops the backlog, after what is being written only.
// Later pushes are ignored; only the first close counts.
func (o *outbox) close(end ending) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.state != outboxOpen {
		return
	}
	if end.drop {
		clear(o.queue)
		o.queue, o.queued, o.exempt = o.queue[:0], len(o.unsent), 0
	}
	o.state = outboxEnding
	o.end = end
	o.wake()
}

// hurry makes a pending or later write give up soon, for a member that is
// being dropped for not reading.
func (o *outbox) hurry() { o.deadline.hurry() }

// wait returns when no writer goroutine is running, and none will start.
func (o *outbox) wait() {
	o.mu.Lock()
	if o.state == outboxOpen {
		o.state = outboxDone
	}
	o.mu.Unlock()
	o.writer.Wait()
}

// wake starts the writer if it is not running. o.mu is held.
func (o *outbox) wake() {
	if o.writing {
		return
	}
	o.writing = true
	o.writer.Add(1)
	go o.drain()
}

// drain writes until nothing is left, then finishes the connection if the
// outbox is ending.
func (o *outbox) drain() {
	defer o.writer.Done()
	for {
		o.mu.Lock()
		batch, holder := o.queue, o.queueB
		unsent, unsentB := o.unsent, o.unsentB
		if len(batch) == 0 && unsent == nil {
			o.releaseQueue()
			o.deadline.rest() // before another writer can start and set one
			o.writing = false
			if o.state != outboxEnding {
				o.mu.Unlock()
				return
			}
			o.state = outboxDone
			end := o.end
			o.mu.Unlock()
			o.finish(end)
			return
		}
		o.queue, o.queueB, o.queued, o.exempt = nil, nil, 0, 0
		o.unsent, o.unsentB = nil, nil
		o.mu.Unlock()

		var err error
		if unsent != nil {
			err = o.writeAll(unsent)
			putPackBuffer(unsentB)
		}
		if err == nil && len(batch) > 0 {
			err = o.writeBatch(batch)
		}
		if holder != nil {
			putQueue(holder, batch)
		}
		if err != nil {
			o.mu.Lock()
			o.releaseQueue()
			o.state, o.queued, o.exempt, o.writing = outboxDone, 0, 0, false
			o.mu.Unlock()
			o.conn.Close()
			return
		}
	}
}

// writeBatch encodes and writes a batch, waiting for the socket.
func (o *outbox) writeBatch(batch [][]byte) error {
	buf := packBuffers.Get().(*[]byte)
	defer putPackBuffer(buf)
	for len(batch) > 0 {
		b, tail, n := o.wire.encode((*buf)[:0], batch)
		*buf = b
		if err := o.writeAll(b); err != nil {
			return err
		}
		if tail != nil {
			if err := o.writeAll(tail); err != nil {
				return err
			}
		}
		batch = batch[n:]
	}
	return nil
}

// writeAll writes b, waiting for the socket up to the write timeout.
func (o *outbox) writeAll(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	o.deadline.refresh()
	_, err := o.conn.Write(b)
	return err
}

// finish sends the last words, if any, and half-closes the connection;
// the member's reader then sees the client close, or resets the connection
// after lingerAfter.
func (o *outbox) finish(end ending) {
	last := o.wire.lastWords(end)
	if last == nil {
		return
	}
	if o.writeAll(last) != nil {
		o.conn.Close()
		return
	}
	closeWrite(o.conn)
	o.conn.SetReadDeadline(time.Now().Add(lingerAfter))
}

// ending says why a member's connection ends: a last TCP line and a
// WebSocket close status with its reason, and whether what is still queued
// for the member goes out first or is dropped.
type ending struct {
	line   string // without its line end; empty for none
	status int    // WebSocket close code; 0 for no close frame
	reason string
	drop   bool // drop the backlog: the member cannot or will not take it
}

// The ways a member's connection ends.
var (
	endGone     = ending{}                                                                      // the client closed or broke the connection: finish what is queued, nothing to say
	endQuit     = ending{line: "* bye", status: 1000, reason: "bye"}                            // \quit
	endShutdown = ending{line: "* server is shutting down", status: 1012, reason: "restarting"} // graceful stop: pages resume when it is back
	endSlow     = ending{line: "! disconnected: you were not reading fast enough", status: 1008, reason: "not reading fast enough", drop: true}
	endFull     = ending{line: "! server full", status: 1013, reason: "server full"}
	endReplaced = ending{status: 4001, reason: "replaced", drop: true} // the member resumed on another connection
	endLost     = ending{line: "* lost the room; reconnect to another server", status: 1012, reason: "lost the room", drop: true}
)

// maxPacked is how many bytes of queued events are packed into one write
// (one frame on the WebSocket). A single larger event goes alone.
const maxPacked = 64 << 10

// packBuffers hold encoded events only while they are written, so idle
// members keep none.
var packBuffers = sync.Pool{New: func() any { return new([]byte) }}

// putPackBuffer gives a buffer back, unless one large event made it too
// big to keep.
func putPackBuffer(buf *[]byte) {
	if cap(*buf) <= 2*maxPacked {
		packBuffers.Put(buf)
	}
}

// rawWriter writes to a socket without waiting for it (writeSome), through
// one function made with the connection: RawConn.Write takes a function,
// and one made at each write, to close over what it writes, was a heap
// allocation at each write.
type rawWriter struct {
	rc    syscall.RawConn
	b     []byte // being written
	n     int    // of b written
	write func(fd uintptr) bool
}

// newRawWriter returns the writer of c's socket; nil where there are no
// writes that do not wait.
func newRawWriter(c net.Conn) *rawWriter {
	rc := rawConnOf(c)
	if rc == nil {
		return nil
	}
	w := &rawWriter{rc: rc}
	w.write = func(fd uintptr) bool {
		w.n = writeSome(fd, w.b)
		return true // never wait for the socket
	}
	return w
}

// try writes as much of b as the socket takes without waiting, and returns
// how much that was. One caller at a time (o.mu).
func (w *rawWriter) try(b []byte) int {
	w.b, w.n = b, 0
	w.rc.Write(w.write)
	w.b = nil
	return w.n
}

// packed reports how many of the first events of batch go in one write:
// at least one, and more while they fit in maxPacked bytes with sep bytes
// between them.
func packed(batch [][]byte, sep int) (n, size int) {
	n, size = 1, len(batch[0])
	for n < len(batch) && size+sep+len(batch[n]) <= maxPacked {
		size += sep + len(batch[n])
		n++
	}
	return n, size
}
