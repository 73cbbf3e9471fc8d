package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/llmroute/llmroute/internal/keys"
)

// Provider names accepted by For and DefaultBaseURL.
const (
	ProviderOpenAI           = "openai"
	ProviderGroq             = "groq"
	ProviderMistral          = "mistral"
	ProviderDeepSeek         = "deepseek"
	ProviderXAI              = "xai"
	ProviderOpenAICompatible = "openaiCompatible"
	ProviderAnthropic        = "anthropic"
	ProviderGemini           = "gemini"
)

// Sentinel errors a classifier can test with errors.Is.
var (
	// ErrMalformedResponse means the provider answered 2xx with a body that is not the expected JSON.
	ErrMalformedResponse = errors.New("malformed provider response")
	// ErrStreamInterrupted means a stream ended (or failed) before its terminator: the answer is truncated.
	ErrStreamInterrupted = errors.New("stream interrupted before its terminator")
	// ErrUnsupportedRequest means the request uses something the target's wire format cannot express; it is
	// returned before any network call.
	ErrUnsupportedRequest = errors.New("request not supported by provider")
	// ErrUnknownProvider is returned by For for a provider name it does not know.
	ErrUnknownProvider = errors.New("unknown provider")
)

// Endpoint is one resolved target: where to send, which model to ask for, and with which key.
type Endpoint struct {
	// BaseURL includes the version prefix, e.g. https://api.openai.com/v1. Empty means the provider's default.
	BaseURL string
	// Model replaces the client's model (which names a RoutePolicy, not a model).
	Model string
	// Key authenticates the request; it is revealed only into the authentication header.
	Key keys.Secret
	// MaxTokens, when > 0, caps the request's output tokens: a larger or missing request limit is lowered to it.
	MaxTokens int
	// Reasoning says whether the model can think (the catalog's reasoning capability); nil when unknown. A
	// request's Reasoning goes only to models that can (see Reasoning).
	Reasoning *bool
}

// Adapter speaks one provider's wire format. Implementations are stateless and safe for concurrent use; they
// never modify the request they are given, because the router may send it to several targets in turn.
type Adapter interface {
	// Do sends a non-streaming request and returns the response in OpenAI shape with normalized usage.
	Do(ctx context.Context, hc *http.Client, ep Endpoint, req *ChatRequest) (*ChatResponse, Usage, error)
	// Stream sends a streaming request. A non-2xx answer is returned as *UpstreamError before any chunk, so the
	// caller can still fail over.
	Stream(ctx context.Context, hc *http.Client, ep Endpoint, req *ChatRequest) (StreamReader, error)
}

// StreamReader yields a stream as OpenAI chunks.
type StreamReader interface {
	// Next returns the next chunk, io.EOF after the provider's terminator, or an error wrapping
	// ErrStreamInterrupted if the stream ended or failed without its terminator (never a clean io.EOF then).
	// Every adapter ends a complete stream with a usage chunk (empty choices), as OpenAI does with
	// stream_options.include_usage; a caller whose client did not ask for usage drops it.
	Next() (*StreamChunk, error)
	// Usage returns the usage seen so far; it is complete once Next has returned io.EOF.
	Usage() Usage
	// Close releases the connection. It is safe to call more than once.
	Close() error
}

// For returns the adapter for a provider name.
func For(provider string) (Adapter, error) {
	switch provider {
	case ProviderOpenAI, ProviderGroq, ProviderMistral, ProviderDeepSeek, ProviderXAI, ProviderOpenAICompatible:
		return &OpenAIAdapter{Provider: provider}, nil
	case ProviderAnthropic:
		return &AnthropicAdapter{}, nil
	case ProviderGemini:
		return &GeminiAdapter{}, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownProvider, provider)
}

// DefaultBaseURL returns the provider's public API base URL, or "" for openaiCompatible and unknown providers
// (whose base URL must be configured).
func DefaultBaseURL(provider string) string {
	switch provider {
	case ProviderOpenAI:
		return "https://api.openai.com/v1"
	case ProviderGroq:
		return "https://api.groq.com/openai/v1"
	case ProviderMistral:
		return "https://api.mistral.ai/v1"
	case ProviderDeepSeek:
		return "https://api.deepseek.com/v1"
	case ProviderXAI:
		return "https://api.x.ai/v1"
	case ProviderAnthropic:
		return "https://api.anthropic.com/v1"
	case ProviderGemini:
		return "https://generativelanguage.googleapis.com/v1beta"
	}
	return ""
}

// HTTPClientOptions tunes NewHTTPClient. Zero values pick the defaults.
type HTTPClientOptions struct {
	// DialTimeout bounds TCP connect; default 10s.
	DialTimeout time.Duration
	// MaxIdleConnsPerHost defaults to 256: the router talks to few hosts at high concurrency, and Go's default
	// of 2 would churn connections under load.
	MaxIdleConnsPerHost int
}

