package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llmroute/llmroute/internal/breaker"
	"github.com/llmroute/llmroute/internal/decision"
	"github.com/llmroute/llmroute/internal/faults"
	"github.com/llmroute/llmroute/internal/keys"
	"github.com/llmroute/llmroute/internal/policy"
	"github.com/llmroute/llmroute/internal/providers"
	"github.com/llmroute/llmroute/internal/routerconfig"
)

func randomSeed() uint64 { return rand.Uint64() }

// run is the state of one request's attempt loop.
type run struct {
	e     *Engine
	ctx   context.Context
	snap  *Snapshot
	p     *policy.Policy
	in    *Inbound
	req   policy.Request
	ev    *decision.Event
	out   *Outcome
	start time.Time
	// deadline is start + MaxLatency on the engine's clock; zero when the policy sets none.
	deadline time.Time
	seed     uint64

	tried    []bool
	obs      []policy.Observation
	spent    float64
	billed   bool
	failures []string // "target: reason", for the client's error message
	// details explain exclusions decided during the request (a target that cannot express it), by target.
	details  map[string]string
	lastFail faults.Result
	chosen   *policy.Candidate
	emitted  bool
}

// execute is Execute. Every return path goes through r.fail or r.succeed, which emit the event; the deferred
// recover covers a panic in an adapter, so even then exactly one event is recorded.
func (e *Engine) execute(ctx context.Context, snap *Snapshot, in *Inbound) (out *Outcome) {
	start := e.now()
	if in == nil {
		in = &Inbound{}
	}
	id := in.RequestID
	if id == "" {
		id = decision.NewRequestID()
	}
	out = &Outcome{}
	r := &run{e: e, ctx: ctx, snap: snap, in: in, out: out, start: start, ev: decision.New(id, in.Route, start)}
	out.Event = r.ev
	defer func() {
		if v := recover(); v != nil {
			if !r.emitted {
				r.fail(http.StatusInternalServerError, faults.ReasonNoEligibleTarget, "api_error", "internal error", nil)
			}
			panic(v)
		}
	}()

	p, ok := snap.Policy(in.Route)
	if !ok {
		r.fail(http.StatusNotFound, faults.ReasonNoEligibleTarget, "invalid_request_error",
			fmt.Sprintf("the model %q is not a route of this router", faults.Sanitize(in.Route, nil)), nil)
		return out
	}
	e.observeSnapshot(snap)
	r.p = p
	r.ev.Policy = p.Name
	if p.HardCapUSD != nil || p.SoftCapUSD != nil {
		r.ev.Budget = &decision.Budget{HardCapUSD: p.HardCapUSD, SoftCapUSD: p.SoftCapUSD}
	}
	if in.Req == nil {
		r.fail(http.StatusBadRequest, faults.ReasonBadRequest, "invalid_request_error", "empty request", nil)
		return out
	}
	if in.KeyOverride != nil && !p.AllowRequestKeyOverride {
		// Refused before planning: the client believes it pays with its own key, so silently using ours
		// would be wrong, and so would trying another target.
		r.fail(http.StatusForbidden, faults.ReasonKeyUnavailable, "permission_error",
			"this route does not accept a provider key from the request", nil)
		return out
	}
	r.req = describe(in.Req, in.Stream)
	if p.MaxLatency > 0 {
		r.deadline = start.Add(p.MaxLatency)
	}
	r.seed = e.seed()
	r.tried = make([]bool, len(p.Targets))
	r.obs = make([]policy.Observation, len(p.Targets))
	e.budget(p).OnRequest()
	r.loop()
	return out
}

// remaining is the time left before the request's deadline on the engine's clock; a policy without a
// deadline has all the time the per-attempt timeouts give it.
func (r *run) remaining() time.Duration {
	if r.deadline.IsZero() {
		return time.Duration(1<<62 - 1)
	}
	return r.deadline.Sub(r.e.now())
}

func (r *run) attempts() int { return len(r.ev.Attempts) }

func (r *run) loop() {
	first := true
	for {
		if r.attempts() >= r.p.MaxAttempts {
			r.failExhausted()
			return
		}
		if err := r.ctx.Err(); err != nil {
			r.fail(http.StatusGatewayTimeout, faults.ReasonDeadlineExceeded, "timeout_error", "the client went away", nil)
			return
		}
		rem := r.remaining()
		if rem <= 0 {
			r.fail(http.StatusGatewayTimeout, faults.ReasonDeadlineExceeded, "timeout_error",
				fmt.Sprintf("the route's deadline of %s ran out", r.p.MaxLatency), nil)
			return
		}
		r.observe()
		plan := r.p.Plan(r.req, r.obs, rem, r.spent, r.tried, r.seed)
		if first {
			r.recordPlan(plan)
			first = false
		}
		if plan.Eligible == 0 {
			r.failExhausted()
			return
		}
		c := plan.Candidates[0]
		done := r.try(&c)
		if done {
			return
		}
	}
}

