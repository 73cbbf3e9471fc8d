package breaker

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/llmroute/llmroute/internal/faults"
)

// noJitter makes the jitter factor exactly 1 whatever Config.Jitter says.
func noJitter() float64 { return 0.5 }

func fail(r faults.Reason) faults.Result { return faults.Result{Class: faults.ClassOf(r), Reason: r} }

var (
	timeout  = fail(faults.ReasonTimeout)
	okResult = faults.Result{Reason: faults.ReasonOK}
)

func testConfig() Config {
	return Config{FailureThreshold: 3, CooldownBase: time.Second, CooldownMax: 10 * time.Second,
		Multiplier: 2, Jitter: 0.1, ProbeTimeout: 2 * time.Second}
}

// failN admits and fails n attempts.
func failN(t *testing.T, b *Breaker, n int, res faults.Result) {
	t.Helper()
	for i := range n {
		p, reason, ok := b.Allow()
		if !ok {
			t.Fatalf("attempt %d refused: %s", i+1, reason)
		}
		b.Record(p, false, res)
	}
}

func TestOpensAtExactlyThreshold(t *testing.T) {
	for _, n := range []int{1, 3, 5} {
		t.Run("", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := testConfig()
				cfg.FailureThreshold = n
				b := New(cfg, WithRand(noJitter))
				failN(t, b, n-1, timeout)
				if s := b.Snapshot(); s.State != StateClosed || s.ConsecutiveFailures != n-1 {
					t.Fatalf("after %d failures: %+v", n-1, s)
				}
				failN(t, b, 1, timeout)
				s := b.Snapshot()
				if s.State != StateOpen || s.Openings != 1 || s.LastFailureReason != faults.ReasonTimeout {
					t.Fatalf("after %d failures: %+v", n, s)
				}
				if want := time.Now().Add(time.Second); !s.CooldownUntil.Equal(want) {
					t.Fatalf("cooldown until %v, want %v", s.CooldownUntil, want)
				}
				if _, reason, ok := b.Allow(); ok || reason != faults.ReasonBreakerOpen {
					t.Fatalf("open breaker admitted (%v, %s)", ok, reason)
				}
			})
		})
	}
}

func TestSuccessResetsConsecutive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(testConfig())
		failN(t, b, 2, timeout)
		p, _, _ := b.Allow()
		b.Record(p, true, okResult)
		failN(t, b, 2, timeout)
		if s := b.Snapshot(); s.State != StateClosed || s.ConsecutiveFailures != 2 {
			t.Fatalf("a success between failures must reset the run: %+v", s)
		}
	})
}

func TestCooldownBoundary(t *testing.T) {
	tests := []struct {
		name  string
		after time.Duration // since opening; cooldown is 1 s
		probe bool
	}{
		{"1ms before", time.Second - time.Millisecond, false},
		{"exactly at", time.Second, true},
		{"1ms after", time.Second + time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := New(testConfig(), WithRand(noJitter))
				failN(t, b, 3, timeout)
				time.Sleep(tt.after)
				p, reason, ok := b.Allow()
				if ok != tt.probe || p.Probe != tt.probe {
					t.Fatalf("Allow at +%v = (%+v, %s, %v), want probe %v", tt.after, p, reason, ok, tt.probe)
				}
				if !tt.probe {
					if reason != faults.ReasonBreakerOpen || b.Snapshot().State != StateOpen {
						t.Fatalf("reason %s, state %s", reason, b.Snapshot().State)
					}
					return
				}
				if s := b.Snapshot(); s.State != StateHalfOpen || !s.LastTransition.Equal(time.Now()) {
					t.Fatalf("after probe admitted: %+v", s)
				}
				if _, reason, ok := b.Allow(); ok || reason != faults.ReasonBreakerOpen {
					t.Fatal("a second caller got through while the probe is out")
				}
				b.Record(p, true, okResult)
				s := b.Snapshot()
				if s.State != StateClosed || s.Openings != 0 || s.ConsecutiveFailures != 0 {
					t.Fatalf("probe success must close and reset: %+v", s)
				}
				if _, _, ok := b.Allow(); !ok {
					t.Fatal("closed breaker refused")
				}
			})
		})
	}
}

