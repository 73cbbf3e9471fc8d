package decision

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func ev(id string) *Event { return New(id, "ns/p", time.Unix(0, 0)) }

func ids(es []*Event) string {
	var out []string
	for _, e := range es {
		out = append(out, e.RequestID)
	}
	return strings.Join(out, ",")
}

func TestRingEviction(t *testing.T) {
	tests := []struct {
		name     string
		capacity int
		record   []string
		recentN  int
		recent   string
		present  []string
		absent   []string
	}{
		{"empty", 3, nil, 5, "", nil, []string{"a"}},
		{"not full", 3, []string{"a", "b"}, 5, "b,a", []string{"a", "b"}, nil},
		{"exactly full", 3, []string{"a", "b", "c"}, 3, "c,b,a", []string{"a", "b", "c"}, nil},
		{"one evicted", 3, []string{"a", "b", "c", "d"}, 10, "d,c,b", []string{"b", "c", "d"}, []string{"a"}},
		{"wrapped twice", 2, []string{"a", "b", "c", "d", "e"}, 2, "e,d", []string{"d", "e"}, []string{"a", "b", "c"}},
		{"recent fewer", 3, []string{"a", "b", "c", "d"}, 2, "d,c", nil, nil},
		{"recent zero", 3, []string{"a"}, 0, "", nil, nil},
		{"recent negative", 3, []string{"a"}, -1, "", nil, nil},
		// A repeated ID points to the newest; evicting the older copy must not forget the newer one.
		{"duplicate id", 2, []string{"a", "a", "b"}, 2, "b,a", []string{"a", "b"}, nil},
		{"capacity clamped", 0, []string{"a", "b"}, 2, "b", []string{"b"}, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRing(tt.capacity)
			for _, id := range tt.record {
				r.Record(ev(id))
			}
			r.Record(nil)
			if got := ids(r.Recent(tt.recentN)); got != tt.recent {
				t.Errorf("Recent(%d) = %q, want %q", tt.recentN, got, tt.recent)
			}
			for _, id := range tt.present {
				if e, ok := r.Get(id); !ok || e.RequestID != id {
					t.Errorf("Get(%q) missing", id)
				}
			}
			for _, id := range tt.absent {
				if _, ok := r.Get(id); ok {
					t.Errorf("Get(%q) found an evicted event", id)
				}
			}
			if want := min(len(tt.record), max(tt.capacity, 1)); r.Len() != want {
				t.Errorf("Len = %d, want %d", r.Len(), want)
			}
		})
	}
}

func TestRingConcurrent(t *testing.T) {
	r := NewRing(64)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				id := fmt.Sprintf("%d-%d", g, i)
				r.Record(ev(id))
				r.Get(id)
				r.Recent(10)
			}
		})
	}
	wg.Wait()
	if r.Len() != 64 || len(r.Recent(100)) != 64 {
		t.Fatalf("len %d", r.Len())
	}
	for _, e := range r.Recent(64) {
		if got, ok := r.Get(e.RequestID); !ok || got != e {
			t.Fatalf("index out of sync for %s", e.RequestID)
		}
	}
}

func TestJSONLines(t *testing.T) {
	var buf bytes.Buffer
	sink := NewJSONLines(&buf)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				e := fullEvent()
				e.RequestID = fmt.Sprintf("%d-%d", g, i)
				sink.Record(e)
			}
		})
	}
	wg.Wait()
	sink.Record(nil)
	if err := sink.Err(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	seen := map[string]bool{}
	for sc.Scan() {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line is not one JSON event (interleaved?): %v: %s", err, sc.Bytes())
		}
		if e.Event != EventName {
			t.Fatalf("event = %q", e.Event)
		}
		seen[e.RequestID] = true
	}
	if len(seen) != 400 {
		t.Fatalf("got %d distinct events, want 400", len(seen))
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	w.n++
	return 0, errors.New("disk full")
}

func TestJSONLinesKeepsFirstError(t *testing.T) {
	w := &failWriter{}
	sink := NewJSONLines(w)
	sink.Record(ev("a"))
	sink.Record(ev("b"))
	if err := sink.Err(); err == nil || !strings.Contains(err.Error(), "write decision events: disk full") {
		t.Fatalf("err = %v", err)
	}
	if w.n != 2 {
		t.Fatalf("later events must still be attempted: %d writes", w.n)
	}
}

// gateWriter blocks its first Write until released, and records every write.
type gateWriter struct {
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	writes  [][]byte
}

func (w *gateWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	first := len(w.writes) == 0
	w.writes = append(w.writes, bytes.Clone(p))
	w.mu.Unlock()
	if first {
		close(w.entered)
		<-w.release
	}
	return len(p), nil
}

// TestJSONLinesGroupCommit: events recorded while a write is in progress go out together in the next write, and
// none is lost or split.
func TestJSONLinesGroupCommit(t *testing.T) {
	w := &gateWriter{entered: make(chan struct{}), release: make(chan struct{})}
	sink := NewJSONLines(w)
	done := make(chan struct{})
	go func() { sink.Record(ev("first")); close(done) }()
	<-w.entered // the first Record is now inside Write
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() { sink.Record(ev(fmt.Sprintf("queued-%d", i))) })
	}
	wg.Wait() // they return at once: the first Record writes their lines
	close(w.release)
	<-done
	if len(w.writes) != 2 {
		t.Fatalf("%d writes, want 2 (one for the first event, one batch for the ten queued)", len(w.writes))
	}
	if n := bytes.Count(w.writes[1], []byte("\n")); n != 10 {
		t.Fatalf("second write holds %d lines, want 10", n)
	}
	for _, l := range bytes.Split(bytes.TrimSuffix(w.writes[1], []byte("\n")), []byte("\n")) {
		var e Event
		if err := json.Unmarshal(l, &e); err != nil {
			t.Fatalf("line is not one JSON event: %v: %s", err, l)
		}
	}
}

func TestMulti(t *testing.T) {
	r1, r2 := NewRing(4), NewRing(4)
	var buf bytes.Buffer
	s := Multi(r1, nil, r2, NewJSONLines(&buf))
	s.Record(ev("x"))
	if _, ok := r1.Get("x"); !ok {
		t.Error("first sink missed the event")
	}
	if _, ok := r2.Get("x"); !ok {
		t.Error("second sink missed the event")
	}
	if !strings.Contains(buf.String(), `"request_id":"x"`) {
		t.Error("JSON sink missed the event")
	}
	Multi().Record(ev("y")) // no sinks: no panic
}

func BenchmarkRingRecord(b *testing.B) {
	r := NewRing(4096)
	events := make([]*Event, 1024)
	for i := range events {
		events[i] = ev(NewRequestID())
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r.Record(events[i%len(events)])
			i++
		}
	})
}