// NewHTTPClient returns the client adapters should use. It refuses to follow redirects: Go strips only the
// Authorization header on a cross-host redirect, not x-api-key or x-goog-api-key, so following one could hand a
// key to another host; the 3xx comes back as an *UpstreamError instead. There is no client-wide timeout and no
// ResponseHeaderTimeout: the router bounds each attempt with its context, and a fixed header timeout would cut
// long non-streaming generations.
func NewHTTPClient(opts HTTPClientOptions) *http.Client {
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 10 * time.Second
	}
	if opts.MaxIdleConnsPerHost <= 0 {
		opts.MaxIdleConnsPerHost = 256
	}
	dialer := &net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          0, // no global cap; the per-host cap bounds it
		MaxIdleConnsPerHost:   opts.MaxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// maxErrorBody caps how much of an error body is kept: enough for any provider's error JSON, bounded so a
// misbehaving upstream cannot make the router buffer megabytes per failed attempt.
const maxErrorBody = 64 << 10

// maxResponseBody caps a successful non-streaming body, for the same reason.
const maxResponseBody = 32 << 20

// UpstreamError is a non-2xx answer from a provider. Body has the presented key replaced by [REDACTED], so it is
// safe to inspect and to keep; Error prints only the status and a short sanitized message.
type UpstreamError struct {
	// Provider names the wire format that produced the error (openai, anthropic, gemini).
	Provider string
	// Status is the HTTP status code.
	Status int
	// Header is the response header (Retry-After, x-should-retry, ratelimit headers ...).
	Header http.Header
	// Body is at most 64 KiB of the response body, redacted.
	Body []byte
}

// Error implements error.
func (e *UpstreamError) Error() string {
	msg := e.Message()
	if msg == "" {
		return fmt.Sprintf("%s: upstream status %d", e.Provider, e.Status)
	}
	return fmt.Sprintf("%s: upstream status %d: %s", e.Provider, e.Status, msg)
}

// Message extracts the provider's error message (error.message in all three formats), falling back to the start
// of the body; it is shortened, stripped of control characters and of anything shaped like an API key.
func (e *UpstreamError) Message() string {
	var env struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	msg := ""
	if json.Unmarshal(e.Body, &env) == nil && env.Error.Message != "" {
		msg = env.Error.Message
	} else {
		msg = string(e.Body)
	}
	return sanitize(msg, 200)
}

// RetryAfter parses the Retry-After header (seconds or HTTP date) relative to now; ok is false when absent or
// unparsable.
func (e *UpstreamError) RetryAfter(now time.Time) (d time.Duration, ok bool) {
	v := strings.TrimSpace(e.Header.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
		return time.Duration(secs * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// keyShaped matches the common provider key formats, as a second line of defence for keys that were not the
// one presented (a provider quoting another key, a truncated echo).
var keyShaped = regexp.MustCompile(`(?:sk-|sk_|gsk_|xai-|AIza)[A-Za-z0-9_\-*.]{8,}`)

// sanitize shortens s to n runes, drops control characters and masks key-shaped tokens.
func sanitize(s string, n int) string {
	s = keyShaped.ReplaceAllString(s, redacted)
	var b strings.Builder
	count := 0
	for _, r := range s {
		if count >= n {
			b.WriteString("...")
			break
		}
		if unicode.IsControl(r) {
			r = ' '
		}
		b.WriteRune(r)
		count++
	}
	return strings.TrimSpace(b.String())
}

const redacted = "[REDACTED]"

// redactKey replaces every occurrence of the key in b.
func redactKey(b []byte, key keys.Secret) []byte {
	if key.Empty() {
		return b
	}
	return bytes.ReplaceAll(b, []byte(key.Reveal()), []byte(redacted))
}

// newUpstreamError reads (at most 64 KiB of) a non-2xx response and closes it.
func newUpstreamError(provider string, resp *http.Response, key keys.Secret) *UpstreamError {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody)) // a partial body is still worth keeping
	return &UpstreamError{Provider: provider, Status: resp.StatusCode, Header: resp.Header.Clone(), Body: redactKey(body, key)}
}

// send marshals body, POSTs it with the given auth headers and returns the response when it is 2xx. Transport
// errors are wrapped with %w so context and net errors stay visible to errors.Is and errors.As.
func send(ctx context.Context, hc *http.Client, provider, url string, body any, key keys.Secret,
	setAuth func(http.Header)) (*http.Response, error) {
	var payload []byte
	if raw, ok := body.(json.RawMessage); ok {
		payload = raw // already encoded: json.Marshal would only copy and re-validate it
	} else {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("%s: encode request: %w", provider, err)
		}
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("%s: build request: %w", provider, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json, text/event-stream")
	setAuth(hreq.Header)
	if hc == nil {
		hc = defaultClient
	}
	resp, err := hc.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("%s: send request: %w", provider, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, newUpstreamError(provider, resp, key)
	}
	return resp, nil
}

// defaultClient is used when a caller passes a nil *http.Client; it has the same no-redirect policy.
var defaultClient = NewHTTPClient(HTTPClientOptions{})

// readJSON decodes a successful body into v, mapping anything unparsable to ErrMalformedResponse and read
// failures (deadline, reset) to a wrapped transport error.
func readJSON(provider string, resp *http.Response, v any) error {
	defer resp.Body.Close()
	_, err := decodeBody(provider, resp.Body, resp.ContentLength, v)
	return err
}

// readJSONBody is readJSON that also returns the body it decoded.
func readJSONBody(provider string, resp *http.Response, v any) ([]byte, error) {
	defer resp.Body.Close()
	return decodeBody(provider, resp.Body, resp.ContentLength, v)
}

// decodeBody reads a successful body of at most maxResponseBody bytes and decodes it into v. size is the
// body's announced length (Content-Length), or -1 when unknown.
func decodeBody(provider string, r io.Reader, size int64, v any) ([]byte, error) {
	body, err := readUpTo(r, size, maxResponseBody)
	if err != nil {
		return nil, fmt.Errorf("%s: read response: %w", provider, err)
	}
	if len(body) > maxResponseBody {
		return nil, fmt.Errorf("%s: %w: body larger than %d bytes", provider, ErrMalformedResponse, maxResponseBody)
	}
	if err := unmarshalJSON(body, v); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", provider, ErrMalformedResponse, err)
	}
	return body, nil
}

// readUpTo reads r to its end, stopping after limit+1 bytes so the caller can tell an oversized body. It
// returns one allocation of the body's size, where io.ReadAll grows its buffer several times for a typical
// answer of a few KB: with a known size within the limit it reads straight into a buffer of that size (a
// body longer than announced still reads on, bounded by limit); otherwise it reads into a pooled buffer and
// copies the result out.
func readUpTo(r io.Reader, size, limit int64) ([]byte, error) {
	if size <= 0 || size > limit {
		buf := readBufs.Get().(*bytes.Buffer)
		buf.Reset()
		_, err := buf.ReadFrom(io.LimitReader(r, limit+1))
		b := bytes.Clone(buf.Bytes())
		if buf.Cap() <= 1<<20 { // do not pin a rare huge body in the pool
			readBufs.Put(buf)
		}
		return b, err
	}
	b := make([]byte, 0, size+1) // the extra byte lets the read that reports EOF land without a grow
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			rest, err := io.ReadAll(io.LimitReader(r, limit+1-int64(len(b))))
			return append(b, rest...), err
		}
	}
}

var readBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// malformed reports a 2xx body that parsed but is not a usable answer.
func malformed(provider, detail string) error {
	return fmt.Errorf("%s: %w: %s", provider, ErrMalformedResponse, detail)
}

// malformedErr reports a 2xx body (or stream event) that did not parse.
func malformedErr(provider string, err error) error {
	return fmt.Errorf("%s: %w: %w", provider, ErrMalformedResponse, err)
}

// baseURL returns the endpoint's base URL without a trailing slash, or the provider default.
func baseURL(ep Endpoint, provider string) string {
	u := ep.BaseURL
	if u == "" {
		u = DefaultBaseURL(provider)
	}
	return strings.TrimRight(u, "/")
}

// capTokens applies Endpoint.MaxTokens to a request limit (0 = none): the smaller positive value wins.
func capTokens(requested, endpointMax int) int {
	if endpointMax > 0 && (requested <= 0 || requested > endpointMax) {
		return endpointMax
	}
	return requested
}

// errStreamEvent builds the error for an error event inside a 200 stream.
func errStreamEvent(provider, typ, message string) error {
	return &StreamEventError{Provider: provider, Type: typ, Message: sanitize(message, 200)}
}

// StreamEventError is an error event a provider sent inside a stream that had already started (for example
// Anthropic's overloaded_error). It wraps ErrStreamInterrupted: the answer is incomplete.
type StreamEventError struct {
	Provider string
	// Type is the provider's error type (overloaded_error, server_error, ...), for classification.
	Type    string
	Message string
}

// Error implements error.
func (e *StreamEventError) Error() string {
	return fmt.Sprintf("%s: error event in stream: %s: %s", e.Provider, e.Type, e.Message)
}

// Unwrap makes errors.Is(err, ErrStreamInterrupted) true.
func (e *StreamEventError) Unwrap() error { return ErrStreamInterrupted }

// interrupted wraps a read failure so that both ErrStreamInterrupted and the cause (context.Canceled, a net
// error) are visible to errors.Is.
func interrupted(provider string, cause error) error {
	if cause == nil || errors.Is(cause, io.EOF) {
		return fmt.Errorf("%s: %w: connection closed without terminator", provider, ErrStreamInterrupted)
	}
	return fmt.Errorf("%s: %w: %w", provider, ErrStreamInterrupted, cause)
}

// nowUnix is the creation timestamp for responses synthesized from non-OpenAI providers.
func nowUnix() int64 { return time.Now().Unix() }

func ptr[T any](v T) *T { return &v }