func TestExactlyOneProbeUnderContention(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(testConfig(), WithRand(noJitter))
		failN(t, b, 3, timeout)
		time.Sleep(time.Second)
		var probes, denied atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 100 {
			wg.Go(func() {
				<-start
				p, reason, ok := b.Allow()
				switch {
				case ok && p.Probe:
					probes.Add(1)
				case !ok && reason == faults.ReasonBreakerOpen:
					denied.Add(1)
				default:
					t.Errorf("unexpected Allow result (%+v, %s, %v)", p, reason, ok)
				}
			})
		}
		close(start)
		wg.Wait()
		if probes.Load() != 1 || denied.Load() != 99 {
			t.Fatalf("probes %d, denied %d; want 1 and 99", probes.Load(), denied.Load())
		}
	})
}

func TestHungProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(testConfig(), WithRand(noJitter))
		failN(t, b, 3, timeout)
		time.Sleep(time.Second)
		probe, _, ok := b.Allow()
		if !ok || !probe.Probe {
			t.Fatal("no probe")
		}
		probeStart := time.Now()

		time.Sleep(2*time.Second - time.Millisecond)
		if s := b.Snapshot(); s.State != StateHalfOpen {
			t.Fatalf("1ms before probe timeout: %+v", s)
		}
		if _, _, ok := b.Allow(); ok {
			t.Fatal("admitted while the probe is still within its timeout")
		}

		time.Sleep(time.Millisecond)
		s := b.Snapshot()
		deadline := probeStart.Add(2 * time.Second)
		if s.State != StateOpen || s.Openings != 2 || s.LastFailureReason != faults.ReasonTimeout ||
			s.ConsecutiveFailures != 4 || !s.LastTransition.Equal(deadline) {
			t.Fatalf("at probe timeout: %+v", s)
		}
		if want := deadline.Add(2 * time.Second); !s.CooldownUntil.Equal(want) {
			t.Fatalf("second cooldown until %v, want %v (base x 2)", s.CooldownUntil, want)
		}

		// The hung probe finally answers: too late, the breaker has moved on.
		b.Record(probe, true, okResult)
		if s := b.Snapshot(); s.State != StateOpen {
			t.Fatalf("a late probe result changed the state: %+v", s)
		}
	})
}

func TestHungProbeExpiresLazilyAtItsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(testConfig(), WithRand(noJitter))
		failN(t, b, 3, timeout)
		time.Sleep(time.Second)
		if _, _, ok := b.Allow(); !ok {
			t.Fatal("no probe")
		}
		deadline := time.Now().Add(2 * time.Second)
		// Nobody looks for a long while; the re-opening is still dated at the probe deadline, so the cooldown has
		// already run out and the next caller probes.
		time.Sleep(time.Minute)
		p, _, ok := b.Allow()
		if !ok || !p.Probe {
			t.Fatal("expected a new probe after the stale cooldown")
		}
		if s := b.Snapshot(); s.Openings != 2 || !s.CooldownUntil.Equal(deadline.Add(2*time.Second)) {
			t.Fatalf("%+v", s)
		}
	})
}

