package decision

import (
	"bytes"
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

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	w.n++
	return 0, errors.New("disk full")
}

func TestDecisionLogKeepsFirstError(t *testing.T) {
	w := &failWriter{}
	sink := NewBatchedJSONLines(w, 0)
	sink.Record(ev("a"))
	sink.Flush()
	sink.Record(ev("b"))
	sink.Close()
	if err := sink.Err(); err == nil || !strings.Contains(err.Error(), "write decision events: disk full") {
		t.Fatalf("err = %v", err)
	}
	if w.n != 2 {
		t.Fatalf("later events must still be attempted: %d writes", w.n)
	}
}

func TestMulti(t *testing.T) {
	r1, r2 := NewRing(4), NewRing(4)
	var buf bytes.Buffer
	jl := NewBatchedJSONLines(&buf, 0)
	s := Multi(r1, nil, r2, jl)
	s.Record(ev("x"))
	jl.Close()
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