// observe fills the planner's observations from the breakers and latency tracker.
func (r *run) observe() {
	for i := range r.p.Targets {
		t := &r.p.Targets[i]
		st := r.e.breaker(t, r.p).Snapshot()
		o := policy.Observation{P95: r.e.latency.P95(upstreamOf(t))}
		if st.State == breaker.StateQuarantined {
			// A rotated key heals the quarantine; the breaker must hear of it before the planner excludes the
			// target, or a rotation would never be tried.
			if res, err := r.resolveKey(t); err == nil && res.Source != keys.SourceRequest {
				br := r.e.breaker(t, r.p)
				br.KeyChanged(res.Secret.Fingerprint())
				st = br.Snapshot()
			}
		}
		switch st.State {
		case breaker.StateOpen:
			// The breaker moves to half-open lazily, on the next Allow. Once the cooldown is over the target
			// keeps its normal rank rather than Degraded: a degraded target ranks after every healthy one, so
			// while the others work its probe would never be sent and it would never recover. Allow then hands
			// the single probe to one request.
			o.BreakerOpen = r.e.now().Before(st.CooldownUntil)
		case breaker.StateHalfOpen:
			// The probe is out: Allow refuses everyone else, so rank it last and skip it without a call.
			o.Degraded = true
		case breaker.StateQuarantined:
			o.Quarantined = true
		}
		// A skip decided during this request (Allow refused) outlives the snapshot's view of the breaker.
		o.BreakerOpen = o.BreakerOpen || r.obs[i].BreakerOpen
		o.Quarantined = o.Quarantined || r.obs[i].Quarantined
		r.obs[i] = o
	}
}

func (r *run) recordPlan(plan policy.Plan) {
	r.ev.Candidates = make([]decision.Candidate, len(plan.Candidates))
	for i, c := range plan.Candidates {
		dc := decision.Candidate{Target: c.Target.Name, Eligible: c.Eligible, Score: c.Score,
			Excluded: faults.Reason(c.Excluded), SoftCapExceeded: c.SoftCapExceeded}
		if c.CostKnown {
			dc.EstMaxCostUSD = decision.Float(c.EstMaxCostUSD)
		}
		r.ev.Candidates[i] = dc
	}
	if plan.Eligible > 0 {
		t := plan.Candidates[0].Target
		r.ev.Route = &decision.Route{Target: t.Name, Provider: string(t.Provider), Model: t.Model, Score: plan.Candidates[0].Score}
	}
}

// skipUnsupported skips t for a request its wire format or API cannot serve, keeping err as the detail.
func (r *run) skipUnsupported(t *policy.Target, err error) {
	if r.details == nil {
		r.details = map[string]string{}
	}
	r.details[t.Name] = faults.Sanitize(err.Error(), nil)
	r.skip(t, faults.ReasonMissingCapability)
}

// skip marks a candidate the loop refused without a network call, both for later plans and in the event.
func (r *run) skip(t *policy.Target, reason faults.Reason) {
	r.tried[t.Index] = true
	switch reason {
	case faults.ReasonBreakerOpen:
		r.obs[t.Index].BreakerOpen = true
	case faults.ReasonQuarantined:
		r.obs[t.Index].Quarantined = true
	}
	for i := range r.ev.Candidates {
		if c := &r.ev.Candidates[i]; c.Target == t.Name && c.Eligible {
			c.Eligible, c.Score, c.Excluded = false, 0, reason
		}
	}
	r.failures = append(r.failures, r.describeExclusion(t.Name, reason))
}

// describeExclusion is "target: reason", with the detail of an exclusion decided while routing when there is one.
func (r *run) describeExclusion(target string, reason faults.Reason) string {
	s := target + ": " + string(reason)
	if d, ok := r.details[target]; ok {
		s += " (" + d + ")"
	}
	return s
}

