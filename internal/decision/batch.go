package decision

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Defaults of NewBatchedJSONLines.
const (
	// DefaultBatchInterval is how long the first event of a batch may wait before it is written.
	DefaultBatchInterval = 20 * time.Millisecond
	// DefaultBatchSize is how many queued events trigger a write before the interval ends.
	DefaultBatchSize = 256
	// maxQueued is how many events may wait before Record blocks until they are written: a stuck writer
	// (a full pipe on stdout) slows requests down instead of growing memory without bound.
	maxQueued = 16 * DefaultBatchSize
	// maxSpare bounds the encoding buffer kept between writes, so one burst does not pin a large buffer.
	maxSpare = 1 << 20
)

// BatchedJSONLines writes events as JSON lines from a goroutine of its own, so that neither encoding an event
// nor the write system call sits on a request's path, and one write carries every event of up to
// DefaultBatchInterval. At 2,000 requests per second, encoding plus a write per event in the request's
// goroutine was about 8% of the router's CPU and all of it added latency.
//
// Record only queues the event; Flush writes everything queued so far, and Close writes the rest and stops
// the goroutine. Events are written in the order they were recorded. When the writer falls more than
// maxQueued events behind, Record waits for it: events are never dropped.
type BatchedJSONLines struct {
	w        io.Writer
	interval time.Duration
	size     int

	mu      sync.Mutex
	drained *sync.Cond // broadcast after every write, for Record's back-pressure and Flush
	queue   []*Event
	spare   []*Event
	wrote   uint64 // events handed to w (or dropped by an encode error) so far
	queued  uint64 // events recorded so far
	closed  bool
	err     error
	waits   uint64        // Record calls that waited for room (back-pressure reached a request)
	writeNS time.Duration // time spent in w.Write
	slowest time.Duration // the longest single w.Write

	wake    chan struct{} // the first event of a batch, or a full batch
	flush   chan struct{} // Flush: write now, without waiting for the interval
	stop    chan struct{}
	done    chan struct{}
	writeMu sync.Mutex // serialises write: the goroutine, then Record calls after Close
	buf     []byte     // guarded by writeMu
}

// NewBatchedJSONLines starts the writing goroutine. interval <= 0 means DefaultBatchInterval. Close stops it.
func NewBatchedJSONLines(w io.Writer, interval time.Duration) *BatchedJSONLines {
	if interval <= 0 {
		interval = DefaultBatchInterval
	}
	b := &BatchedJSONLines{w: w, interval: interval, size: DefaultBatchSize,
		wake: make(chan struct{}, 1), flush: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	b.drained = sync.NewCond(&b.mu)
	go b.run()
	return b
}

// Record queues e for writing. After Close it writes e at once, so no late event is lost.
func (b *BatchedJSONLines) Record(e *Event) {
	if e == nil {
		return
	}
	b.mu.Lock()
	if len(b.queue) >= maxQueued && !b.closed {
		b.waits++
	}
	for len(b.queue) >= maxQueued && !b.closed {
		b.drained.Wait()
	}
	if b.closed {
		b.mu.Unlock()
		b.write([]*Event{e})
		return
	}
	b.queue = append(b.queue, e)
	b.queued++
	n := len(b.queue)
	b.mu.Unlock()
	if n == 1 || n == b.size {
		b.signal()
	}
}

func (b *BatchedJSONLines) signal() { notify(b.wake) }

// notify sends on a channel of capacity 1 unless a notification is already pending.
func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// run writes a batch when the first event of a batch has waited the interval, when a batch is full, or when
// Flush asks.
func (b *BatchedJSONLines) run() {
	defer close(b.done)
	timer := time.NewTimer(b.interval)
	timer.Stop()
	for {
		flushNow := false
		select {
		case <-b.stop:
			b.writeQueued()
			return
		case <-b.wake:
		case <-b.flush:
			flushNow = true
		}
		if !flushNow && b.pending() < b.size {
			timer.Reset(b.interval)
			select {
			case <-b.stop:
				timer.Stop()
				b.writeQueued()
				return
			case <-b.wake:
				timer.Stop()
			case <-b.flush:
				timer.Stop()
			case <-timer.C:
			}
		}
		b.writeQueued()
	}
}

func (b *BatchedJSONLines) pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// writeQueued writes everything queued, in one write.
func (b *BatchedJSONLines) writeQueued() {
	b.mu.Lock()
	batch := b.queue
	b.queue = b.spare[:0]
	b.mu.Unlock()
	if len(batch) > 0 {
		b.write(batch)
	}
	clear(batch) // drop the event pointers, so written events can be collected
	b.mu.Lock()
	b.spare = batch[:0]
	b.wrote += uint64(len(batch))
	b.drained.Broadcast()
	b.mu.Unlock()
}

// write encodes batch and writes it with one Write call.
func (b *BatchedJSONLines) write(batch []*Event) {
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	buf := b.buf[:0]
	for _, e := range batch {
		line, err := e.encode()
		if err != nil {
			b.setErr(fmt.Errorf("encode decision event %s: %w", e.RequestID, err))
			continue
		}
		buf = append(append(buf, line...), '\n')
	}
	if len(buf) > 0 {
		start := time.Now()
		_, err := b.w.Write(buf)
		took := time.Since(start)
		b.mu.Lock()
		b.writeNS += took
		b.slowest = max(b.slowest, took)
		b.mu.Unlock()
		if err != nil {
			b.setErr(fmt.Errorf("write decision events: %w", err))
		}
	}
	if cap(buf) <= maxSpare {
		b.buf = buf[:0]
	} else {
		b.buf = nil
	}
}

func (b *BatchedJSONLines) setErr(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil {
		b.err = err
	}
}

// Flush returns once every event recorded before the call has been written.
func (b *BatchedJSONLines) Flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	target := b.queued
	for b.wrote < target && !b.closed {
		b.mu.Unlock()
		notify(b.flush)
		b.mu.Lock()
		if b.wrote < target && !b.closed {
			b.drained.Wait()
		}
	}
}

// Close writes the queued events and stops the goroutine. Events recorded afterwards are written at once.
// It is safe to call more than once.
func (b *BatchedJSONLines) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		<-b.done
		return
	}
	b.closed = true
	b.drained.Broadcast() // Record calls waiting for room queue their event now; run writes it on stop
	b.mu.Unlock()
	close(b.stop)
	<-b.done
}

// BatchStats are a BatchedJSONLines' counters since it started, for metrics: a decision log on a slow disk or
// a full pipe shows up here before it shows up as request latency.
type BatchStats struct {
	// Written is the number of events handed to the writer (or dropped by an encode error).
	Written uint64
	// Waits is the number of Record calls that found maxQueued events waiting and blocked until the writer
	// caught up: requests the decision log slowed down.
	Waits uint64
	// WriteTime is the total time spent in the writer's Write calls; Slowest is the longest one.
	WriteTime, Slowest time.Duration
}

// Stats returns the counters so far.
func (b *BatchedJSONLines) Stats() BatchStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return BatchStats{Written: b.wrote, Waits: b.waits, WriteTime: b.writeNS, Slowest: b.slowest}
}

// Err returns the first encoding or write error, nil if none.
func (b *BatchedJSONLines) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}
