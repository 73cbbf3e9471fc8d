package router

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmroute/llmroute/internal/catalog"
	"github.com/llmroute/llmroute/internal/decision"
	"github.com/llmroute/llmroute/internal/faults"
	"github.com/llmroute/llmroute/internal/keys"
	"github.com/llmroute/llmroute/internal/providers"
	"github.com/llmroute/llmroute/internal/routerconfig"
)

// Response and request headers of the served API.
const (
	HeaderRequestID      = "x-llmroute-request-id"
	HeaderTarget         = "x-llmroute-target"
	HeaderAttempts       = "x-llmroute-attempts"
	HeaderCostUSD        = "x-llmroute-cost-usd"
	HeaderFallbackReason = "x-llmroute-fallback-reason"
	// HeaderProviderKey carries a client's own provider key; the engine uses it only where the policy allows.
	HeaderProviderKey = keys.OverrideName
)

// Defaults of ServerOptions.
const (
	DefaultMaxBodyBytes       = 8 << 20
	DefaultRingSize           = 1024
	DefaultBodyReadTimeout    = 30 * time.Second
	DefaultStreamWriteTimeout = 30 * time.Second
	// DefaultMaxInFlight bounds the client requests served at once. Past it the router answers 503 at once,
	// so an overload sheds work instead of queueing it until memory and latency explode: at about 45 KiB per
	// request in flight (connections, buffers, goroutines) the limit keeps the router near 25 MiB of them.
	DefaultMaxInFlight = 512
)

// ServerOptions configures a Server. Zero fields take working defaults.
type ServerOptions struct {
	// Catalog prices and describes models; default catalog.Default().
	Catalog *catalog.Catalog
	// Store is the in-memory key store behind PUT /admin/keys; default a new one.
	Store *keys.MemoryStore
	// DotEnv is the .env file keys may come from; nil for none.
	DotEnv *keys.DotEnv
	// Env looks up environment variables for keys; nil means os.LookupEnv.
	Env func(string) (string, bool)
	// DecisionLog receives every decision event as a JSON line, written in batches from a goroutine of the
	// server's (see FlushDecisionLog and Close); nil for none.
	DecisionLog io.Writer
	// RingSize is how many recent decision events /debug/decisions keeps; default DefaultRingSize.
	RingSize int
	// MaxBodyBytes bounds a request body; larger ones get 413. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// BodyReadTimeout bounds reading a request body; default DefaultBodyReadTimeout.
	BodyReadTimeout time.Duration
	// StreamWriteTimeout bounds each write to a client, so a client that stops reading cannot hold an upstream
	// stream open forever; default DefaultStreamWriteTimeout.
	StreamWriteTimeout time.Duration
	// Registry receives the metrics; default a new registry (served on /metrics either way).
	Registry *prometheus.Registry
	// HTTPClient sends upstream attempts; default providers.NewHTTPClient (no redirects). Its transport is
	// wrapped to time upstream I/O.
	HTTPClient *http.Client
	// Logger logs config loads and server events; default slog.Default(). Keys never reach it.
	Logger *slog.Logger
	// Router names this router in /v1/state (for example the pod name).
	Router string
	// MaxInFlight bounds the client requests (POST /v1/chat/completions and /v1/messages, streams included)
	// served at once; more get 503 with code router_overloaded and Retry-After: 1. Zero means
	// DefaultMaxInFlight, a negative value no limit.
	MaxInFlight int
	// Sink, when set, also receives every decision event (tests).
	Sink decision.Sink
}

// Server is the router's HTTP side: the OpenAI-compatible API, the ops endpoints and the localhost key admin
// API, over one Engine and an atomically swapped Snapshot.
type Server struct {
	engine   *Engine
	snap     atomic.Pointer[Snapshot]
	catalog  *catalog.Catalog
	store    *keys.MemoryStore
	dotenv   *keys.DotEnv
	ring     *decision.Ring
	jsonl    *decision.BatchedJSONLines
	registry *prometheus.Registry
	metrics  *Metrics
	log      *slog.Logger

	maxBody            int64
	maxInFlight        int64
	inFlight           atomic.Int64
	bodyReadTimeout    time.Duration
	streamWriteTimeout time.Duration

	statusMu sync.Mutex
	status   ConfigStatus

	bufs sync.Pool
}

