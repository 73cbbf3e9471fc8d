package breaker

import (
	"sync"
	"time"
)

// budgetSpan is the period a RetryBudget looks back over, in 1 s buckets.
const budgetSpan = windowBuckets * time.Second

// RetryBudgetConfig configures a RetryBudget (the RoutePolicy's retryBudget). The zero value allows no fallback
// at all, which is a legitimate setting; the CRD defaults to Ratio 0.2 and MinPerSecond 10.
type RetryBudgetConfig struct {
	// Ratio is the largest number of fallback attempts per first attempt over the last 10 s.
	Ratio float64
	// MinPerSecond is a floor, in fallbacks per second averaged over 10 s, so that low traffic can still fail
	// over whatever the ratio.
	MinPerSecond int
}

// RetryBudget caps fallback attempts to a share of traffic, so that an incident on one provider cannot turn
// every request into maxAttempts requests (a thundering herd on the remaining providers).
//
// Over a sliding 10 s window of 1 s buckets it counts first attempts (OnRequest) and fallback attempts
// (TryFallback). A fallback is allowed while fallbacks < max(Ratio × requests, MinPerSecond × 10). The floor is
// a 10 s allowance rather than a per-second rate because the point is to let quiet policies fail over at all;
// a burst of 10 × MinPerSecond is what the floor is sized for. Buckets expire lazily: no goroutine.
// It is safe for concurrent use.
type RetryBudget struct {
	mu  sync.Mutex
	cfg RetryBudgetConfig
	now func() time.Time
	win window // requests (a) and fallbacks (b)
}

// NewRetryBudget returns an empty budget. clock may be nil for time.Now.
func NewRetryBudget(cfg RetryBudgetConfig, clock func() time.Time) *RetryBudget {
	if clock == nil {
		clock = time.Now
	}
	return &RetryBudget{cfg: cfg, now: clock, win: newWindow(budgetSpan)}
}

// SetConfig applies a new configuration, keeping the counts.
func (rb *RetryBudget) SetConfig(cfg RetryBudgetConfig) {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	rb.cfg = cfg
}

// OnRequest counts a first attempt.
func (rb *RetryBudget) OnRequest() {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	rb.win.add(rb.now(), 1, 0)
}

// TryFallback reports whether one more fallback attempt is within budget, and if so spends it.
func (rb *RetryBudget) TryFallback() bool {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	now := rb.now()
	requests, fallbacks := rb.win.sum(now)
	allowance := max(max(rb.cfg.Ratio, 0)*float64(requests), float64(rb.cfg.MinPerSecond)*budgetSpan.Seconds())
	if float64(fallbacks) >= allowance {
		return false
	}
	rb.win.add(now, 0, 1)
	return true
}