// try makes one attempt on c, or skips it. It reports whether the request is finished.
func (r *run) try(c *policy.Candidate) bool {
	t := c.Target
	e := r.e
	if r.in.Req.CountTokens {
		// Decided before the key, the breaker and the retry budget, none of which a target that cannot count
		// should touch or spend.
		if err := providers.CanCountTokens(e.adapter, string(t.Provider)); err != nil {
			r.skipUnsupported(t, err)
			return false
		}
	}
	// The key is resolved first: it is local and cheap, and the breaker must learn a rotated fingerprint
	// before it is asked, so a rotation heals a quarantine for this very request.
	res, err := r.resolveKey(t)
	if err != nil {
		r.skip(t, faults.ReasonKeyUnavailable)
		return false
	}
	fp := res.Secret.Fingerprint()
	br := e.breaker(t, r.p)
	if res.Source != keys.SourceRequest {
		// A client's own key must not heal or re-key the shared breaker of the configured key.
		br.KeyChanged(fp)
	}
	permit, why, ok := br.Allow()
	if !ok {
		r.skip(t, why)
		return false
	}
	permit.KeyFingerprint = fp
	if r.attempts() > 0 && !e.budget(r.p).TryFallback() {
		br.Record(permit, false, faults.Result{Class: faults.ClassLocal, Reason: faults.ReasonRetryBudgetExhausted})
		r.fail(http.StatusTooManyRequests, faults.ReasonRetryBudgetExhausted, "rate_limit_error",
			"fallback refused: the route's retry budget is spent; "+r.failureSummary(), nil)
		return true
	}

	rem := r.remaining()
	timeout := r.p.PerAttemptTimeout
	if timeout <= 0 || timeout > rem {
		timeout = rem
	}
	cutByDeadline := r.p.PerAttemptTimeout <= 0 || rem < r.p.PerAttemptTimeout
	if permit.Probe && r.p.Breaker.ProbeTimeout > 0 && r.p.Breaker.ProbeTimeout < timeout {
		timeout, cutByDeadline = r.p.Breaker.ProbeTimeout, false
	}
	ep := providers.Endpoint{BaseURL: t.BaseURL, Model: t.Model, Key: res.Secret, MaxTokens: c.OutputBound,
		Reasoning: t.Caps.Reasoning}
	n := r.attempts() + 1
	att := decision.Attempt{N: n, Target: t.Name, Key: decision.KeyRefOf(res), Probe: permit.Probe,
		ReasoningDropped: providers.ReasoningDropped(string(t.Provider), ep, r.in.Req)}
	r.out.Target = t
	r.out.Attempts = n
	r.tried[t.Index] = true

	prevTarget := r.out.Target
	ar := e.call(r.ctx, t, ep, r.in.Req, r.in.Stream, timeout, br, slowWatch{after: r.p.Breaker.SlowCall, permit: permit})
	if errors.Is(ar.err, providers.ErrUnsupportedRequest) {
		// The adapter cannot express this request in the target's wire format (an image URL Gemini cannot
		// fetch, a role Anthropic has no place for): nothing was sent and the target is not at fault. Like a
		// capability exclusion it is skipped, without an attempt and without counting against its breaker,
		// which gets the permit back, and the request moves on.
		br.Record(permit, false, faults.Result{Class: faults.ClassLocal, Reason: faults.ReasonMissingCapability})
		r.out.Target, r.out.Attempts = prevTarget, n-1
		r.skipUnsupported(t, ar.err)
		return false
	}
	if ar.err == nil && ar.resp != nil && r.in.Check != nil {
		if err := r.in.Check(ar.resp); err != nil {
			// The provider answered and bills for it; the answer is unusable for this client.
			ar = attemptResult{err: fmt.Errorf("%s: %w: %w", t.Provider, providers.ErrMalformedResponse, err),
				billed: ar.usage, latency: ar.latency, malformed: true}
		}
	}
	att.LatencyMS, att.Latency = ar.latency.Milliseconds(), ar.latency
	if ar.billed != (providers.Usage{}) {
		if cost, known := policy.ActualCost(t, toPolicyUsage(ar.billed)); known {
			r.spent += cost
			r.billed = true
		}
	}
	if ar.err == nil {
		att.Outcome, att.Status = decision.OutcomeOK, http.StatusOK
		if ar.contentFiltered {
			// The provider answered and billed; the client gets its answer (finish_reason content_filter) as
			// OpenAI would send it. Another target would refuse too, so there is nothing to fail over to.
			att.Class, att.Reason = faults.ClassSemantic, faults.ReasonContentFiltered
		}
		r.ev.Attempts = append(r.ev.Attempts, att)
		permit.CountedSlow = ar.countedSlow // its slow failure is already in the breaker's window
		br.Record(permit, true, faults.Result{Reason: faults.ReasonOK, Status: http.StatusOK})
		e.latency.Record(upstreamOf(t), ar.latency)
		r.chosen = c
		r.succeed(c, ar)
		return true
	}

	fr := classify(ar.err, res.Secret, e.now())
	if ar.malformed {
		fr = faults.Result{Class: faults.ClassTransient, Reason: faults.ReasonMalformedResponse, Status: fr.Status,
			Message: fr.Message}
	}
	clientGone := r.ctx.Err() != nil
	if ar.cutByBreaker && !clientGone {
		// Other requests' failures opened the breaker while this one waited: the target is declared broken, so
		// waiting out the timeout would only add latency. The breaker must not count this attempt again.
		fr = faults.Result{Class: faults.ClassLocal, Reason: faults.ReasonBreakerOpen,
			Message: "the target's breaker opened while this attempt was waiting"}
	}
	if clientGone || (fr.Reason == faults.ReasonTimeout && cutByDeadline) {
		// Neither the client leaving nor our own deadline cutting the attempt short says anything about the
		// target, so the breaker must not count it: it hands the permit back.
		fr = faults.Result{Class: faults.ClassLocal, Reason: faults.ReasonDeadlineExceeded, Status: fr.Status, Message: fr.Message}
	}
	att.Outcome, att.Class, att.Reason, att.Status = decision.OutcomeFailed, fr.Class, fr.Reason, fr.Status
	if fr.RetryAfter > 0 {
		att.RetryAfterMS = fr.RetryAfter.Milliseconds()
	}
	r.ev.Attempts = append(r.ev.Attempts, att)
	recorded := fr
	if ar.countedSlow {
		// The breaker already counted this attempt when it turned slow; it must not count it twice.
		recorded = faults.Result{Class: faults.ClassLocal, Reason: fr.Reason, Status: fr.Status}
	}
	if res.Source == keys.SourceRequest && fr.Class == faults.ClassHard {
		// A client's own key being refused says nothing about the configured key the breaker guards.
		recorded = faults.Result{Class: faults.ClassLocal, Reason: fr.Reason, Status: fr.Status}
	}
	br.Record(permit, false, recorded)
	r.lastFail = fr
	r.failures = append(r.failures, t.Name+": "+string(fr.Reason))
	if r.out.FallbackReason == "" {
		r.out.FallbackReason = fr.Reason
	}

	switch {
	case fr.Reason == faults.ReasonBreakerOpen:
		return false // fail over, whatever failOverOn says: the target is known broken
	case fr.Reason == faults.ReasonDeadlineExceeded:
		msg := "the route's deadline ran out; " + r.failureSummary()
		if clientGone {
			msg = "the client went away"
		}
		r.fail(http.StatusGatewayTimeout, faults.ReasonDeadlineExceeded, "timeout_error", msg, nil)
		return true
	case fr.Class == faults.ClassSemantic:
		var ue *providers.UpstreamError
		errors.As(ar.err, &ue)
		status := fr.Status
		if status < 400 {
			status = http.StatusBadRequest
		}
		r.fail(status, fr.Reason, errorType(status), fr.Message, ue)
		return true
	case !faults.FailsOver(fr, r.p.FailOver):
		status := http.StatusBadGateway
		if fr.Reason == faults.ReasonRateLimited {
			status = http.StatusTooManyRequests
		}
		r.fail(status, fr.Reason, errorType(status), fr.Message+" (the route does not fail over on "+string(fr.Reason)+")", nil)
		return true
	}
	return false
}

