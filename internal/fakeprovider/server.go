// Package fakeprovider is an in-process fake LLM provider on 127.0.0.1 that speaks the OpenAI chat-completions,
// Anthropic Messages and Gemini generateContent wire formats (streaming and not), with runtime-switchable fault
// injection. It backs the router's component tests, `llmroute simulate`, the dev cluster and the load
// benchmark, so the happy path avoids per-request reflection on the response side (responses are appended
// into a byte buffer by hand).
//
// Responses are deterministic functions of the request:
//   - The reply text is "fake reply to: " followed by the first words of the last user text (or "fake reply
//     after tool result" when the last message is a tool result), one stream chunk per word.
//   - Input tokens = the number of whitespace-separated words in all message text (system prompt included) +
//     the number of messages. Every word is at least one byte and every message at least a few bytes of JSON,
//     so the count never exceeds the byte length of the request body; it is a cheap, monotone stand-in for a
//     tokenizer that keeps cost tests honest.
//   - Output tokens = the number of reply words (+ Options.ReasoningTokens), never more than the request's max
//     tokens; a reply cut by the limit ends with finish reason length (max_tokens / MAX_TOKENS).
//   - Tools: when the request declares tools and the last message is not a tool result, the model calls a tool
//     if the tool choice forces one (required / any / a named function / ANY) or, under auto, if the last user
//     text mentions a tool's name. Arguments are {"input": <last user text>}.
//   - Thinking: when the request asks for it (Anthropic thinking enabled or adaptive, Gemini thinkingConfig,
//     OpenAI reasoning_effort, or always with Options.ReasoningContent), the model first thinks "thinking about:"
//     and the first words of the last user text (or "thinking about the tool result"), one reasoning token per
//     word, within the budget and the output limit, before a reply cut to what the limit leaves. Anthropic
//     returns a thinking block signed by the fake (a redacted_thinking block when the text holds
//     RedactedThinkingTrigger) and, like Anthropic, rejects with 400 a thinking block in history whose signature
//     it did not issue, a thinking request whose last tool-use turn does not start with thinking, and the
//     request rules of extended thinking (budget_tokens >= 1024 and < max_tokens unless anthropic-beta has
//     interleaved thinking, temperature 1 only, top_p at least 0.95, no forced tool). Gemini returns thought
//     parts (with includeThoughts) and thoughtsTokenCount; OpenAI counts reasoning_tokens and shows nothing,
//     and rejects reasoning_effort for gpt-4 and gpt-3 models as OpenAI does.
package fakeprovider

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Wire formats a Server can speak.
const (
	OpenAI    = "openai"
	Anthropic = "anthropic"
	Gemini    = "gemini"
)

// Options configures Start.
type Options struct {
	// Provider is the wire format: OpenAI (default), Anthropic or Gemini.
	Provider string
	// Addr is the listen address; default 127.0.0.1:0 (a free loopback port).
	Addr string
	// PathPrefix is the version prefix of the API paths; default /v1 (OpenAI, Anthropic) or /v1beta (Gemini).
	// Set /openai/v1 to mimic Groq.
	PathPrefix string
	// Key is the expected API key; empty accepts any non-empty key.
	Key string
	// EchoKey makes authentication failures quote the presented key in the error body, as some providers do,
	// so tests can prove the router never lets it through.
	EchoKey bool
	// Models, when non-empty, is the set of known models; any other model gets the provider's 404.
	Models []string
	// CachedInputTokens is reported as cached input (capped at the input tokens), to exercise cache pricing.
	CachedInputTokens int
	// ReasoningTokens is added to the output as reasoning (capped so output stays within max tokens).
	ReasoningTokens int
	// ReasoningContent makes the OpenAI wire think on every request and return the thinking as
	// reasoning_content, as DeepSeek's reasoner does.
	ReasoningContent bool
}

// Fault is the failure behaviour of the server; the zero value means healthy. It can be changed at any time
// with SetFault.
type Fault struct {
	// Latency delays every request (before authentication), honouring cancellation.
	Latency time.Duration
	// Hang blocks every request until the client goes away (or the server closes), without sending headers.
	Hang bool
	// Status makes authenticated calls fail with this HTTP status and the provider's error body for it
	// (for example 429, 500, 503, 529). With FailFirstN, only the first N calls fail.
	Status int
	// RetryAfter is sent as the Retry-After header on Status failures; alone it implies Status 429.
	RetryAfter string
	// MalformedJSON answers 200 with a truncated JSON body (or, when streaming, a truncated JSON event).
	MalformedJSON bool
	// CutStreamAfter closes the connection after this many SSE events of a stream, without the terminator.
	CutStreamAfter int
	// FailFirstN fails only the first N calls after SetFault (with Status, default 500), then recovers.
	FailFirstN int
	// ContentFilter answers 200 with the provider's content-filter outcome (finish_reason content_filter,
	// stop_reason refusal, finishReason SAFETY).
	ContentFilter bool
	// BadToolArguments makes a tool call carry arguments that are not a JSON object (OpenAI wire only: its
	// arguments are a string, which models do get wrong; the other wires carry an object and ignore this).
	BadToolArguments bool
	// ContextTooLong answers the provider's 400 for a prompt over the context window.
	ContextTooLong bool
	// BadRequest answers the provider's generic 400 invalid request.
	BadRequest bool
}

