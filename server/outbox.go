package server

import (
	"sync"
)

// sink is the transport side of an outbox: it writes batches of encoded
// events to one connection and ends it.
type sink interface {
	// write sends the batch, in order, as few writes as it can.
	write(batch [][]byte) error
	// finish ends the connection after the last batch, telling the member
	// why when it can.
	finish(end ending)
	// hurry makes a pending or later write give up soon, for a member that
	// is being dropped for not reading.
	hurry()
	// abort closes the connection at once, after a failed write.
	abort()
}

// outbox is a member's bounded queue of encoded events. Whoever pushes never
// waits: when the member's backlog passes the limit, push reports it and the
// pool drops the member. A writer goroutine runs only while there is
// something to write, so an idle member holds no writer.
type outbox struct {
	via   Transport
	sink  sink
	limit int // bytes queued at most, beyond one event

	mu      sync.Mutex
	queue   [][]byte
	spare   [][]byte // the last written batch, kept for reuse
	queued  int      // bytes in queue
	writing bool     // a writer goroutine is running
	state   outboxState
	end     ending
	writer  sync.WaitGroup

	touched bool // queued to since the pool's last flush; pool goroutine only
}

type outboxState uint8

const (
	outboxOpen   outboxState = iota
	outboxEnding             // finish after the batch being written
	outboxDone               // finished or failed; pushes are ignored
)

// maxSpare is the largest batch slice an outbox keeps for reuse while
// busy, idleSlice the largest it keeps while idle.
const (
	maxSpare  = 256
	idleSlice = 8
)

func newOutbox(via Transport, s sink, limit int) *outbox {
	return &outbox{via: via, sink: s, limit: limit}
}

// push queues the event for the member, without waking its writer: the pool
// wakes each member once after a batch of work (flush). It returns false
// when the member is too far behind to take the event; the event is then
// not queued.
func (o *outbox) push(f frame) bool {
	b := f.tcp
	if o.via == ViaWeb {
		b = f.web
	}
	if len(b) == 0 {
		return true
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.state != outboxOpen {
		return true
	}
	if o.queued > 0 && o.queued+len(b) > o.limit {
		return false
	}
	o.queue = append(o.queue, b)
	o.queued += len(b)
	return true
}

// flush wakes the writer for what push queued.
func (o *outbox) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.queue) > 0 {
		o.wake()
	}
}

// send queues an event and wakes the writer, for callers outside the pool.
func (o *outbox) send(f frame) {
	o.push(f)
	o.flush()
}

// close ends the connection for the given reason, after the batch being
// written, if any. What is queued behind it is dropped: the member is
// leaving, and the last words (the shutdown notice, say) must not wait
// behind a backlog. Later pushes are ignored; only the first close counts.
func (o *outbox) close(end ending) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.state != outboxOpen {
		return
	}
	clear(o.queue)
	o.queue, o.queued = o.queue[:0], 0
	o.state = outboxEnding
	o.end = end
	o.wake()
}

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

// drain writes batches until the queue is empty, then finishes the
// connection if the outbox is ending.
func (o *outbox) drain() {
	defer o.writer.Done()
	var batch [][]byte
	for {
		o.mu.Lock()
		if batch != nil && cap(batch) <= maxSpare {
			o.spare = batch[:0]
		}
		batch = o.queue
		if len(batch) == 0 {
			o.writing = false
			// Going idle: keep only small slices, so a member that was
			// sent a burst does not hold its size while quiet.
			if cap(o.queue) > idleSlice {
				o.queue = nil
			}
			if cap(o.spare) > idleSlice {
				o.spare = nil
			}
			if o.state != outboxEnding {
				o.mu.Unlock()
				return
			}
			o.state = outboxDone
			end := o.end
			o.mu.Unlock()
			o.sink.finish(end)
			return
		}
		o.queue, o.spare, o.queued = o.spare, nil, 0
		o.mu.Unlock()

		err := o.sink.write(batch)
		clear(batch) // drop references to shared event bytes
		if err != nil {
			o.mu.Lock()
			o.state, o.queue, o.queued, o.writing = outboxDone, nil, 0, false
			o.mu.Unlock()
			o.sink.abort()
			return
		}
	}
}

// ending says why the server ends a connection: a last TCP line and a
// WebSocket close status with its reason.
type ending struct {
	line   string // without its line end; empty for none
	status int    // WebSocket close code
	reason string
}

// The ways the server ends a member's connection.
var (
	endGone     = ending{status: 1000}                                                                       // the member left or broke the connection
	endQuit     = ending{line: "* bye", status: 1000, reason: "bye"}                                         // \quit
	endShutdown = ending{line: "* server is shutting down", status: 1001, reason: "server is shutting down"} // graceful stop
	endSlow     = ending{line: "! disconnected: you were not reading fast enough", status: 1008, reason: "not reading fast enough"}
	endFull     = ending{line: "! server full", status: 1013, reason: "server full"}
)

// maxPacked is how many bytes of queued events a writer packs into one
// write (one frame on the WebSocket). A single larger event goes alone.
const maxPacked = 64 << 10

// packBuffers hold packed batches only while they are written, so idle
// members keep none.
var packBuffers = sync.Pool{New: func() any { return new([]byte) }}

// writePacked writes a whole batch with write, packed as pack does.
func writePacked(batch [][]byte, sep byte, write func([]byte) error) error {
	for len(batch) > 0 {
		packed, n, buf := pack(batch, sep)
		err := write(packed)
		if buf != nil {
			packBuffers.Put(buf)
		}
		if err != nil {
			return err
		}
		batch = batch[n:]
	}
	return nil
}

// pack copies the first events of batch into one buffer, separated by sep
// when it is not 0, up to maxPacked bytes. It returns the packed bytes,
// how many events they hold, and the pooled buffer to give back to
// packBuffers afterwards (nil when a lone event is returned as it is).
// Copying small events beats a writev, which the runtime answers by
// keeping an iovec array per socket.
func pack(batch [][]byte, sep byte) (packed []byte, n int, buf *[]byte) {
	extra := 0
	if sep != 0 {
		extra = 1
	}
	if len(batch) == 1 || len(batch[0])+extra+len(batch[1]) > maxPacked {
		return batch[0], 1, nil
	}
	buf = packBuffers.Get().(*[]byte)
	b := append((*buf)[:0], batch[0]...)
	for n = 1; n < len(batch) && len(b)+extra+len(batch[n]) <= maxPacked; n++ {
		if sep != 0 {
			b = append(b, sep)
		}
		b = append(b, batch[n]...)
	}
	*buf = b
	return b, n, buf
}