// ConfigStatus describes the config in use and the latest load, for /readyz.
type ConfigStatus struct {
	// Source is the path the config is read from.
	Source string `json:"source,omitempty"`
	// Checksum is the checksum of the config in use.
	Checksum string `json:"checksum,omitempty"`
	// Routes is the number of routes in use.
	Routes int `json:"routes"`
	// LoadedAt is when the config in use was loaded.
	LoadedAt *time.Time `json:"loaded_at,omitempty"`
	// LastError is the error of the latest load when it failed (the last good config stays in use); key-free.
	LastError string `json:"last_error,omitempty"`
	// LastErrorAt is when the latest load failed.
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
}

// NewServer returns a Server with no config: it answers 503 and is not ready until Apply succeeds.
func NewServer(opts ServerOptions) *Server {
	s := &Server{catalog: opts.Catalog, store: opts.Store, dotenv: opts.DotEnv, registry: opts.Registry,
		log: opts.Logger, maxBody: opts.MaxBodyBytes, bodyReadTimeout: opts.BodyReadTimeout,
		streamWriteTimeout: opts.StreamWriteTimeout}
	if s.catalog == nil {
		s.catalog = catalog.Default()
	}
	if s.store == nil {
		s.store = keys.NewMemoryStore()
	}
	if s.registry == nil {
		s.registry = prometheus.NewRegistry()
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	switch {
	case opts.MaxInFlight == 0:
		s.maxInFlight = DefaultMaxInFlight
	case opts.MaxInFlight > 0:
		s.maxInFlight = int64(opts.MaxInFlight)
	}
	if s.bodyReadTimeout <= 0 {
		s.bodyReadTimeout = DefaultBodyReadTimeout
	}
	if s.streamWriteTimeout <= 0 {
		s.streamWriteTimeout = DefaultStreamWriteTimeout
	}
	ringSize := opts.RingSize
	if ringSize <= 0 {
		ringSize = DefaultRingSize
	}
	s.ring = decision.NewRing(ringSize)
	sinks := []decision.Sink{s.ring, opts.Sink}
	if opts.DecisionLog != nil {
		s.jsonl = decision.NewBatchedJSONLines(opts.DecisionLog, 0)
		sinks = append(sinks, s.jsonl)
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = providers.NewHTTPClient(providers.HTTPClientOptions{})
	}
	timed := *hc // a copy keeps the caller's client as it was, and CheckRedirect with it
	base := timed.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	timed.Transport = &timedTransport{base: base}
	s.engine = NewEngine(EngineOptions{HTTPClient: &timed, Sink: decision.Multi(sinks...), Router: opts.Router,
		Resolver: &keys.Resolver{Store: s.store, DotEnv: opts.DotEnv, Env: opts.Env}})
	s.metrics = NewMetrics(s.registry, s.engine.State)
	if s.jsonl != nil {
		s.registry.MustRegister(&decisionLogCollector{stats: s.jsonl.Stats})
	}
	s.bufs.New = func() any { return new(bytes.Buffer) }
	return s
}

// FlushDecisionLog returns once every decision event recorded so far is written to ServerOptions.DecisionLog.
func (s *Server) FlushDecisionLog() {
	if s.jsonl != nil {
		s.jsonl.Flush()
	}
}

// Close writes the decision events still queued and stops the decision log's writer; call it after the last
// request (after Running.Shutdown). Events recorded afterwards are written at once.
func (s *Server) Close() {
	if s.jsonl != nil {
		s.jsonl.Close()
	}
}

// Engine returns the server's engine.
func (s *Server) Engine() *Engine { return s.engine }

// Store returns the in-memory key store the admin API writes.
func (s *Server) Store() *keys.MemoryStore { return s.store }

// Ring returns the ring of recent decision events.
func (s *Server) Ring() *decision.Ring { return s.ring }

// Registry returns the metrics registry.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// Snapshot returns the snapshot new requests use; nil before the first successful Apply.
func (s *Server) Snapshot() *Snapshot { return s.snap.Load() }

// Apply compiles b and makes it the config of new requests. Requests in flight keep the snapshot they started
// with. On error the current snapshot stays, and the error is reported on /readyz and in metrics.
func (s *Server) Apply(source string, b *routerconfig.Bundle) error {
	snap, err := NewSnapshot(b, s.catalog)
	if err != nil {
		s.ReportConfigError(source, err)
		return err
	}
	s.snap.Store(snap)
	s.engine.SetSnapshot(snap)
	now := time.Now()
	s.statusMu.Lock()
	s.status = ConfigStatus{Source: source, Checksum: snap.Checksum, Routes: len(b.Config.Routes), LoadedAt: &now}
	s.statusMu.Unlock()
	s.metrics.configLoaded(true, now)
	s.log.Info("config loaded", "source", source, "checksum", snap.Checksum, "routes", len(b.Config.Routes))
	return nil
}

// ReportConfigError records a failed config load: the last good config stays in use.
func (s *Server) ReportConfigError(source string, err error) {
	now := time.Now()
	s.statusMu.Lock()
	if s.status.Source == "" {
		s.status.Source = source
	}
	// Config errors are key-free by construction (manifest and routerconfig errors name files, fields and
	// fingerprints, never values) and must stay whole: a cut message hides which object is wrong.
	s.status.LastError = err.Error()
	s.status.LastErrorAt = &now
	s.statusMu.Unlock()
	s.metrics.configLoaded(false, now)
	s.log.Error("config load failed; keeping the last good config", "source", source, "error", err.Error())
}

// ConfigStatus returns the config status shown on /readyz.
func (s *Server) ConfigStatus() ConfigStatus {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	return s.status
}

// Handler returns the client-facing API: POST /v1/chat/completions, POST /v1/messages (and its
// /count_tokens) and GET /v1/models.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.limited(s.handleChat, func(w http.ResponseWriter, msg string) {
		writeError(w, http.StatusServiceUnavailable, "api_error", faults.ReasonRouterOverloaded, msg)
	}))
	refuseAnthropic := func(w http.ResponseWriter, msg string) {
		writeAnthropicError(w, http.StatusServiceUnavailable, faults.ReasonRouterOverloaded, msg)
	}
	mux.HandleFunc("POST /v1/messages", s.limited(s.handleMessages, refuseAnthropic))
	mux.HandleFunc("POST /v1/messages/count_tokens", s.limited(s.handleCountTokens, refuseAnthropic))
	mux.HandleFunc("GET /v1/models", s.handleModels)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found_error", faults.ReasonBadRequest,
			"no such endpoint: "+r.Method+" "+faults.Sanitize(r.URL.Path, nil))
	})
	return mux
}