func TestExponentialCooldown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig() // base 1 s, x2, max 10 s
		b := New(cfg, WithRand(noJitter))
		failN(t, b, 3, timeout)
		want := []time.Duration{1, 2, 4, 8, 10, 10, 10}
		for k, w := range want {
			s := b.Snapshot()
			if got := s.CooldownUntil.Sub(s.LastTransition); got != w*time.Second || s.Openings != k+1 {
				t.Fatalf("opening %d: cooldown %v (openings %d), want %v", k+1, got, s.Openings, w*time.Second)
			}
			time.Sleep(w * time.Second)
			p, _, ok := b.Allow()
			if !ok || !p.Probe {
				t.Fatalf("opening %d: no probe at cooldown end", k+1)
			}
			if k < len(want)-1 {
				b.Record(p, false, timeout)
				continue
			}
			b.Record(p, true, okResult)
		}
		if s := b.Snapshot(); s.State != StateClosed || s.Openings != 0 {
			t.Fatalf("success must reset k: %+v", s)
		}
		failN(t, b, 3, timeout)
		if s := b.Snapshot(); s.CooldownUntil.Sub(s.LastTransition) != time.Second {
			t.Fatalf("after reset the cooldown must start from base again: %+v", s)
		}
	})
}

func TestJitter(t *testing.T) {
	tests := []struct {
		name   string
		rnd    float64
		jitter float64
		base   time.Duration
		want   time.Duration
	}{
		{"low end", 0, 0.1, 10 * time.Second, 9 * time.Second},
		{"middle", 0.5, 0.1, 10 * time.Second, 10 * time.Second},
		{"high end", 0.75, 0.2, 10 * time.Second, 11 * time.Second},
		{"clamped to max", 0.75, 0.2, time.Minute, time.Minute},
		{"no jitter ignores rand", 0, 0, 10 * time.Second, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := Config{FailureThreshold: 1, CooldownBase: tt.base, CooldownMax: time.Minute, Jitter: tt.jitter}
				b := New(cfg, WithRand(func() float64 { return tt.rnd }))
				failN(t, b, 1, timeout)
				s := b.Snapshot()
				if got := s.CooldownUntil.Sub(s.LastTransition); got != tt.want {
					t.Fatalf("cooldown %v, want %v", got, tt.want)
				}
			})
		})
	}
}

func TestRetryAfterFloor(t *testing.T) {
	limited := func(d time.Duration) faults.Result {
		r := fail(faults.ReasonRateLimited)
		r.RetryAfter = d
		return r
	}
	tests := []struct {
		name    string
		results []faults.Result
		want    time.Duration
	}{
		{"longer retry-after wins", []faults.Result{timeout, timeout, limited(30 * time.Second)}, 30 * time.Second},
		{"shorter retry-after does not shorten", []faults.Result{timeout, timeout, limited(100 * time.Millisecond)}, time.Second},
		{"beats cooldown max", []faults.Result{timeout, timeout, limited(time.Minute)}, time.Minute},
		{"remembered from earlier in the run", []faults.Result{limited(20 * time.Second), timeout, timeout}, 20 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := New(testConfig(), WithRand(noJitter))
				start := time.Now()
				for _, r := range tt.results {
					failN(t, b, 1, r)
				}
				s := b.Snapshot()
				if got := s.CooldownUntil.Sub(start); got != tt.want {
					t.Fatalf("cooldown %v, want %v", got, tt.want)
				}
				time.Sleep(tt.want - time.Millisecond)
				if _, _, ok := b.Allow(); ok {
					t.Fatal("admitted before Retry-After")
				}
			})
		})
	}
}

func TestRetryAfterForgottenAfterSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(testConfig(), WithRand(noJitter))
		r := fail(faults.ReasonRateLimited)
		r.RetryAfter = time.Minute
		failN(t, b, 1, r)
		p, _, _ := b.Allow()
		b.Record(p, true, okResult)
		failN(t, b, 3, timeout)
		if s := b.Snapshot(); s.CooldownUntil.Sub(s.LastTransition) != time.Second {
			t.Fatalf("an old Retry-After outlived a success: %+v", s)
		}
	})
}