// resolveKey resolves t's key with the snapshot as the config source, so the key always matches the policy.
func (r *run) resolveKey(t *policy.Target) (keys.Resolved, error) {
	kr := r.e.resolver
	kr.Config = r.snap
	return kr.Resolve(keys.Request{ProviderKey: r.snap.keyName(t.KeyRef), Provider: string(t.Provider),
		Override: r.in.KeyOverride, AllowOverride: r.p.AllowRequestKeyOverride})
}

// attemptResult is what one call produced.
type attemptResult struct {
	resp            *providers.ChatResponse
	tokens          int // the answer of a count_tokens request
	stream          providers.StreamReader
	first           *providers.StreamChunk
	cancel          context.CancelFunc
	usage           providers.Usage
	billed          providers.Usage // usage of a failed attempt the provider reported (and bills)
	latency         time.Duration
	err             error
	malformed       bool
	contentFiltered bool
	cutByBreaker    bool // the target's breaker opened while the attempt waited, and cut it short
	countedSlow     bool // the attempt outlived the slow-call threshold and the breaker counted it as failed then
}

// slowWatch asks call to report its attempt to the breaker as slow (Breaker.Slow) if no answer (or first
// chunk) has come after after; zero turns it off.
type slowWatch struct {
	after  time.Duration
	permit breaker.Permit
}

// watch starts the slow-call timer of an attempt bounded by timeout on br, and returns the function that
// stops it and reports whether the attempt was counted as slow. A threshold at or beyond the timeout, or a
// probe, is not watched.
func (sw slowWatch) watch(br *breaker.Breaker, timeout time.Duration) (stop func() (counted bool)) {
	if sw.after <= 0 || sw.after >= timeout || sw.permit.Probe {
		return func() bool { return false }
	}
	var mu sync.Mutex
	done, counted := false, false
	timer := time.AfterFunc(sw.after, func() {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			counted = br.Slow(sw.permit) // may open the breaker, which cuts this attempt through OnOpen
		}
	})
	return func() bool {
		timer.Stop()
		mu.Lock()
		defer mu.Unlock()
		done = true
		return counted
	}
}