// limited admits a request to h only while fewer than maxInFlight are being served; otherwise refuse answers
// 503 with Retry-After before anything is read. The refusal costs a few microseconds, so an overloaded router
// keeps serving what it can instead of queueing everything.
func (s *Server) limited(h http.HandlerFunc, refuse func(w http.ResponseWriter, msg string)) http.HandlerFunc {
	if s.maxInFlight <= 0 {
		return h
	}
	msg := fmt.Sprintf("the router is serving its limit of %d requests at once (llmroute serve --max-in-flight); retry shortly", s.maxInFlight)
	return func(w http.ResponseWriter, r *http.Request) {
		if s.inFlight.Add(1) > s.maxInFlight {
			s.inFlight.Add(-1)
			s.metrics.shed.Inc()
			w.Header().Set(HeaderRequestID, decision.NewRequestID())
			w.Header().Set("Retry-After", "1")
			refuse(w, msg)
			return
		}
		defer s.inFlight.Add(-1)
		h(w, r)
	}
}

// apiError is the OpenAI error body.
type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    string  `json:"code"`
}

// writeError answers with the OpenAI error shape; code is the llmroute reason code.
func writeError(w http.ResponseWriter, status int, typ string, code faults.Reason, msg string) {
	body, _ := json.Marshal(apiError{Error: apiErrorBody{Message: msg, Type: typ, Code: string(code)}})
	writeErrorBody(w, status, body)
}

