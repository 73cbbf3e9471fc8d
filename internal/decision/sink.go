package decision

import (
	"sync"
)

// Sink receives decision events. Record is called once per request, from the request's goroutine, so it must
// be safe for concurrent use and must not block for long. A sink may keep the pointer: the caller must not
// change the event after recording it.
type Sink interface {
	// Record receives one event.
	Record(e *Event)
}

// Ring keeps the latest events in memory, for the state endpoint and `llmroute explain <request_id>`. It is
// bounded (the oldest event is dropped first) and safe for concurrent use.
type Ring struct {
	mu   sync.RWMutex
	buf  []*Event
	next int            // slot of the next write
	full bool           // buf has wrapped at least once
	byID map[string]int // request_id -> slot, for the events still held
}

// NewRing returns a ring that holds up to capacity events (at least 1).
func NewRing(capacity int) *Ring {
	capacity = max(capacity, 1)
	return &Ring{buf: make([]*Event, capacity), byID: make(map[string]int, capacity)}
}

// Record stores e, dropping the oldest event when the ring is full. A repeated request ID points to the newest.
func (r *Ring) Record(e *Event) {
	if e == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.buf[r.next]; old != nil {
		if slot, ok := r.byID[old.RequestID]; ok && slot == r.next {
			delete(r.byID, old.RequestID)
		}
	}
	r.buf[r.next] = e
	r.byID[e.RequestID] = r.next
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
}

// Get returns the event of a request ID, if the ring still holds it.
func (r *Ring) Get(requestID string) (*Event, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	slot, ok := r.byID[requestID]
	if !ok {
		return nil, false
	}
	return r.buf[slot], true
}

// Recent returns up to n events, newest first.
func (r *Ring) Recent(n int) []*Event {
	r.mu.RLock()
	defer r.mu.RUnlock()
	held := r.next
	if r.full {
		held = len(r.buf)
	}
	n = min(max(n, 0), held)
	out := make([]*Event, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, r.buf[(r.next-i+len(r.buf))%len(r.buf)])
	}
	return out
}

// Len returns how many events the ring holds.
func (r *Ring) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.full {
		return len(r.buf)
	}
	return r.next
}

// Multi returns a sink that records each event in every non-nil sink, in order.
func Multi(sinks ...Sink) Sink {
	var out multi
	for _, s := range sinks {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

type multi []Sink

func (m multi) Record(e *Event) {
	for _, s := range m {
		s.Record(e)
	}
}