// call sends one attempt bounded by timeout. For a stream it also reads the first chunk, so that a target that
// accepts the request and then fails before producing anything can still be failed over.
//
// While the attempt waits for its answer (or first chunk), it watches br: if other requests' failures open the
// breaker meanwhile, the attempt is cut short (cutByBreaker) and the request fails over at once, instead of every
// request already in flight to a hanging target running out its own timeout.
//
// Each attempt derives one context from ctx: every level registers with its parent and allocates, and this runs
// on every request. The breaker cut cancels that context and marks the attempt, rather than adding a
// cancel-cause level to carry the reason. A non-streaming attempt's timeout is a real context deadline, so
// every transport (HTTP/2's included, which reports ctx.Err() rather than a cause) fails it with
// context.DeadlineExceeded.
func (e *Engine) call(ctx context.Context, t *policy.Target, ep providers.Endpoint, req *providers.ChatRequest, stream bool,
	timeout time.Duration, br *breaker.Breaker, slow slowWatch) (ar attemptResult) {
	ad, err := e.adapter(string(t.Provider))
	if err != nil {
		return attemptResult{err: fmt.Errorf("adapter for %s: %w", t.Provider, err)}
	}
	begin := e.now()
	var actx context.Context
	var cancel context.CancelFunc
	if stream {
		// The stream outlives this call, so its context is cancelled by closing the stream, and the attempt's
		// timeout (the timer below) only bounds the wait for the first chunk.
		actx, cancel = context.WithCancel(ctx)
	} else {
		actx, cancel = context.WithTimeout(ctx, timeout)
	}
	var cut atomic.Bool
	unwatch := br.OnOpen(func() {
		// An attempt whose client already went away keeps that reason.
		if ctx.Err() == nil {
			cut.Store(true)
			cancel()
		}
	})
	stopSlow := slow.watch(br, timeout)
	defer func() {
		ar.countedSlow = stopSlow()
		unwatch()
		ar.latency = e.now().Sub(begin)
		if ar.err != nil && errors.Is(ar.err, providers.ErrMalformedResponse) {
			ar.malformed = true
		}
		if ar.err != nil && cut.Load() {
			ar.cutByBreaker = true
		}
	}()
	if !stream && req.CountTokens {
		defer cancel()
		n, err := providers.CountTokensWith(actx, ad, string(t.Provider), e.hc, ep, req)
		if err != nil {
			return attemptResult{err: err}
		}
		return attemptResult{tokens: n}
	}
	if !stream {
		defer cancel()
		resp, usage, err := ad.Do(actx, e.hc, ep, req)
		if err != nil {
			return attemptResult{err: err, billed: usage}
		}
		ar = attemptResult{resp: resp, usage: usage}
		for _, ch := range resp.Choices {
			if ch.FinishReason == providers.FinishContentFilter {
				ar.contentFiltered = true
			}
		}
		return ar
	}
	timer := time.AfterFunc(timeout, cancel)
	fail := func(err error) attemptResult {
		fired := !timer.Stop()
		cancel()
		if fired && !cut.Load() && ctx.Err() == nil {
			err = fmt.Errorf("first chunk not received within %s: %w", timeout, context.DeadlineExceeded)
		}
		return attemptResult{err: err}
	}
	sr, err := ad.Stream(actx, e.hc, ep, req)
	if err != nil {
		return fail(err)
	}
	first, err := sr.Next()
	if err != nil {
		_ = sr.Close()
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("stream ended before its first chunk: %w", providers.ErrMalformedResponse)
		}
		return fail(err)
	}
	if !timer.Stop() {
		// The timer fired as the chunk arrived: the stream's context is already cancelled.
		_ = sr.Close()
		cancel()
		return attemptResult{err: fmt.Errorf("first chunk not received within %s: %w", timeout, context.DeadlineExceeded)}
	}
	return attemptResult{stream: sr, first: first, cancel: cancel}
}

// succeed completes a request whose attempt c answered.
func (r *run) succeed(c *policy.Candidate, ar attemptResult) {
	t := c.Target
	r.ev.Final.Target = t.Name
	r.ev.Final.Reason = faults.ReasonOK
	if r.attempts() > 1 {
		r.ev.Final.Reason = faults.ReasonFallbackSucceeded
	}
	if r.ev.Budget != nil {
		r.ev.Budget.SoftCapExceeded = c.SoftCapExceeded
	}
	if !r.in.Stream {
		r.out.Response, r.out.InputTokens = ar.resp, ar.tokens
		r.account(t, ar.usage)
		r.ev.Final.Outcome = decision.OutcomeOK
		r.emit()
		return
	}
	r.out.Stream = &closingStream{StreamReader: ar.stream, cancel: ar.cancel, idle: r.p.StreamIdleTimeout}
	r.out.FirstChunk = ar.first
	r.out.finish = func(u providers.Usage, streamErr error) {
		r.account(t, u)
		r.ev.Final.Outcome = decision.OutcomeOK
		if streamErr != nil {
			r.ev.Final.Outcome = decision.OutcomeFailed
			r.ev.Final.Reason = faults.ReasonStreamInterrupted
			r.ev.Final.StreamInterrupted = true
			if n := len(r.ev.Attempts); n > 0 {
				a := &r.ev.Attempts[n-1]
				a.Outcome, a.Class, a.Reason = decision.OutcomeFailed, faults.ClassTransient, faults.ReasonStreamInterrupted
			}
		}
		r.emit()
	}
}