// writeErrorBody answers status with an encoded error body, whichever API's shape it is in.
func writeErrorBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// handleModels lists the routes in the OpenAI list shape: clients select a route as their model.
func (s *Server) handleModels(w http.ResponseWriter, _ *http.Request) {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	list := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: []model{}}
	if snap := s.snap.Load(); snap != nil && snap.Bundle != nil {
		for _, r := range snap.Bundle.Config.Routes {
			list.Data = append(list.Data, model{ID: r.Name, Object: "model", OwnedBy: "llmroute"})
		}
		slices.SortFunc(list.Data, func(a, b model) int { return strings.Compare(a.ID, b.ID) })
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(list)
}

// readBody reads the request body under the size limit and the body read deadline. The deadline is lifted
// afterwards: Go's server keeps a background read on the connection while the handler runs, and a read
// deadline expiring there would cancel the request's context in the middle of a long generation.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, rc *http.ResponseController) (*bytes.Buffer, error) {
	_ = rc.SetReadDeadline(time.Now().Add(s.bodyReadTimeout))
	defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	buf := s.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		s.putBuf(buf)
		return nil, err
	}
	return buf, nil
}

func (s *Server) putBuf(b *bytes.Buffer) {
	if b.Cap() <= 1<<20 { // do not pin a rare huge body in the pool
		s.bufs.Put(b)
	}
}

// handleChat serves POST /v1/chat/completions.
func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.metrics.inflight.Inc()
	defer s.metrics.inflight.Dec()
	id := decision.NewRequestID()
	w.Header().Set(HeaderRequestID, id)
	rc := http.NewResponseController(w)

	buf, err := s.readBody(w, r, rc)
	if err != nil {
		status, msg := s.bodyError(err)
		writeError(w, status, "invalid_request_error", faults.ReasonBadRequest, msg)
		return
	}
	req := new(providers.ChatRequest)
	// The body outlives the pooled buffer: OpenAI-compatible targets are sent the client's bytes (req.Raw).
	raw := bytes.Clone(buf.Bytes())
	s.putBuf(buf)
	// Calling the request's own decoder skips json.Unmarshal's extra validation pass over the whole body (the
	// decoder validates it anyway). On failure json.Unmarshal runs after all, for its exact error message.
	if err = req.UnmarshalJSON(raw); err != nil {
		*req = providers.ChatRequest{}
		err = json.Unmarshal(raw, req)
	}
	req.Raw = raw
	if err != nil {
		// The decoder's message names a field and a type, never a value, so it is safe to return.
		writeError(w, http.StatusBadRequest, "invalid_request_error", faults.ReasonBadRequest,
			"invalid JSON body: "+faults.Sanitize(err.Error(), nil))
		return
	}
	if req.Model == "" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", faults.ReasonBadRequest,
			"model is required: it names the route (RoutePolicy) to use")
		return
	}
	snap := s.snap.Load()
	if snap == nil {
		writeError(w, http.StatusServiceUnavailable, "api_error", faults.ReasonNoEligibleTarget, "the router has no config loaded yet")
		return
	}
	out, route, redact, timer := s.dispatch(w, r, rc, snap, id, req, nil)
	if e := out.Err; e != nil {
		w.Header().Set(HeaderCostUSD, formatCost(out.CostUSD))
		writeError(w, e.HTTPStatus, e.Type, e.Reason, e.clientMessage(redact))
		s.metrics.observe(route, out.Event, 0, false)
		return
	}
	if out.Stream != nil {
		s.writeStream(r.Context(), w, rc, req, out, route, start, timer, redact)
		return
	}
	w.Header().Set(HeaderCostUSD, formatCost(out.CostUSD))
	body := out.Response.Raw
	if body == nil {
		body, err = json.Marshal(out.Response)
	}
	if err != nil {
		writeError(w, http.StatusBadGateway, "api_error", faults.ReasonMalformedResponse, "could not encode the provider's response")
		s.metrics.observe(route, out.Event, 0, false)
		return
	}
	s.writeAnswer(w, rc, body, route, out, start, timer)
}

