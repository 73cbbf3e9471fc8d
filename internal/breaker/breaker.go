// Package breaker keeps one circuit breaker per target (provider + model + key) and a retry budget per policy.
//
// A breaker is Closed while the target works. Consecutive transport failures (or a failure ratio over a
// sliding window) open it for a cooldown that grows exponentially with each consecutive opening. When the
// cooldown ends exactly one caller gets a probe permit (HalfOpen); its success closes the breaker and resets the
// growth, its failure re-opens it for longer. A probe that never reports is failed after ProbeTimeout. A key the
// provider rejects as invalid puts the breaker in Quarantined until the key's fingerprint changes.
//
// Nothing here starts a goroutine: time-based transitions happen lazily, when Allow, Record or Snapshot next
// look at the clock, and are dated at the instant they were due, so the observed history does not depend on
// when someone happened to look.
package breaker

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llmroute/llmroute/internal/faults"
)

// Defaults applied to zero fields of Config; they match the RoutePolicy CRD defaults.
const (
	DefaultFailureThreshold = 5
	DefaultWindow           = 30 * time.Second
	DefaultCooldownBase     = 5 * time.Second
	DefaultCooldownMax      = 5 * time.Minute
	DefaultMultiplier       = 2.0
	DefaultProbeTimeout     = 5 * time.Second
)

// Config configures a Breaker. Zero fields take the Default* values, except FailureRatio (0 disables the ratio
// rule) and Jitter (0 means none).
type Config struct {
	// FailureThreshold is the number of consecutive failures that opens the breaker, and the minimum number of
	// attempts in the window before FailureRatio applies.
	FailureThreshold int
	// FailureRatio opens the breaker when failures/attempts over Window reaches it; 0 turns the rule off.
	FailureRatio float64
	// Window is the span over which FailureRatio is measured, in tenths.
	Window time.Duration
	// CooldownBase is the cooldown of the first opening.
	CooldownBase time.Duration
	// CooldownMax caps every cooldown (except a longer Retry-After, which the provider asked for explicitly).
	CooldownMax time.Duration
	// Multiplier is the growth of consecutive cooldowns; values below 1 are taken as 1.
	Multiplier float64
	// Jitter spreads each cooldown by up to ±Jitter of itself, so that routers do not probe in lockstep.
	Jitter float64
	// ProbeTimeout is how long the half-open probe may take before it counts as failed.
	ProbeTimeout time.Duration
	// SlowCall, when > 0, is how long an attempt may wait for its answer before the caller reports it with Slow,
	// which counts it as a timeout failure at once. The breaker only carries it; the caller keeps the time.
	SlowCall time.Duration
}

func (c Config) normalized() Config {
	if c.FailureThreshold <= 0 {
		c.FailureThreshold = DefaultFailureThreshold
	}
	if c.FailureRatio < 0 || c.FailureRatio != c.FailureRatio {
		c.FailureRatio = 0
	}
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.CooldownBase <= 0 {
		c.CooldownBase = DefaultCooldownBase
	}
	if c.CooldownMax <= 0 {
		c.CooldownMax = DefaultCooldownMax
	}
	c.CooldownMax = max(c.CooldownMax, c.CooldownBase)
	switch {
	case c.Multiplier == 0:
		c.Multiplier = DefaultMultiplier
	case c.Multiplier < 1 || c.Multiplier != c.Multiplier:
		c.Multiplier = 1
	}
	c.Jitter = min(max(c.Jitter, 0), 1)
	if c.Jitter != c.Jitter {
		c.Jitter = 0
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = DefaultProbeTimeout
	}
	return c
}

// State names reported by Snapshot, as they appear on the router's state endpoint.
const (
	StateClosed      = "closed"
	StateOpen        = "open"
	StateHalfOpen    = "half_open"
	StateQuarantined = "quarantined"
)

type kind uint8

const (
	closed kind = iota
	open
	halfOpen
	quarantined
)

var kindNames = [...]string{closed: StateClosed, open: StateOpen, halfOpen: StateHalfOpen, quarantined: StateQuarantined}

// Option configures a Breaker or a Set.
type Option func(*options)

type options struct {
	now  func() time.Time
	rand func() float64
}