func TestQuarantine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(testConfig())
		b.KeyChanged("aaaa1111")
		p, _, _ := b.Allow()
		p.KeyFingerprint = "aaaa1111"
		b.Record(p, false, fail(faults.ReasonInvalidCredentials))
		s := b.Snapshot()
		if s.State != StateQuarantined || s.LastFailureReason != faults.ReasonInvalidCredentials {
			t.Fatalf("one invalid_credentials must quarantine: %+v", s)
		}
		time.Sleep(24 * time.Hour)
		if _, reason, ok := b.Allow(); ok || reason != faults.ReasonQuarantined {
			t.Fatalf("quarantine must not time out: %v %s", ok, reason)
		}
		b.KeyChanged("aaaa1111")
		if b.Snapshot().State != StateQuarantined {
			t.Fatal("the same key healed the quarantine")
		}
		b.KeyChanged("")
		if b.Snapshot().State != StateQuarantined {
			t.Fatal("an empty fingerprint healed the quarantine")
		}
		b.KeyChanged("bbbb2222")
		if s := b.Snapshot(); s.State != StateClosed || s.ConsecutiveFailures != 0 {
			t.Fatalf("rotation must heal at once: %+v", s)
		}
		if _, _, ok := b.Allow(); !ok {
			t.Fatal("healed breaker refused")
		}
	})
}

func TestQuarantineIgnoresRotatedKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(testConfig())
		b.KeyChanged("old00000")
		p, _, _ := b.Allow()
		p.KeyFingerprint = "old00000"
		b.KeyChanged("new11111") // rotated while the attempt was in flight
		b.Record(p, false, fail(faults.ReasonInvalidCredentials))
		if s := b.Snapshot(); s.State != StateClosed {
			t.Fatalf("the new key was quarantined for the old key's rejection: %+v", s)
		}
	})
}

func TestRecordByClass(t *testing.T) {
	tests := []struct {
		name        string
		res         faults.Result
		wantConsec  int
		wantState   string
		wantLastErr faults.Reason
	}{
		{"transient counts", timeout, 3, StateClosed, faults.ReasonTimeout},
		{"hard counts", fail(faults.ReasonModelNotFound), 3, StateClosed, faults.ReasonModelNotFound},
		{"semantic proves the provider is up", fail(faults.ReasonContextTooLarge), 0, StateClosed, ""},
		{"local is not the provider's fault", fail(faults.ReasonKeyUnavailable), 2, StateClosed, faults.ReasonTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := testConfig()
				cfg.FailureThreshold = 10
				b := New(cfg)
				failN(t, b, 2, timeout)
				failN(t, b, 1, tt.res)
				s := b.Snapshot()
				if s.ConsecutiveFailures != tt.wantConsec || s.State != tt.wantState {
					t.Fatalf("%+v", s)
				}
				if tt.wantConsec > 0 && s.LastFailureReason != tt.wantLastErr {
					t.Fatalf("last reason %s, want %s", s.LastFailureReason, tt.wantLastErr)
				}
			})
		})
	}
}

func TestLocalOutcomeHandsBackTheProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(testConfig(), WithRand(noJitter))
		failN(t, b, 3, timeout)
		time.Sleep(time.Second)
		p, _, _ := b.Allow()
		b.Record(p, false, fail(faults.ReasonDeadlineExceeded))
		s := b.Snapshot()
		if s.State != StateOpen || s.Openings != 1 {
			t.Fatalf("a probe that never reached the provider must not re-open: %+v", s)
		}
		if p, _, ok := b.Allow(); !ok || !p.Probe {
			t.Fatal("the next caller must get the probe at once")
		}
	})
}

func TestStalePermitIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(testConfig(), WithRand(noJitter))
		early, _, _ := b.Allow()
		failN(t, b, 3, timeout)
		b.Record(early, true, okResult)
		if s := b.Snapshot(); s.State != StateOpen {
			t.Fatalf("a success admitted before opening closed the breaker: %+v", s)
		}
	})
}

