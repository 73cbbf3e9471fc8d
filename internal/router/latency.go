package router

import (
	"slices"
	"sync"
	"time"
)

// DefaultLatencyWindow is how many recent successful attempts the p95 of a target is computed over: enough for
// a stable p95, few enough that a target that slowed down is noticed within a minute of moderate traffic.
const DefaultLatencyWindow = 128

// LatencyTracker keeps a rolling p95 of successful attempt latencies per upstream (policy.Target.Upstream). Recording takes one short
// per-target lock and no allocation; the p95 is recomputed only when read after new samples, so the hot path
// (one Record and a few P95 reads per request) stays cheap. It is safe for concurrent use.
type LatencyTracker struct {
	window  int
	targets sync.Map // upstream (policy.Target.Upstream) -> *latencyRing
}

type latencyRing struct {
	mu      sync.Mutex
	samples []time.Duration
	next    int
	full    bool
	dirty   bool
	p95     time.Duration
	scratch []time.Duration
}

// NewLatencyTracker returns a tracker over the last window samples per target (DefaultLatencyWindow when
// window <= 0).
func NewLatencyTracker(window int) *LatencyTracker {
	if window <= 0 {
		window = DefaultLatencyWindow
	}
	return &LatencyTracker{window: window}
}

func (l *LatencyTracker) ring(id string) *latencyRing {
	if r, ok := l.targets.Load(id); ok {
		return r.(*latencyRing)
	}
	w := l.window
	if w <= 0 {
		w = DefaultLatencyWindow
	}
	r, _ := l.targets.LoadOrStore(id, &latencyRing{samples: make([]time.Duration, w)})
	return r.(*latencyRing)
}

// Record adds the latency of a successful attempt to target id. Failed attempts are not recorded: a timeout
// measures the timeout, not the target, and the breaker already accounts for failures.
func (l *LatencyTracker) Record(id string, d time.Duration) {
	if l == nil {
		return
	}
	r := l.ring(id)
	r.mu.Lock()
	r.samples[r.next] = d
	r.next++
	if r.next == len(r.samples) {
		r.next, r.full = 0, true
	}
	r.dirty = true
	r.mu.Unlock()
}

// P95 returns the p95 latency of target id over its window, 0 when there is no sample yet.
func (l *LatencyTracker) P95(id string) time.Duration {
	if l == nil {
		return 0
	}
	v, ok := l.targets.Load(id)
	if !ok {
		return 0
	}
	r := v.(*latencyRing)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.dirty {
		return r.p95
	}
	n := r.next
	if r.full {
		n = len(r.samples)
	}
	if n == 0 {
		return 0
	}
	r.scratch = append(r.scratch[:0], r.samples[:n]...)
	// Nearest-rank p95: the smallest sample with at least 95% of samples at or below it, i.e. the idx-th
	// smallest; selecting it is linear, where sorting the window on every request was the hot path's cost.
	idx := (95*n+99)/100 - 1
	r.p95 = nthSmallest(r.scratch, idx)
	r.dirty = false
	return r.p95
}

// Forget drops the samples of target id, for targets removed from config.
func (l *LatencyTracker) Forget(id string) {
	if l != nil {
		l.targets.Delete(id)
	}
}

// nthSmallest returns the k-th smallest element (0-based) of s, which it reorders: the value sorting s and
// taking s[k] would give, found by quickselect with a median-of-three pivot.
func nthSmallest(s []time.Duration, k int) time.Duration {
	lo, hi := 0, len(s)-1
	for hi-lo > 12 {
		// Median of three to s[lo], as the pivot.
		mid := lo + (hi-lo)/2
		if s[mid] < s[lo] {
			s[mid], s[lo] = s[lo], s[mid]
		}
		if s[hi] < s[lo] {
			s[hi], s[lo] = s[lo], s[hi]
		}
		if s[hi] < s[mid] {
			s[hi], s[mid] = s[mid], s[hi]
		}
		s[lo], s[mid] = s[mid], s[lo]
		p := s[lo]
		// Hoare partition: s[lo..j] <= p <= s[j+1..hi].
		i, j := lo, hi+1
		for {
			for i++; s[i] < p; i++ {
			}
			for j--; s[j] > p; j-- {
			}
			if i >= j {
				break
			}
			s[i], s[j] = s[j], s[i]
		}
		s[lo], s[j] = s[j], s[lo] // the pivot to its final place j
		switch {
		case k == j:
			return s[j]
		case k < j:
			hi = j - 1
		default:
			lo = j + 1
		}
	}
	slices.Sort(s[lo : hi+1])
	return s[k]
}
