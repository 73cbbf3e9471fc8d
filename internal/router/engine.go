package router

import (
	"context"
	"net/http"
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

// EngineOptions configures an Engine. Zero fields take working defaults.
type EngineOptions struct {
	// HTTPClient sends attempts; default providers.NewHTTPClient. Tests inject an in-memory transport.
	HTTPClient *http.Client
	// Resolver finds keys. Its Config source is replaced per request by the request's Snapshot, so a new
	// snapshot (a rotated key) changes the key of new requests while requests in flight keep theirs.
	// Default: a Resolver with only the snapshot's config (plus environment).
	Resolver *keys.Resolver
	// Sink receives exactly one decision event per request; nil discards them.
	Sink decision.Sink
	// Now is the clock; default time.Now. Breakers and retry budgets built by the engine use it too.
	Now func() time.Time
	// Seed returns the seed of each request's weighted ranking; default a random source.
	Seed func() uint64
	// Breakers holds one breaker per target ID; default a new Set on the engine's clock.
	Breakers *breaker.Set
	// Latency tracks each target's p95; default NewLatencyTracker(DefaultLatencyWindow).
	Latency *LatencyTracker
	// Router names this router in State reports (for example the pod name).
	Router string
}

// Engine runs the attempt loop of every request: plan, admit, resolve the key, call, classify, fail over or
// answer, and record exactly one decision event. It keeps the state that outlives one request and one
// snapshot: breakers per target, latency per target, retry budgets per policy. It is safe for concurrent use.
type Engine struct {
	hc       *http.Client
	resolver keys.Resolver
	sink     decision.Sink
	now      func() time.Time
	seed     func() uint64
	breakers *breaker.Set
	latency  *LatencyTracker
	router   string

	budgets  sync.Map // policy name -> *budgetEntry
	budgetMu sync.Mutex
	current  atomic.Pointer[Snapshot]

	// adapterFor replaces providers.For in tests that need an adapter the wire cannot produce.
	adapterFor func(provider string) (providers.Adapter, error)
}

// Inbound is one client request as the engine needs it.
type Inbound struct {
	// RequestID identifies the request; decision.NewRequestID is used when empty.
	RequestID string
	// Route is the route the client selected (its "model"): a RoutePolicy name.
	Route string
	// Req is the decoded request. The engine never modifies it.
	Req *providers.ChatRequest
	// KeyOverride is a key carried by the request (header x-llmroute-provider-key); used only when the policy
	// allows it, refused otherwise.
	KeyOverride *keys.Secret
	// Stream asks for a streaming answer.
	Stream bool
	// Check, when set, vets a non-streaming answer before it is accepted: an answer it rejects (one the client's
	// wire format cannot carry) counts as a malformed response from that target, billed and failed over like
	// any other, instead of a success the client never gets.
	Check func(*providers.ChatResponse) error
}

// Outcome is the result of Execute.
type Outcome struct {
	// Response is the answer of a non-streaming request that succeeded; nil for a count_tokens request.
	Response *providers.ChatResponse
	// InputTokens is the answer of a count_tokens request (providers.ChatRequest.CountTokens) that succeeded.
	InputTokens int
	// Stream is the open upstream stream of a streaming request that succeeded. Its first chunk was already
	// read successfully (FirstChunk), so failover was still possible until then. The caller writes FirstChunk,
	// then the rest of Stream, closes it, and calls Finish.
	Stream providers.StreamReader
	// FirstChunk is the first chunk of Stream.
	FirstChunk *providers.StreamChunk
	// Target is the target that answered, or the last one tried; nil when none was.
	Target *policy.Target
	// Attempts is the number of calls made.
	Attempts int
	// CostUSD is what the request cost so far, failed attempts included.
	CostUSD float64
	// FallbackReason is the reason the first attempted target failed; "" when the first attempt succeeded or
	// none was made.
	FallbackReason faults.Reason
	// Err is set when the request failed; Response and Stream are nil then.
	Err *RouteError
	// Event is the request's decision event. For a non-streaming request, or a failed one, it was recorded
	// by Execute; for a successful stream it is recorded by Finish and must not be changed before.
	Event *decision.Event

	finish func(providers.Usage, error)
	once   sync.Once
}

// RouteError is a failed request, as the client should see it (OpenAI error shape).
type RouteError struct {
	// HTTPStatus is the status to answer with. See statusFor for the mapping of router decisions.
	HTTPStatus int
	// Reason is the reason code, as in the decision event's final.reason.
	Reason faults.Reason
	// Message is a sanitized description: it never contains a key.
	Message string
	// Type is the OpenAI error type: invalid_request_error, authentication_error, permission_error,
	// not_found_error, rate_limit_error, timeout_error or api_error.
	Type string
	// Upstream is the provider's error for semantic failures, returned to the client as is (its body is
	// already redacted of the presented key); nil for the router's own decisions.
	Upstream *providers.UpstreamError
}

// Error implements error.
func (e *RouteError) Error() string {
	return string(e.Reason) + ": " + e.Message
}

// clientMessage is the message a client is shown: the provider's own for an upstream error that carries one,
// else Message; sanitized, with the values in redact (a request's own key) removed.
func (e *RouteError) clientMessage(redact []string) string {
	msg := e.Message
	if e.Upstream != nil {
		if m := e.Upstream.Message(); m != "" {
			msg = m
		}
	}
	return faults.Sanitize(msg, redact)
}

// NewEngine returns an Engine.
func NewEngine(opts EngineOptions) *Engine {
	e := &Engine{hc: opts.HTTPClient, sink: opts.Sink, now: opts.Now, seed: opts.Seed, breakers: opts.Breakers,
		latency: opts.Latency, router: opts.Router}
	if opts.Resolver != nil {
		e.resolver = *opts.Resolver
	}
	if e.hc == nil {
		e.hc = providers.NewHTTPClient(providers.HTTPClientOptions{})
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.seed == nil {
		e.seed = randomSeed
	}
	if e.breakers == nil {
		e.breakers = breaker.NewSet(breaker.WithClock(e.now))
	}
	if e.latency == nil {
		e.latency = NewLatencyTracker(DefaultLatencyWindow)
	}
	return e
}

// Execute routes one request on snap. It never returns nil, and it records exactly one decision event for
// the request: itself, unless the outcome is an open stream, whose event Finish records.
func (e *Engine) Execute(ctx context.Context, snap *Snapshot, in *Inbound) *Outcome {
	return e.execute(ctx, snap, in)
}

// Finish completes a streamed request: usage is what the stream reported, streamErr is nil when the stream
// reached its terminator. It computes the cost and records the decision event; a stream error marks the
// request failed with stream_interrupted. Calls after the first do nothing, and on outcomes that are not open
// streams Finish does nothing.
func (o *Outcome) Finish(usage providers.Usage, streamErr error) {
	if o == nil || o.finish == nil {
		return
	}
	o.once.Do(func() { o.finish(usage, streamErr) })
}

// State reports the breaker state of every target of the current snapshot (SetSnapshot, or the latest one
// a request ran on), for the router's state endpoint.
func (e *Engine) State() routerconfig.RouterState {
	return e.state()
}
