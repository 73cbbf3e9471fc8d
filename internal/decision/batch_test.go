package decision

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// writeLog records each Write call; it may block every write until released.
type writeLog struct {
	mu     sync.Mutex
	writes []string
	gate   chan struct{} // when non-nil, each Write waits until it is closed
	delay  time.Duration // each Write takes this long (fake time under synctest)
}

func (w *writeLog) Write(p []byte) (int, error) {
	if w.gate != nil {
		<-w.gate
	}
	time.Sleep(w.delay)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

func (w *writeLog) snapshot() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.writes...)
}

// lineIDs decodes the request IDs of every line written, in order.
func lineIDs(t *testing.T, writes []string) []string {
	t.Helper()
	var ids []string
	for _, l := range strings.Split(strings.TrimSuffix(strings.Join(writes, ""), "\n"), "\n") {
		if l == "" {
			continue
		}
		var e Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("line is not one JSON event: %v: %q", err, l)
		}
		ids = append(ids, e.RequestID)
	}
	return ids
}

func TestBatchedWritesOnceAfterTheInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &writeLog{}
		b := NewBatchedJSONLines(w, 20*time.Millisecond)
		defer b.Close()
		for i := range 10 {
			b.Record(ev(fmt.Sprint(i)))
		}
		time.Sleep(19 * time.Millisecond) // fake time: the batch is still waiting
		synctest.Wait()
		if n := len(w.snapshot()); n != 0 {
			t.Fatalf("%d writes before the interval ended", n)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		got := w.snapshot()
		if len(got) != 1 {
			t.Fatalf("%d writes, want one for the whole batch", len(got))
		}
		if ids := lineIDs(t, got); strings.Join(ids, ",") != "0,1,2,3,4,5,6,7,8,9" {
			t.Fatalf("events written %v, want 0..9 in order", ids)
		}
	})
}

func TestBatchedFullBatchDoesNotWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &writeLog{}
		b := NewBatchedJSONLines(w, time.Hour)
		defer b.Close()
		for i := range DefaultBatchSize {
			b.Record(ev(fmt.Sprint(i)))
		}
		synctest.Wait() // no time passes: only the full batch can have triggered the write
		got := w.snapshot()
		if len(got) != 1 || len(lineIDs(t, got)) != DefaultBatchSize {
			t.Fatalf("a full batch was not written at once: %d writes", len(got))
		}
	})
}

func TestBatchedFlushAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &writeLog{}
		b := NewBatchedJSONLines(w, time.Hour)
		b.Record(ev("a"))
		b.Flush()
		if ids := lineIDs(t, w.snapshot()); len(ids) != 1 || ids[0] != "a" {
			t.Fatalf("after Flush: %v", ids)
		}
		b.Record(ev("b"))
		b.Close()
		b.Record(ev("c")) // after Close: written at once
		b.Close()         // idempotent
		if ids := lineIDs(t, w.snapshot()); strings.Join(ids, ",") != "a,b,c" {
			t.Fatalf("after Close: %v", ids)
		}
	})
}

// TestBatchedBackPressure: when the writer is stuck, Record blocks once maxQueued events wait, and nothing is
// dropped.
func TestBatchedBackPressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &writeLog{gate: make(chan struct{})}
		b := NewBatchedJSONLines(w, time.Millisecond)
		b.Record(ev("first"))
		time.Sleep(time.Millisecond)
		synctest.Wait() // the goroutine is now inside the first Write, stuck at the gate
		for i := range maxQueued {
			b.Record(ev(fmt.Sprint(i)))
		}
		blocked := make(chan struct{})
		go func() { b.Record(ev("over")); close(blocked) }()
		synctest.Wait()
		select {
		case <-blocked:
			t.Fatal("Record did not wait with maxQueued events queued")
		default:
		}
		if st := b.Stats(); st.Waits != 1 || st.Written != 0 {
			t.Fatalf("stats while blocked = %+v, want 1 wait and nothing written yet", st)
		}
		close(w.gate) // unstick the writer for good
		<-blocked
		b.Close()
		if ids := lineIDs(t, w.snapshot()); len(ids) != maxQueued+2 || ids[len(ids)-1] != "over" {
			t.Fatalf("%d events written (want %d), last %q", len(ids), maxQueued+2, ids[len(ids)-1])
		}
		if st := b.Stats(); st.Waits != 1 || st.Written != maxQueued+2 {
			t.Fatalf("stats after Close = %+v, want 1 wait and %d written", st, maxQueued+2)
		}
	})
}

func TestBatchedStatsTimeTheWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &writeLog{delay: 7 * time.Millisecond}
		b := NewBatchedJSONLines(w, time.Millisecond)
		b.Record(ev("a"))
		b.Flush()
		w.delay = 3 * time.Millisecond // the writer goroutine is idle between batches: no race
		b.Record(ev("b"))
		b.Close()
		if st := b.Stats(); st.Written != 2 || st.Waits != 0 || st.WriteTime != 10*time.Millisecond || st.Slowest != 7*time.Millisecond {
			t.Fatalf("stats = %+v, want 2 written, no wait, 10ms writing, slowest 7ms", st)
		}
	})
}

func TestBatchedConcurrent(t *testing.T) {
	var buf lockedWriter
	b := NewBatchedJSONLines(&buf, time.Millisecond)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				b.Record(ev(fmt.Sprintf("%d-%d", g, i)))
				if i%50 == 0 {
					b.Flush()
				}
			}
		})
	}
	wg.Wait()
	b.Close()
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	ids := lineIDs(t, []string{buf.String()})
	if len(ids) != 1600 {
		t.Fatalf("%d events written, want 1600", len(ids))
	}
	last := map[string]int{}
	for _, id := range ids { // each goroutine's events stay in their order
		var g, i int
		_, _ = fmt.Sscanf(id, "%d-%d", &g, &i)
		if prev, ok := last[fmt.Sprint(g)]; ok && i != prev+1 {
			t.Fatalf("goroutine %d: event %d after %d", g, i, prev)
		}
		last[fmt.Sprint(g)] = i
	}
}

type lockedWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestBatchedFlushDoesNotWaitForTheInterval: Flush writes at once, whatever the interval.
func TestBatchedFlushDoesNotWaitForTheInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &writeLog{}
		b := NewBatchedJSONLines(w, time.Hour)
		defer b.Close()
		b.Record(ev("a"))
		start := time.Now()
		b.Flush()
		if waited := time.Since(start); waited != 0 {
			t.Errorf("Flush waited %s of fake time", waited)
		}
		if ids := lineIDs(t, w.snapshot()); len(ids) != 1 {
			t.Fatalf("after Flush: %v", ids)
		}
	})
}