func TestFailureRatio(t *testing.T) {
	const S, F = true, false
	tests := []struct {
		name     string
		outcomes []bool
		gap      time.Duration // sleep before each outcome
		want     string
	}{
		{"half failed at threshold attempts", []bool{S, F, S, F}, 0, StateOpen},
		{"below ratio", []bool{S, S, F, S, F, S}, 0, StateClosed},
		{"too few attempts", []bool{F, S, F}, 0, StateClosed},
		{"old outcomes age out", []bool{F, S, F, S}, 4 * time.Second, StateClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := ratioBreaker(0.5)
				for _, ok := range tt.outcomes {
					time.Sleep(tt.gap)
					p, _, admitted := b.Allow()
					if !admitted {
						t.Fatal("refused")
					}
					res := okResult
					if !ok {
						res = timeout
					}
					b.Record(p, ok, res)
				}
				if s := b.Snapshot(); s.State != tt.want {
					t.Fatalf("state %s, want %s (%+v)", s.State, tt.want, s)
				}
			})
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	got := Config{Multiplier: 0.5, Jitter: 3, CooldownBase: time.Hour}.normalized()
	want := Config{FailureThreshold: DefaultFailureThreshold, Window: DefaultWindow, CooldownBase: time.Hour,
		CooldownMax: time.Hour, Multiplier: 1, Jitter: 1, ProbeTimeout: DefaultProbeTimeout}
	if got != want {
		t.Fatalf("normalized = %+v, want %+v", got, want)
	}
	if got := (Config{}).normalized(); got.Multiplier != 2 || got.CooldownMax != DefaultCooldownMax {
		t.Fatalf("zero config: %+v", got)
	}
}

func TestSet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewSet(WithRand(noJitter))
		cfg := testConfig()
		var wg sync.WaitGroup
		got := make([]*Breaker, 50)
		for i := range got {
			wg.Go(func() { got[i] = s.Get("groq/llama/a1b2", cfg) })
		}
		wg.Wait()
		for _, b := range got {
			if b != got[0] {
				t.Fatal("concurrent Get created two breakers for one target")
			}
		}
		failN(t, got[0], 3, timeout)

		// A policy edit reaches the breaker and keeps its state.
		cfg2 := cfg
		cfg2.CooldownBase = 3 * time.Second
		b := s.Get("groq/llama/a1b2", cfg2)
		if b != got[0] || b.Snapshot().State != StateOpen {
			t.Fatal("config change lost the breaker")
		}
		time.Sleep(time.Second)
		p, _, _ := b.Allow()
		b.Record(p, false, timeout)
		if st := b.Snapshot(); st.CooldownUntil.Sub(st.LastTransition) != 6*time.Second {
			t.Fatalf("second cooldown must use the new base: %+v", st)
		}

		s.Get("openai/gpt/c3d4", cfg)
		snap := s.Snapshot()
		if len(snap) != 2 || snap["groq/llama/a1b2"].State != StateOpen || snap["openai/gpt/c3d4"].State != StateClosed {
			t.Fatalf("snapshot %+v", snap)
		}
		s.Retain(func(id string) bool { return id == "openai/gpt/c3d4" })
		if snap := s.Snapshot(); len(snap) != 1 {
			t.Fatalf("after Retain: %+v", snap)
		}
		var zero Set
		if zero.Get("x", cfg) == nil {
			t.Fatal("zero Set unusable")
		}
	})
}

func TestRetryBudget(t *testing.T) {
	tests := []struct {
		name     string
		cfg      RetryBudgetConfig
		requests int
		want     int // fallbacks allowed right after the requests
	}{
		{"ratio", RetryBudgetConfig{Ratio: 0.2}, 100, 20},
		{"floor beats ratio at low traffic", RetryBudgetConfig{Ratio: 0.2, MinPerSecond: 1}, 5, 10},
		{"ratio beats floor at high traffic", RetryBudgetConfig{Ratio: 0.5, MinPerSecond: 1}, 100, 50},
		{"zero allows none", RetryBudgetConfig{}, 100, 0},
		{"negative ratio allows none", RetryBudgetConfig{Ratio: -1}, 100, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rb := NewRetryBudget(tt.cfg, nil)
				for range tt.requests {
					rb.OnRequest()
				}
				got := 0
				for rb.TryFallback() {
					got++
					if got > 1000 {
						t.Fatal("unbounded")
					}
				}
				if got != tt.want {
					t.Fatalf("allowed %d fallbacks, want %d", got, tt.want)
				}
			})
		})
	}
}

