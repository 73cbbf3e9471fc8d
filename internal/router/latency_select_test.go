package router

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestNthSmallestMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 20000; iter++ {
		n := 1 + rng.IntN(200)
		s := make([]time.Duration, n)
		spread := []int{1, 3, 50, 1 << 30}[rng.IntN(4)] // many duplicates, some, none
		for i := range s {
			s[i] = time.Duration(rng.IntN(spread))
		}
		switch rng.IntN(4) {
		case 0:
			slices.Sort(s)
		case 1:
			slices.Sort(s)
			slices.Reverse(s)
		}
		want := slices.Clone(s)
		slices.Sort(want)
		k := rng.IntN(n)
		if got := nthSmallest(slices.Clone(s), k); got != want[k] {
			t.Fatalf("n=%d k=%d: got %v, want %v (input %v)", n, k, got, want[k], s)
		}
	}
}

// BenchmarkLatencyRecordP95 is the tracker's per-request work: one Record and one P95 over a full window.
func BenchmarkLatencyRecordP95(b *testing.B) {
	l := NewLatencyTracker(0)
	rng := rand.New(rand.NewPCG(3, 4))
	for range DefaultLatencyWindow {
		l.Record("t", time.Duration(rng.IntN(1e9)))
	}
	b.ReportAllocs()
	for b.Loop() {
		l.Record("t", time.Duration(rng.IntN(1e9)))
		_ = l.P95("t")
	}
}