// account adds the answering attempt's cost and the baseline comparison to the event.
func (r *run) account(t *policy.Target, u providers.Usage) {
	pu := toPolicyUsage(u)
	if cost, known := policy.ActualCost(t, pu); known {
		r.spent += cost
		if cost > 0 {
			r.billed = true
		}
	}
	f := &r.ev.Final
	f.Usage = &decision.Usage{InputTokens: int64(u.InputTokens), OutputTokens: int64(u.OutputTokens),
		CachedInputTokens: int64(u.CachedInputTokens), ReasoningTokens: int64(u.ReasoningTokens)}
	f.UsageOutlier = policy.IsUsageOutlier(t, r.req, pu)
	f.CostUSD = r.spent
	r.out.CostUSD = r.spent
	if r.p.BaselineIndex >= 0 && r.p.BaselineIndex < len(r.p.Targets) {
		bt := &r.p.Targets[r.p.BaselineIndex]
		f.BaselineTarget = bt.Name
		// The baseline is priced like the answer (billed price, same usage), so the delta is what routing
		// changed, not the safety margin of a price override.
		if bc, known := policy.ActualCost(bt, pu); known {
			f.BaselineCostUSD = decision.Float(bc)
			f.CostDeltaUSD = decision.Float(r.spent - bc)
		}
	}
}

// fail ends the request with an error.
func (r *run) fail(status int, reason faults.Reason, typ, msg string, up *providers.UpstreamError) {
	r.out.Err = &RouteError{HTTPStatus: status, Reason: reason, Type: typ, Message: faults.Sanitize(msg, nil), Upstream: up}
	r.ev.Final.Outcome = decision.OutcomeFailed
	r.ev.Final.Reason = reason
	if r.out.Target != nil {
		r.ev.Final.Target = r.out.Target.Name
	}
	r.ev.Final.CostUSD = r.spent
	r.out.CostUSD = r.spent
	r.emit()
}

// failExhausted ends a request that has no candidate left or reached maxAttempts.
func (r *run) failExhausted() {
	if r.attempts() == 0 {
		status, typ := http.StatusServiceUnavailable, "api_error"
		if r.requestCaused() {
			// Caps and capabilities exclude every target for this request whatever the targets' health:
			// retrying the same request cannot help, so it is the client's to change.
			status, typ = http.StatusUnprocessableEntity, "invalid_request_error"
		}
		r.fail(status, faults.ReasonNoEligibleTarget, typ, "no eligible target: "+r.exclusionSummary(), nil)
		return
	}
	reason := r.lastFail.Reason
	if reason == "" {
		reason = faults.ReasonNoEligibleTarget
	}
	msg := fmt.Sprintf("all %d attempts failed; %s", r.attempts(), r.failureSummary())
	r.fail(http.StatusServiceUnavailable, reason, "api_error", msg, nil)
}

// requestCaused reports whether every target was excluded by the request itself (cost cap, capability,
// context size) rather than by the targets' health or keys.
func (r *run) requestCaused() bool {
	if len(r.ev.Candidates) == 0 {
		return false
	}
	for _, c := range r.ev.Candidates {
		switch string(c.Excluded) {
		case policy.ExcludedOverHardCostCap, policy.ExcludedMissingCapability, policy.ExcludedContextTooLarge,
			policy.ExcludedUnknownPrice, policy.ExcludedUnboundedOutput:
		default:
			return false
		}
	}
	return true
}

func (r *run) exclusionSummary() string {
	parts := make([]string, 0, len(r.ev.Candidates))
	for _, c := range r.ev.Candidates {
		if !c.Eligible {
			parts = append(parts, r.describeExclusion(c.Target, c.Excluded))
		}
	}
	return strings.Join(parts, ", ")
}

func (r *run) failureSummary() string {
	if len(r.failures) == 0 {
		return "no attempt failed"
	}
	return strings.Join(r.failures, ", ")
}

func (r *run) emit() {
	if r.emitted {
		return
	}
	r.emitted = true
	r.ev.Final.LatencyMS = r.e.now().Sub(r.start).Milliseconds()
	if b := r.ev.Budget; b != nil && r.billed {
		b.SpentUSD = r.spent
	}
	if r.e.sink != nil {
		r.e.sink.Record(r.ev)
	}
}