func TestRetryBudgetWindowSlides(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The bubble starts on a whole second, so the 1 s buckets line up with these sleeps.
		rb := NewRetryBudget(RetryBudgetConfig{Ratio: 0.5}, nil)
		for range 10 {
			rb.OnRequest()
		}
		for range 5 {
			if !rb.TryFallback() {
				t.Fatal("within budget refused")
			}
		}
		if rb.TryFallback() {
			t.Fatal("budget exceeded")
		}
		time.Sleep(10*time.Second - time.Millisecond)
		if rb.TryFallback() {
			t.Fatal("spent fallbacks forgotten 1ms too early")
		}
		time.Sleep(time.Millisecond)
		// Requests and fallbacks both aged out: with no traffic and no floor, nothing is allowed.
		if rb.TryFallback() {
			t.Fatal("fallback allowed with no traffic in the window")
		}
		for range 2 {
			rb.OnRequest()
		}
		if !rb.TryFallback() || rb.TryFallback() {
			t.Fatal("new window: want exactly one fallback for two requests")
		}
		rb.SetConfig(RetryBudgetConfig{Ratio: 1})
		if !rb.TryFallback() || rb.TryFallback() {
			t.Fatal("after SetConfig: want one more fallback")
		}
	})
}

func BenchmarkAllowParallel(b *testing.B) {
	b.Run("closed", func(b *testing.B) {
		br := New(testConfig())
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, ok := br.Allow(); !ok {
					b.Error("refused")
				}
			}
		})
	})
	b.Run("open", func(b *testing.B) {
		br := New(Config{FailureThreshold: 1, CooldownBase: time.Hour, CooldownMax: time.Hour})
		p, _, _ := br.Allow()
		br.Record(p, false, timeout)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, ok := br.Allow(); ok {
					b.Error("admitted")
				}
			}
		})
	})
	b.Run("set_get_allow_record", func(b *testing.B) {
		s := NewSet()
		cfg := testConfig()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				br := s.Get("groq/llama/a1b2", cfg)
				p, _, _ := br.Allow()
				br.Record(p, true, okResult)
			}
		})
	})
}

// TestOnOpenFiresOnceWhenTheBreakerOpensOrQuarantines: callbacks of attempts in flight run exactly once, when
// the breaker opens or quarantines; an unregistered one never runs; successes and sub-threshold failures run none.
func TestOnOpenFiresOnceWhenTheBreakerOpensOrQuarantines(t *testing.T) {
	b := New(testConfig(), WithRand(noJitter))
	var fired, gone int
	b.OnOpen(func() { fired++ })
	stop := b.OnOpen(func() { gone++ })
	stop()
	failN(t, b, testConfig().FailureThreshold-1, timeout)
	p, _, _ := b.Allow()
	b.Record(p, true, faults.Result{Reason: faults.ReasonOK})
	if fired != 0 {
		t.Fatalf("fired %d times before the breaker opened", fired)
	}
	failN(t, b, testConfig().FailureThreshold, timeout)
	if fired != 1 || gone != 0 {
		t.Fatalf("fired %d times (want 1), unregistered callback ran %d times", fired, gone)
	}

	q := New(testConfig(), WithRand(noJitter))
	quarantined := 0
	q.OnOpen(func() { quarantined++ })
	p, _, _ = q.Allow()
	q.Record(p, false, fail(faults.ReasonInvalidCredentials))
	if quarantined != 1 {
		t.Fatalf("quarantine fired %d callbacks, want 1", quarantined)
	}
}