// WithClock replaces time.Now, for tests and simulations.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithRand replaces the jitter source; it must return values in [0, 1). 0.5 means no jitter.
func WithRand(r func() float64) Option { return func(o *options) { o.rand = r } }

func buildOptions(opts []Option) options {
	o := options{now: time.Now, rand: rand.Float64}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Permit is an admission granted by Allow; report its outcome with Record exactly once.
type Permit struct {
	// Probe is true for the single half-open probe; the caller may want to mark it in the decision event.
	Probe bool
	// KeyFingerprint is the fingerprint of the key the attempt used. Set it before Record so that an
	// invalid_credentials failure quarantines that key, and a failure of a key rotated since is not blamed on
	// the new one.
	KeyFingerprint string
	// CountedSlow is true once Slow counted the attempt as a failure: set it before Record, so that a later
	// success closes the run of failures without adding a second sample of the same attempt to the
	// FailureRatio window (where it would count as one failure and one success).
	CountedSlow bool
	gen         uint64
}

// State is a breaker's state as reported to the router's state endpoint and aggregated into RoutePolicy status.
type State struct {
	// State is one of StateClosed, StateOpen, StateHalfOpen, StateQuarantined.
	State string `json:"state"`
	// CooldownUntil is when the current cooldown ends (open and half_open only).
	CooldownUntil time.Time `json:"cooldown_until,omitzero"`
	// ConsecutiveFailures counts failures since the last success.
	ConsecutiveFailures int `json:"consecutive_failures"`
	// Openings counts consecutive openings since the last success: the k of the cooldown formula.
	Openings int `json:"openings"`
	// LastFailureReason is the reason code of the latest failure.
	LastFailureReason faults.Reason `json:"last_failure_reason,omitempty"`
	// LastTransition is when State last changed.
	LastTransition time.Time `json:"last_transition,omitzero"`
}

// Breaker is the circuit breaker of one target. It is safe for concurrent use.
type Breaker struct {
	// word mirrors (generation << 2 | kind) so that Allow on a Closed breaker, by far the common case, costs one
	// atomic load and no lock. It is only written under mu.
	word atomic.Uint64
	// raw is the Config as given, compared by Set.Get to notice a policy change without locking.
	raw atomic.Pointer[Config]
	// openUntil mirrors cooldownUntil (Unix ns) so that refusing during a cooldown, the common case in an
	// outage, takes no lock either.
	openUntil atomic.Int64
	// curFP mirrors keyFP so that KeyChanged with the key already known, called on every request, takes no lock.
	curFP atomic.Pointer[string]

	mu   sync.Mutex
	cfg  Config // normalized
	now  func() time.Time
	rand func() float64

	kind           kind
	gen            uint64 // bumped on every transition; permits of an older generation are ignored
	consecutive    int
	openings       int
	cooldownUntil  time.Time
	probeDeadline  time.Time
	retryFloor     time.Time // latest Retry-After deadline since the last success
	lastReason     faults.Reason
	lastTransition time.Time
	watchers       map[uint64]func() // OnOpen callbacks of attempts in flight
	nextWatch      uint64
	keyFP          string // fingerprint of the key currently in use, as last reported
	quarantinedFP  string
	win            window // attempts (a) and failures (b) while closed, for FailureRatio
}

// New returns a Closed breaker.
func New(cfg Config, opts ...Option) *Breaker {
	o := buildOptions(opts)
	b := &Breaker{now: o.now, rand: o.rand}
	b.setConfigLocked(cfg)
	b.lastTransition = b.now()
	return b
}

// SetConfig applies a new configuration without losing the breaker's state. The next cooldown uses it.
func (b *Breaker) SetConfig(cfg Config) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.setConfigLocked(cfg)
}

func (b *Breaker) setConfigLocked(cfg Config) {
	c := cfg
	b.raw.Store(&c)
	n := cfg.normalized()
	if n.Window != b.cfg.Window {
		b.win = newWindow(n.Window)
	}
	b.cfg = n
}