// faultState pairs a Fault with its own FailFirstN counter, so SetFault restarts the count atomically.
type faultState struct {
	Fault
	failed atomic.Int64
}

// Recorded is the last request the server received.
type Recorded struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
}

// Server is a running fake provider.
type Server struct {
	opts     Options
	prefix   string
	url      string
	ln       net.Listener
	srv      *http.Server
	done     chan struct{}
	closing  sync.Once
	fault    atomic.Pointer[faultState]
	requests atomic.Int64
	calls    atomic.Int64
	seq      atomic.Int64
	proto    protocol
	mu       sync.Mutex
	last     Recorded
	inFlight atomic.Int64

	// Test hooks (set through export_test.go): blocked runs when a request starts waiting on Latency or Hang,
	// finished when a handler returns, so tests observe both without sleeping.
	// Atomic because the race detector does not treat loopback TCP as synchronization.
	hooks atomic.Pointer[testHooks]
}

type testHooks struct{ blocked, finished func() }

// Start listens on Options.Addr (default a free port on 127.0.0.1) and serves until Close.
func Start(opts Options) (*Server, error) {
	if opts.Provider == "" {
		opts.Provider = OpenAI
	}
	if opts.Provider != OpenAI && opts.Provider != Anthropic && opts.Provider != Gemini {
		return nil, fmt.Errorf("fakeprovider: unknown provider %q", opts.Provider)
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	prefix := opts.PathPrefix
	if prefix == "" {
		prefix = "/v1"
		if opts.Provider == Gemini {
			prefix = "/v1beta"
		}
	}
	prefix = "/" + strings.Trim(prefix, "/")
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("fakeprovider: listen on %s: %w", opts.Addr, err)
	}
	s := &Server{opts: opts, prefix: prefix, ln: ln, done: make(chan struct{}),
		url: "http://" + ln.Addr().String() + prefix}
	s.fault.Store(&faultState{})
	switch opts.Provider {
	case OpenAI:
		s.proto = &openAIProto{s: s}
	case Anthropic:
		s.proto = &anthropicProto{s: s}
	case Gemini:
		s.proto = &geminiProto{s: s}
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }() // returns http.ErrServerClosed on Close
	return s, nil
}

// URL is the base URL including the version prefix, e.g. http://127.0.0.1:PORT/v1.
func (s *Server) URL() string { return s.url }

// Addr is the listening host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server: hanging and delayed requests return at once, and Close waits (up to 5 s) for every
// handler to finish, so no goroutine of the server outlives it.
func (s *Server) Close() {
	s.closing.Do(func() {
		close(s.done)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			_ = s.srv.Close() // a client stuck reading a stream: cut it
		}
	})
}

// SetFault switches the failure behaviour for subsequent requests and restarts the FailFirstN count. It is
// safe to call concurrently with requests.
func (s *Server) SetFault(f Fault) {
	st := &faultState{Fault: f}
	s.fault.Store(st)
}

// Fault returns the current failure behaviour.
func (s *Server) Fault() Fault { return s.fault.Load().Fault }

// Requests counts every HTTP request that reached the server, including rejected ones.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Calls counts requests that passed authentication, i.e. model calls a real provider would see (and bill,
// unless a fault fails them).
func (s *Server) Calls() int64 { return s.calls.Load() }

// InFlight is the number of requests being handled right now.
func (s *Server) InFlight() int64 { return s.inFlight.Load() }

// ResetCounters zeroes Requests and Calls.
func (s *Server) ResetCounters() {
	s.requests.Store(0)
	s.calls.Store(0)
}

// LastRequest returns a copy of the last request received.
func (s *Server) LastRequest() Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.last
	r.Header = r.Header.Clone()
	r.Body = append([]byte(nil), r.Body...)
	return r
}

// LastRequestBody returns a copy of the last request's body.
func (s *Server) LastRequestBody() []byte { return s.LastRequest().Body }