// Slow counts a waiting attempt as a timeout failure at once; it opens at the threshold (firing OnOpen), a
// later success still closes the run, and neither a probe nor a permit from before a transition is counted.
func TestSlowCountsAsAFailureNow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(testConfig(), WithRand(noJitter))
		var opened int
		b.OnOpen(func() { opened++ })
		p1, _, _ := b.Allow()
		p2, _, _ := b.Allow()
		if !b.Slow(p1) || !b.Slow(p2) {
			t.Fatal("slow attempts of a closed breaker not counted")
		}
		if s := b.Snapshot(); s.State != StateClosed || s.ConsecutiveFailures != 2 || s.LastFailureReason != faults.ReasonTimeout {
			t.Fatalf("after 2 slow attempts: %+v", s)
		}
		b.Record(p1, true, okResult) // the first one answered after all
		if s := b.Snapshot(); s.ConsecutiveFailures != 0 {
			t.Fatalf("an answer after turning slow must close the run: %+v", s)
		}
		var ps []Permit
		for range 3 {
			p, _, _ := b.Allow()
			ps = append(ps, p)
		}
		for i, p := range ps {
			if !b.Slow(p) {
				t.Fatalf("slow attempt %d not counted", i)
			}
		}
		if s := b.Snapshot(); s.State != StateOpen || opened != 1 {
			t.Fatalf("after 3 slow attempts: %+v, OnOpen fired %d times", s, opened)
		}
		if b.Slow(p2) {
			t.Fatal("a permit from before the breaker opened was counted")
		}
		time.Sleep(time.Second)
		probe, _, ok := b.Allow()
		if !ok || !probe.Probe {
			t.Fatalf("no probe after the cooldown: %+v", probe)
		}
		if b.Slow(probe) {
			t.Fatal("a probe was counted as slow: it has its own timeout")
		}
		if s := b.Snapshot(); s.State != StateHalfOpen {
			t.Fatalf("Slow of a probe changed the state: %+v", s)
		}
	})
}

// ratioBreaker is a breaker that opens when failures over a 10 s window reach ratio of at least 4 attempts, or
// after 4 consecutive failures.
func ratioBreaker(ratio float64) *Breaker {
	cfg := testConfig()
	cfg.FailureThreshold = 4
	cfg.FailureRatio = ratio
	cfg.Window = 10 * time.Second
	return New(cfg, WithRand(noJitter))
}

// An attempt Slow counted and that then answers is one sample of the FailureRatio window, its slow failure:
// counting its success as well would halve the failure ratio of a target whose every call is slow.
func TestSlowThenSuccessIsOneWindowSample(t *testing.T) {
	for _, countedSlow := range []bool{true, false} {
		t.Run(fmt.Sprintf("CountedSlow=%v", countedSlow), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := ratioBreaker(0.7)
				// Four attempts, each slow and then answering: four slow failures in the window (ratio 1),
				// each run of failures closed by the answer, so only the ratio can open the breaker.
				for i := range 4 {
					p, _, ok := b.Allow()
					if !ok {
						t.Fatalf("attempt %d refused: %+v", i, b.Snapshot())
					}
					if !b.Slow(p) {
						t.Fatalf("attempt %d not counted slow", i)
					}
					p.CountedSlow = countedSlow
					b.Record(p, true, okResult)
				}
				s := b.Snapshot()
				if countedSlow && s.State != StateOpen {
					t.Fatalf("4 of 4 attempts slow, ratio 0.7: state %s, want open (%+v)", s.State, s)
				}
				if !countedSlow && s.State != StateClosed {
					// The double count this guards against: 4 failures and 4 successes is a ratio of 0.5.
					t.Fatalf("with each attempt counted twice the ratio never reaches 0.7 at 4 samples: state %s, want closed (%+v)", s.State, s)
				}
			})
		})
	}
}