// Allow asks whether an attempt may go to the target. When it may not, the reason is breaker_open or
// quarantined. When a cooldown has ended, exactly one caller gets a permit with Probe set, and every other
// caller is refused until that probe reports or its ProbeTimeout passes.
func (b *Breaker) Allow() (Permit, faults.Reason, bool) {
	switch w := b.word.Load(); kind(w & 3) {
	case closed:
		return Permit{gen: w >> 2}, "", true
	case quarantined:
		return Permit{}, faults.ReasonQuarantined, false
	case open:
		if b.now().UnixNano() < b.openUntil.Load() {
			return Permit{}, faults.ReasonBreakerOpen, false
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.expireProbe(now)
	switch b.kind {
	case closed:
		return Permit{gen: b.gen}, "", true
	case quarantined:
		return Permit{}, faults.ReasonQuarantined, false
	case open:
		if now.Before(b.cooldownUntil) {
			return Permit{}, faults.ReasonBreakerOpen, false
		}
		b.transition(halfOpen, now)
		b.probeDeadline = now.Add(b.cfg.ProbeTimeout)
		return Permit{Probe: true, gen: b.gen}, "", true
	default: // half-open: the probe is still out
		return Permit{}, faults.ReasonBreakerOpen, false
	}
}

// Record reports the outcome of an attempt admitted by p. success is true when the provider answered usably.
// Of the failures:
//   - transient and hard ones count toward opening (a 404 model or a 403 will not heal by itself, so keeping
//     the target out spares every request a wasted round trip);
//   - invalid_credentials quarantines the key;
//   - semantic ones prove the provider is up and count as successes for the breaker;
//   - local ones never reached the provider and leave the state as it was (a probe permit is handed back).
//
// A permit from before the latest transition is ignored: its outcome describes a state that no longer holds.
func (b *Breaker) Record(p Permit, success bool, res faults.Result) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.expireProbe(now)
	if p.gen != b.gen {
		return
	}
	switch {
	case success || res.Class == faults.ClassSemantic:
		b.onSuccess(now, !p.CountedSlow)
	case res.Reason == faults.ReasonInvalidCredentials:
		b.quarantine(now, p.KeyFingerprint)
	case res.Class == faults.ClassTransient || res.Class == faults.ClassHard:
		b.onFailure(now, res)
	default:
		if b.kind == halfOpen {
			// The probe never reached the provider: give the turn back, so the next caller probes at once.
			b.transition(open, now)
		}
	}
}

// Slow reports that the attempt admitted by p is still waiting for its answer after Config.SlowCall. It counts
// as a timeout failure now, toward FailureThreshold and FailureRatio, so that a target that accepts requests
// and then hangs opens after FailureThreshold slow attempts rather than after FailureThreshold of them have run
// out their whole timeout; opening cuts the attempts waiting on it (OnOpen). It returns whether the failure was
// counted. When it was, the attempt has had its say: if it later fails, Record it with a local class so it is
// not counted twice; if it later succeeds, Record the success with Permit.CountedSlow set, which closes the run
// of failures and leaves the window's one sample of the attempt (the slow failure) as it is. A probe is never
// slow: it has its own ProbeTimeout.
func (b *Breaker) Slow(p Permit) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.expireProbe(now)
	if p.gen != b.gen || p.Probe || b.kind != closed {
		return false
	}
	b.onFailure(now, faults.Result{Class: faults.ClassTransient, Reason: faults.ReasonTimeout})
	return true
}

// KeyChanged tells the breaker which key the target now uses. A quarantined breaker whose key was rotated
// heals at once, since the rejection was about the old key.
func (b *Breaker) KeyChanged(fingerprint string) {
	if fingerprint == "" {
		return
	}
	if cur := b.curFP.Load(); cur != nil && *cur == fingerprint && kind(b.word.Load()&3) != quarantined {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.keyFP = fingerprint
	fp := fingerprint // a copy, so that only this rare path allocates: storing &fingerprint moved every call's argument to the heap
	b.curFP.Store(&fp)
	if b.kind == quarantined && fingerprint != b.quarantinedFP {
		b.reset()
		b.transition(closed, b.now())
	}
}

// Snapshot returns the breaker's current state.
func (b *Breaker) Snapshot() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expireProbe(b.now())
	s := State{
		State:               kindNames[b.kind],
		ConsecutiveFailures: b.consecutive,
		Openings:            b.openings,
		LastFailureReason:   b.lastReason,
		LastTransition:      b.lastTransition,
	}
	if b.kind == open || b.kind == halfOpen {
		s.CooldownUntil = b.cooldownUntil
	}
	return s
}