// maxBody bounds request bodies; real providers reject far smaller ones, and the fake must not be a memory sink.
const maxBody = 32 << 20

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.inFlight.Add(1)
	defer func() {
		s.inFlight.Add(-1)
		if h := s.hooks.Load(); h != nil && h.finished != nil {
			h.finished()
		}
	}()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return // the client went away mid-body
	}
	s.mu.Lock()
	s.last = Recorded{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body}
	s.mu.Unlock()

	st := s.fault.Load()
	if !s.wait(r.Context(), st.Fault) {
		return
	}
	p := s.proto
	route, model, stream, ok := p.route(r)
	if !ok {
		p.writeError(w, errNotFound, route)
		return
	}
	if key, ok := p.key(r); !ok || (s.opts.Key != "" && key != s.opts.Key) {
		presented := ""
		if s.opts.EchoKey {
			presented = key
		}
		p.writeError(w, errAuth, presented)
		return
	}
	s.calls.Add(1)
	if r.Method != http.MethodPost {
		p.writeError(w, errBadRequest, "method "+r.Method+" not allowed")
		return
	}
	tc, counting := p.(tokenCounter)
	counting = counting && tc.counts(r)
	var c *call
	if counting {
		c, err = tc.parseCount(body)
	} else if hp, ok := p.(headerParser); ok {
		c, err = hp.parseWithHeader(r.Header, body)
	} else {
		c, err = p.parse(body)
	}
	if err != nil {
		p.writeError(w, errBadRequest, err.Error())
		return
	}
	if model != "" {
		c.model = model
	}
	if mc, ok := p.(modelChecker); ok {
		if err := mc.checkModel(c); err != nil {
			p.writeError(w, errBadRequest, err.Error())
			return
		}
	}
	c.stream = c.stream || stream
	if len(s.opts.Models) > 0 && !contains(s.opts.Models, c.model) {
		p.writeError(w, errModelNotFound, c.model)
		return
	}
	if s.injectError(w, p, st) {
		return
	}
	res := s.respond(c, st.Fault)
	if st.MalformedJSON && !c.stream {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"broken","choices":[{"mess`))
		return
	}
	if counting {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(tc.renderCount(nil, res.input))
		return
	}
	if c.stream {
		s.stream(w, p, c, res, st.Fault)
		return
	}
	buf := p.render(nil, c, res)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(buf)
}

// wait applies Latency and Hang; it reports false when the client or the server gave up.
func (s *Server) wait(ctx context.Context, f Fault) bool {
	if h := s.hooks.Load(); h != nil && h.blocked != nil && (f.Latency > 0 || f.Hang) {
		h.blocked()
	}
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return false
		case <-s.done:
			return false
		}
	}
	if f.Hang {
		select {
		case <-ctx.Done():
		case <-s.done:
		}
		return false
	}
	return true
}

// injectError writes the configured error answer, if any, and reports whether it did.
func (s *Server) injectError(w http.ResponseWriter, p protocol, st *faultState) bool {
	status := st.Status
	if status == 0 && st.RetryAfter != "" {
		status = http.StatusTooManyRequests
	}
	if st.FailFirstN > 0 {
		if st.failed.Add(1) > int64(st.FailFirstN) {
			status = 0
		} else if status == 0 {
			status = http.StatusInternalServerError
		}
	}
	if status != 0 {
		if st.RetryAfter != "" {
			w.Header().Set("Retry-After", st.RetryAfter)
		}
		p.writeStatus(w, status)
		return true
	}
	switch {
	case st.ContextTooLong:
		p.writeError(w, errContextTooLong, "")
	case st.BadRequest:
		p.writeError(w, errBadRequest, "invalid request (injected fault)")
	default:
		return false
	}
	return true
}

// stream writes the SSE events of res, applying CutStreamAfter and MalformedJSON.
func (s *Server) stream(w http.ResponseWriter, p protocol, c *call, res *result, f Fault) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	events := 0
	emit := func(ev []byte) bool {
		if f.CutStreamAfter > 0 && events >= f.CutStreamAfter {
			if flusher != nil {
				flusher.Flush()
			}
			// Aborting the handler closes the connection without the final chunk of the chunked encoding: the
			// client sees an unexpected EOF, as when a provider's connection drops mid-stream.
			panic(http.ErrAbortHandler)
		}
		events++
		if f.MalformedJSON && events == 2 {
			ev = []byte("data: {\"broken\":\n\n")
		}
		if _, err := w.Write(ev); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	p.renderStream(c, res, emit)
}

// modelChecker is a protocol with rules that depend on the model, which the path may name: they run once the
// call knows its model.
type modelChecker interface {
	checkModel(c *call) error
}

// tokenCounter is a protocol with a token counting endpoint (Anthropic's count_tokens, Gemini's countTokens,
// OpenAI's responses/input_tokens), answered with the input tokens the same request would be billed for when
// generating.
type tokenCounter interface {
	counts(r *http.Request) bool
	parseCount(body []byte) (*call, error)
	renderCount(b []byte, input int) []byte
}

// headerParser is a protocol whose request rules depend on headers as well as on the body: Anthropic's
// anthropic-beta flags change what a Messages request may ask.
type headerParser interface {
	parseWithHeader(h http.Header, body []byte) (*call, error)
}

// nextID returns a per-server sequence number for response ids.
func (s *Server) nextID() int64 { return s.seq.Add(1) }

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