// writeAnswer sends a non-streaming answer, encoded in the client's API shape, and records the request.
func (s *Server) writeAnswer(w http.ResponseWriter, rc *http.ResponseController, body []byte, route string, out *Outcome,
	start time.Time, timer *upstreamTimer) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_ = rc.SetWriteDeadline(time.Now().Add(s.streamWriteTimeout))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	// Flushing here rather than when the handler returns puts the answer on the wire before the metrics
	// bookkeeping below, which then costs CPU but no client latency. With Content-Length set the flush sends
	// the same bytes in the same single write the server would have made.
	_ = rc.Flush()
	s.metrics.observe(route, out.Event, time.Since(start)-timer.total(), true)
}

// bodyError maps a readBody error to the status and message the client gets.
func (s *Server) bodyError(err error) (int, string) {
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", s.maxBody)
	}
	return http.StatusBadRequest, "could not read the request body"
}

// dispatch routes a decoded request, whichever API it came in on: it takes the request key override off the
// request (nothing downstream, logs or panics printing the request, may see it again; its value is returned in
// redact for sanitizing messages), enables full duplex for streams, times upstream I/O, runs the engine and sets
// the routing headers.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, snap *Snapshot, id string,
	req *providers.ChatRequest, check func(*providers.ChatResponse) error) (out *Outcome, route string, redact []string, timer *upstreamTimer) {
	in := &Inbound{RequestID: id, Route: req.Model, Req: req, Stream: req.Stream, Check: check}
	if v := r.Header.Get(HeaderProviderKey); v != "" {
		k := keys.NewSecret(v)
		in.KeyOverride = &k
		redact = []string{k.Reveal()}
		r.Header.Del(HeaderProviderKey)
	}
	route = unknownRoute
	if p, ok := snap.Policy(req.Model); ok {
		route = p.Name
	}
	if in.Stream {
		// Without full duplex, Go's HTTP/1 server may close the request body's connection state when the
		// response starts; behind a keep-alive reverse proxy that truncated a fraction of streams.
		_ = rc.EnableFullDuplex()
	}
	timer = &upstreamTimer{}
	out = s.engine.Execute(withUpstreamTimer(r.Context(), timer), snap, in)
	setOutcomeHeaders(w.Header(), out)
	return out, route, redact, timer
}

// setOutcomeHeaders sets the routing headers every answer carries once the engine ran.
func setOutcomeHeaders(h http.Header, out *Outcome) {
	if out.Target != nil {
		h.Set(HeaderTarget, out.Target.Name)
	}
	h.Set(HeaderAttempts, strconv.Itoa(out.Attempts))
	if out.FallbackReason != "" {
		h.Set(HeaderFallbackReason, string(out.FallbackReason))
	}
}

// formatCost prints at most 10 significant digits, so float sums such as 1.4000000000000001e-06 print as
// 0.0000014 rather than carrying their rounding noise into a header.
func formatCost(usd float64) string {
	if r, err := strconv.ParseFloat(strconv.FormatFloat(usd, 'g', 10, 64), 64); err == nil {
		usd = r
	}
	return strconv.FormatFloat(usd, 'f', -1, 64)
}