func (b *Breaker) transition(to kind, at time.Time) {
	b.kind = to
	b.gen++
	b.lastTransition = at
	b.word.Store(b.gen<<2 | uint64(to))
	if to == open || to == quarantined {
		for id, f := range b.watchers {
			delete(b.watchers, id)
			f()
		}
	}
}

// OnOpen registers f to be called once, when the breaker next opens or quarantines its target, so that an
// attempt still waiting on a target that has just been declared broken stops waiting instead of running out its
// timeout. It returns the function that unregisters f; call it when the attempt ends. f runs with the breaker's
// lock held: it must be quick and must not call the breaker (a context's cancel function is the intended use).
func (b *Breaker) OnOpen(f func()) (stop func()) {
	b.mu.Lock()
	if b.watchers == nil {
		b.watchers = make(map[uint64]func())
	}
	b.nextWatch++
	id := b.nextWatch
	b.watchers[id] = f
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.watchers, id)
		b.mu.Unlock()
	}
}

// expireProbe fails a probe that outlived its timeout, dated at its deadline rather than at the time someone
// noticed, so the next cooldown does not depend on traffic.
func (b *Breaker) expireProbe(now time.Time) {
	if b.kind != halfOpen || now.Before(b.probeDeadline) {
		return
	}
	b.consecutive++
	b.lastReason = faults.ReasonTimeout
	b.open(b.probeDeadline)
}

// onSuccess records a success; sample is false when the attempt already has its sample in the window.
func (b *Breaker) onSuccess(now time.Time, sample bool) {
	if b.kind == halfOpen {
		b.reset()
		b.transition(closed, now)
		return
	}
	b.consecutive = 0
	b.retryFloor = time.Time{}
	if sample && b.cfg.FailureRatio > 0 {
		b.win.add(now, 1, 0)
	}
}

func (b *Breaker) onFailure(now time.Time, res faults.Result) {
	b.consecutive++
	b.lastReason = res.Reason
	if res.RetryAfter > 0 {
		if until := now.Add(res.RetryAfter); until.After(b.retryFloor) {
			b.retryFloor = until
		}
	}
	if b.kind == halfOpen {
		b.open(now)
		return
	}
	trip := b.consecutive >= b.cfg.FailureThreshold
	if b.cfg.FailureRatio > 0 {
		b.win.add(now, 1, 1)
		attempts, failures := b.win.sum(now)
		trip = trip || (attempts >= b.cfg.FailureThreshold &&
			float64(failures) >= b.cfg.FailureRatio*float64(attempts))
	}
	if trip {
		b.open(now)
	}
}

func (b *Breaker) quarantine(now time.Time, fp string) {
	if fp == "" {
		fp = b.keyFP
	} else if b.keyFP != "" && fp != b.keyFP {
		// The rejected key has been rotated out since the attempt started; the current key is not to blame.
		return
	}
	b.consecutive++
	b.lastReason = faults.ReasonInvalidCredentials
	b.quarantinedFP = fp
	b.transition(quarantined, now)
}

// open starts the next cooldown: the k-th consecutive opening lasts min(base × multiplier^(k-1), max), spread
// by ±jitter and clamped to max again, and never ends before a Retry-After the provider gave. The provider's
// word beats CooldownMax: probing earlier would only collect more 429s.
func (b *Breaker) open(at time.Time) {
	b.openings++
	c := b.cfg
	d := float64(c.CooldownBase) * math.Pow(c.Multiplier, float64(b.openings-1))
	d = min(d, float64(c.CooldownMax)) // also catches +Inf
	if c.Jitter > 0 {
		d *= 1 + c.Jitter*(2*b.rand()-1)
		d = min(max(d, 0), float64(c.CooldownMax))
	}
	until := at.Add(time.Duration(d))
	if b.retryFloor.After(until) {
		until = b.retryFloor
	}
	b.cooldownUntil = until
	b.openUntil.Store(until.UnixNano())
	b.transition(open, at)
}

func (b *Breaker) reset() {
	b.consecutive = 0
	b.openings = 0
	b.retryFloor = time.Time{}
	b.cooldownUntil = time.Time{}
	b.win.reset()
}