// closingStream cancels the attempt's context when the stream is closed, so its connection is released.
//
// It also bounds the wait for each next chunk by idle (the policy's fallback.streamIdleTimeout; perAttemptTimeout
// bounded the wait for the first one): a provider that stops sending mid-stream while keeping the connection
// open would otherwise hold the client until the client gave up. When the bound passes, the attempt's context is
// cancelled and Next returns an error naming the stall, which the server turns into the stream_interrupted
// error event.
type closingStream struct {
	providers.StreamReader
	cancel  context.CancelFunc
	idle    time.Duration
	timer   *time.Timer
	stalled atomic.Bool
}

// Next implements providers.StreamReader, bounding the wait by idle.
func (s *closingStream) Next() (*providers.StreamChunk, error) {
	if s.idle <= 0 {
		return s.StreamReader.Next()
	}
	if s.timer == nil {
		s.timer = time.AfterFunc(s.idle, s.stall)
	} else {
		s.timer.Reset(s.idle)
	}
	c, err := s.StreamReader.Next()
	s.timer.Stop()
	if err != nil && s.stalled.Load() {
		return nil, fmt.Errorf("no data from the provider for %s (fallback.streamIdleTimeout): %w: %w", s.idle,
			providers.ErrStreamInterrupted, context.DeadlineExceeded)
	}
	return c, err
}

func (s *closingStream) stall() {
	s.stalled.Store(true)
	s.cancel()
}

// Close implements providers.StreamReader.
func (s *closingStream) Close() error {
	if s.timer != nil {
		s.timer.Stop()
	}
	err := s.StreamReader.Close()
	s.cancel()
	return err
}

// classify maps an attempt's error to a failure result. The key is revealed here, besides the adapter, only to
// be redacted from the message: a transport error could quote what was sent.
func classify(err error, key keys.Secret, now time.Time) faults.Result {
	in := faults.Input{Err: err, Now: now}
	if !key.Empty() {
		in.Redact = []string{key.Reveal()}
	}
	var ue *providers.UpstreamError
	if errors.As(err, &ue) {
		in.Err, in.Status, in.Header, in.Body = nil, ue.Status, ue.Header, ue.Body
	}
	return faults.Classify(in)
}

// errorType maps an HTTP status to the OpenAI error type clients' SDKs switch on.
func errorType(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusGatewayTimeout:
		return "timeout_error"
	}
	if status >= 400 && status < 500 {
		return "invalid_request_error"
	}
	return "api_error"
}

func toPolicyUsage(u providers.Usage) policy.Usage {
	return policy.Usage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens,
		CachedInputTokens: u.CachedInputTokens, ReasoningTokens: u.ReasoningTokens}
}

// describe decodes what routing needs from a request: its size for the input-token bound, its output limit,
// and the capabilities it requires.
func describe(req *providers.ChatRequest, stream bool) policy.Request {
	var s policy.InputSize
	s.Messages = len(req.Messages)
	for i := range req.Messages {
		m := &req.Messages[i]
		s.TextBytes += len(m.Name) + len(m.ToolCallID)
		for _, tc := range m.ToolCalls {
			s.TextBytes += len(tc.Function.Name) + len(tc.Function.Arguments)
		}
		for _, raw := range m.Extra {
			s.TextBytes += len(raw)
		}
		// Thinking sent back (to Anthropic) is read as input; the signature is counted too, as its tokenization
		// is not documented.
		for _, th := range m.Thinking {
			s.TextBytes += len(th.Text) + len(th.Signature) + len(th.RedactedData)
		}
		if m.Content == nil {
			continue
		}
		s.TextBytes += len(m.Content.Text)
		for _, part := range m.Content.Parts {
			switch {
			case part.Type == providers.PartImageURL || part.ImageURL != nil:
				s.Images++
			default:
				s.TextBytes += len(part.Text)
				// Parts the router does not model (audio, files) are counted by their bytes so they are at
				// least not free under the cap.
				for _, raw := range part.Extra {
					s.TextBytes += len(raw)
				}
			}
		}
	}
	structured := false
	if rf := req.ResponseFormat; rf != nil {
		if rf.Type == providers.FormatJSONSchema {
			structured = true
		}
		if rf.JSONSchema != nil {
			s.TextBytes += len(rf.JSONSchema.Name) + len(rf.JSONSchema.Description) + len(rf.JSONSchema.Schema)
		}
	}
	if len(req.Tools) > 0 {
		s.Tools = len(req.Tools)
		if b, err := json.Marshal(req.Tools); err == nil {
			s.ToolSchemaBytes = len(b)
		}
	}
	thinking, fitted := 0, false
	if r := req.Reasoning; r != nil && !req.CountTokens { // counting generates nothing, thinking included
		thinking, fitted = r.BudgetTokens, r.BestEffort
		if r.Adaptive {
			thinking = policy.AdaptiveThinking
		}
	}
	input := policy.EstimateInputTokensUpper(s)
	if req.CountTokens {
		// Counting is free and bounded by no context window (it is how a client finds out it is too long), so
		// neither a cost cap nor a target's context length may refuse it; capabilities still apply.
		input = 0
	}
	return policy.Request{
		InputTokensUpper: input,
		MaxTokens:        req.EffectiveMaxTokens(),
		ThinkingBudget:   thinking,
		ThinkingFitted:   fitted,
		Tools:            len(req.Tools) > 0,
		StructuredOutput: structured,
		Vision:           s.Images > 0,
		Stream:           stream,
	}
}

