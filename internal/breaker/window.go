package breaker

import "time"

// windowBuckets is the resolution of every sliding window here: fine enough that a window forgets its oldest
// tenth at a time, small enough to live inline in its owner without allocating.
const windowBuckets = 10

// window counts two quantities (a, b) over the last windowBuckets buckets of a fixed width. It is an
// approximation at bucket granularity: the oldest bucket drops out whole. Buckets are recycled lazily when time
// reaches them again, so the window needs no goroutine. Not safe for concurrent use: its owner locks.
type window struct {
	width   time.Duration
	buckets [windowBuckets]bucket
}

type bucket struct {
	epoch int64
	a, b  int
}

func newWindow(span time.Duration) window {
	width := span / windowBuckets
	if width <= 0 {
		width = 1
	}
	return window{width: width}
}

func (w *window) epoch(now time.Time) int64 { return now.UnixNano() / int64(w.width) }

func (w *window) slot(epoch int64) *bucket {
	i := epoch % windowBuckets
	if i < 0 {
		i += windowBuckets
	}
	return &w.buckets[i]
}

func (w *window) add(now time.Time, a, b int) {
	e := w.epoch(now)
	bk := w.slot(e)
	if bk.epoch != e {
		*bk = bucket{epoch: e}
	}
	bk.a += a
	bk.b += b
}

func (w *window) sum(now time.Time) (a, b int) {
	cur := w.epoch(now)
	for i := range w.buckets {
		bk := &w.buckets[i]
		if bk.epoch > cur-windowBuckets && bk.epoch <= cur {
			a += bk.a
			b += bk.b
		}
	}
	return a, b
}

func (w *window) reset() { w.buckets = [windowBuckets]bucket{} }