// adapter returns the wire adapter of a provider; tests replace it through adapterFor.
func (e *Engine) adapter(provider string) (providers.Adapter, error) {
	if e.adapterFor != nil {
		return e.adapterFor(provider)
	}
	return providers.For(provider)
}

func (e *Engine) breaker(t *policy.Target, p *policy.Policy) *breaker.Breaker {
	return e.breakers.Get(breakerKeyOf(t), p.Breaker)
}

// breakerKeyOf is the key of t's breaker: shared by every target calling the same upstream under the same
// settings (policy.Target.BreakerKey), or the target's own ID for a target built by hand without one.
func breakerKeyOf(t *policy.Target) string {
	if t.BreakerKey != "" {
		return t.BreakerKey
	}
	return t.ID
}

// upstreamOf is the key of t's latency observations, shared like its breaker but regardless of settings.
func upstreamOf(t *policy.Target) string {
	if t.Upstream != "" {
		return t.Upstream
	}
	return t.ID
}

// budgetEntry is a policy's retry budget with the policy it was last configured from, so that a new snapshot
// reconfigures the budget once, keeping its counts.
type budgetEntry struct {
	rb  *breaker.RetryBudget
	cfg breaker.RetryBudgetConfig
}

func (e *Engine) budget(p *policy.Policy) *breaker.RetryBudget {
	cfg := p.RetryBudget
	if v, ok := e.budgets.Load(p.Name); ok {
		be := v.(*budgetEntry)
		if be.cfg == cfg {
			return be.rb
		}
		e.budgetMu.Lock()
		defer e.budgetMu.Unlock()
		be = e.mustBudget(p.Name)
		if be.cfg != cfg {
			be.rb.SetConfig(cfg)
			e.budgets.Store(p.Name, &budgetEntry{rb: be.rb, cfg: cfg})
		}
		return be.rb
	}
	v, _ := e.budgets.LoadOrStore(p.Name, &budgetEntry{rb: breaker.NewRetryBudget(cfg, e.now), cfg: cfg})
	return v.(*budgetEntry).rb
}

func (e *Engine) mustBudget(name string) *budgetEntry {
	v, _ := e.budgets.Load(name)
	return v.(*budgetEntry)
}

// SetSnapshot makes s the engine's current snapshot: State reports its targets, and breakers of targets no
// longer configured are dropped. The server calls it on every reload, next to swapping its own pointer.
func (e *Engine) SetSnapshot(s *Snapshot) {
	if s == nil {
		return
	}
	e.current.Store(s)
	ids := map[string]bool{}
	for _, p := range s.Policies {
		for i := range p.Targets {
			ids[breakerKeyOf(&p.Targets[i])] = true
			e.breaker(&p.Targets[i], p)
		}
	}
	e.breakers.Retain(func(id string) bool { return ids[id] })
}

// observeSnapshot remembers the first snapshot a request ran on, so State has something to report when the
// caller never called SetSnapshot (simulations, tests).
func (e *Engine) observeSnapshot(s *Snapshot) {
	if e.current.Load() == nil {
		e.current.CompareAndSwap(nil, s)
	}
}

func (e *Engine) state() routerconfig.RouterState {
	st := routerconfig.RouterState{Router: e.router, Time: e.now(), Targets: []routerconfig.TargetState{}}
	s := e.current.Load()
	if s == nil {
		return st
	}
	snaps := e.breakers.Snapshot()
	seen := map[*policy.Policy]bool{}
	for _, p := range s.Policies {
		if seen[p] {
			continue
		}
		seen[p] = true
		for i := range p.Targets {
			t := &p.Targets[i]
			ts := routerconfig.TargetState{Policy: p.Name, Target: t.Name, State: routerconfig.BreakerClosed}
			if b, ok := snaps[breakerKeyOf(t)]; ok {
				ts.State = routerconfig.BreakerState(b.State)
				ts.ConsecutiveFailures = int32(min(b.ConsecutiveFailures, 1<<31-1))
				ts.LastFailureReason = string(b.LastFailureReason)
				if b.State == breaker.StateOpen && !b.CooldownUntil.IsZero() {
					cu := b.CooldownUntil
					ts.CooldownUntil = &cu
				}
			}
			st.Targets = append(st.Targets, ts)
		}
	}
	slices.SortFunc(st.Targets, func(a, b routerconfig.TargetState) int {
		if c := strings.Compare(a.Policy, b.Policy); c != 0 {
			return c
		}
		return strings.Compare(a.Target, b.Target)
	})
	return st
}
