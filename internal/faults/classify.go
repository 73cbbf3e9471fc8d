package faults

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxMessageLen bounds Result.Message in bytes: enough to tell what went wrong, short enough for a decision
// event, a status field or a metric label's neighbour.
const MaxMessageLen = 256

// MaxRetryAfter bounds the Retry-After a provider can impose. A misconfigured or hostile header must not take a
// target out for days; an hour covers real quota resets.
const MaxRetryAfter = time.Hour

// hintScanLimit bounds how much of an error body is searched for hints, so a huge body costs little.
const hintScanLimit = 64 << 10

// Input is what an HTTP client saw for one attempt. Either Err is set (no usable response, or the body could
// not be read) or Status is.
type Input struct {
	// Err is the error returned by the HTTP client or while reading the body.
	Err error
	// Status is the response status code, 0 when no response was received.
	Status int
	// Header holds the response headers (Retry-After, retry-after-ms).
	Header http.Header
	// Body is the response body, or its first bytes, for error responses.
	Body []byte
	// Redact lists strings that must never appear in Result.Message: the key sent with the request, at least.
	Redact []string
	// Now is the time an HTTP-date Retry-After is measured from; zero means time.Now().
	Now time.Time
}

// Result is the classification of one attempt.
type Result struct {
	// Class is what the router does about the failure; empty for success.
	Class Class
	// Reason is the reason code; ReasonOK for a 2xx without error.
	Reason Reason
	// Status is the HTTP status seen, 0 when none.
	Status int
	// RetryAfter is how long the provider asked us to wait (429 and 503/529), 0 when it did not say.
	RetryAfter time.Duration
	// Message is a short description safe to log and to return to clients: it never holds the request's key or
	// anything shaped like a credential, and is at most MaxMessageLen bytes.
	Message string
}

// OK reports whether the result is a success.
func (r Result) OK() bool { return r.Reason == ReasonOK }

// Classify maps what the HTTP client saw to a class, a reason code and a sanitized message. It never panics and
// always returns a valid reason. A 2xx whose body cannot be decoded is the caller's to report as
// ReasonMalformedResponse, since only the adapter knows the expected shape.
func Classify(in Input) Result {
	if in.Err != nil {
		r := classifyErr(in.Err)
		r.Status = in.Status
		r.Message = Sanitize(errMessage(in.Err), in.Redact)
		return r
	}
	reason, retryAfter := classifyStatus(in)
	return Result{
		Class:      ClassOf(reason),
		Reason:     reason,
		Status:     in.Status,
		RetryAfter: retryAfter,
		Message:    statusMessage(in),
	}
}

func result(r Reason) Result { return Result{Class: ClassOf(r), Reason: r} }

// classifyErr orders its checks from most to least specific: a dial that timed out is a connect error, which
// tells an operator more than "timeout".
func classifyErr(err error) Result {
	if errors.Is(err, context.Canceled) {
		// Our own context ended (the client went away, or the executor gave up): not the provider's fault, so
		// it must not count against its breaker.
		return result(ReasonDeadlineExceeded)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return result(ReasonConnectError)
	}
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	switch {
	case errors.As(err, &dnsErr), errors.As(err, &certErr), errors.As(err, &recErr),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH):
		return result(ReasonConnectError)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, http.ErrHandlerTimeout) {
		return result(ReasonTimeout)
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return result(ReasonTimeout)
	}
	// Resets, broken pipes, EOF mid-response and anything else the transport reports after connecting: the
	// response was lost, which is transient by nature.
	return result(ReasonConnectionReset)
}

// errMessage drops the URL of a *url.Error: Gemini carries the key in the query string (?key=...).
func errMessage(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Op + ": " + ue.Err.Error()
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "connection closed mid-response: " + err.Error()
	}
	return err.Error()
}

func classifyStatus(in Input) (Reason, time.Duration) {
	s := in.Status
	switch {
	case s >= 200 && s <= 299:
		return ReasonOK, 0
	case s == http.StatusTooManyRequests:
		return ReasonRateLimited, retryAfter(in)
	case s == http.StatusRequestTimeout:
		return ReasonTimeout, 0
	case s >= 500 && s <= 599:
		// 529 is Anthropic's "overloaded": transient like any 5xx. 503 and 529 often carry Retry-After.
		return ReasonProvider5xx, retryAfter(in)
	case s == http.StatusUnauthorized:
		return ReasonInvalidCredentials, 0
	case s == http.StatusPaymentRequired:
		// Out of credit: the key works but cannot pay for this target, which no retry will fix.
		return ReasonPermissionDenied, 0
	case s == http.StatusForbidden:
		if bodyHas(in.Body, credentialHints) {
			return ReasonInvalidCredentials, 0
		}
		return ReasonPermissionDenied, 0
	case s == http.StatusNotFound:
		return ReasonModelNotFound, 0
	case s == http.StatusRequestEntityTooLarge:
		return ReasonContextTooLarge, 0
	case s >= 400 && s <= 499:
		return refineBadRequest(in.Body), 0
	default:
		// 1xx, 3xx (redirects are followed by the client, so one here is a misconfigured endpoint) and
		// out-of-range codes: the provider did not give an answer we can use.
		return ReasonMalformedResponse, 0
	}
}

// Body hints, lower case unless noted. Providers disagree on status codes for the same condition (Gemini
// rejects a bad key with 400 API_KEY_INVALID), so the body decides what a generic 4xx means.
var (
	credentialHints = []string{"api_key_invalid", "api key not valid", "invalid api key", "invalid_api_key",
		"incorrect api key", "invalid x-api-key", "authentication_error"}
	modelHints   = []string{"model_not_found", "model not found", "unknown model", "no such model"}
	contextHints = []string{"context_length_exceeded", "maximum context length", "prompt is too long",
		"context window", "exceeds the maximum number of tokens", "reduce the length of the messages",
		"input is too long", "too many input tokens"}
	contentHints = []string{"content_filter", "content_policy", "content management policy",
		"safety system", "responsibleaipolicyviolation", "blocked due to safety"}
	schemaHints = []string{"response_format", "json_schema", "schema"}
)

func refineBadRequest(body []byte) Reason {
	switch {
	case bodyHas(body, credentialHints):
		return ReasonInvalidCredentials
	case bodyHas(body, contextHints):
		return ReasonContextTooLarge
	// Gemini writes its block reason as the upper-case enum SAFETY; lower-case "safety" is too common a word.
	case bodyHas(body, contentHints), bytes.Contains(scanned(body), []byte("SAFETY")):
		return ReasonContentFiltered
	case bodyHas(body, schemaHints):
		return ReasonSchemaMismatch
	case bodyHas(body, modelHints):
		return ReasonModelNotFound
	}
	return ReasonBadRequest
}

func scanned(body []byte) []byte {
	if len(body) > hintScanLimit {
		return body[:hintScanLimit]
	}
	return body
}

func bodyHas(body []byte, hints []string) bool {
	lower := bytes.ToLower(scanned(body))
	for _, h := range hints {
		if bytes.Contains(lower, []byte(h)) {
			return true
		}
	}
	return false
}

// retryAfter reads retry-after-ms (OpenAI, more precise) before Retry-After (seconds or an HTTP-date).
func retryAfter(in Input) time.Duration {
	if in.Header == nil {
		return 0
	}
	if v := strings.TrimSpace(in.Header.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil {
			return clampRetryAfter(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(in.Header.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		return clampRetryAfter(secs * float64(time.Second))
	}
	if at, err := http.ParseTime(v); err == nil {
		now := in.Now
		if now.IsZero() {
			now = time.Now()
		}
		return clampRetryAfter(float64(at.Sub(now)))
	}
	return 0
}

// clampRetryAfter works in float64 so that NaN, infinities and huge values from a header cannot overflow.
func clampRetryAfter(ns float64) time.Duration {
	switch {
	case ns != ns || ns <= 0: // NaN or not in the future
		return 0
	case ns >= float64(MaxRetryAfter):
		return MaxRetryAfter
	}
	return time.Duration(ns)
}

func statusMessage(in Input) string {
	if in.Status >= 200 && in.Status <= 299 {
		return ""
	}
	text := http.StatusText(in.Status)
	if in.Status == 529 {
		text = "Overloaded"
	}
	if text == "" {
		text = "unexpected status"
	}
	msg := fmt.Sprintf("%d %s", in.Status, text)
	if detail := providerMessage(in.Body); detail != "" {
		msg += ": " + detail
	}
	return Sanitize(msg, in.Redact)
}

// providerMessage extracts the human message from the error shapes of OpenAI-compatible APIs, Anthropic
// ({"type":"error","error":{...}}) and Gemini (an object, or an array of one), falling back to the raw body.
func providerMessage(body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return ""
	}
	if len(body) > hintScanLimit {
		return string(body[:MaxMessageLen])
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return string(body[:min(len(body), 2*MaxMessageLen)])
	}
	if arr, ok := v.([]any); ok && len(arr) > 0 {
		v = arr[0]
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return string(body[:min(len(body), 2*MaxMessageLen)])
	}
	if e, ok := obj["error"].(map[string]any); ok {
		if m, ok := e["message"].(string); ok && m != "" {
			return m
		}
	}
	for _, k := range []string{"error", "message", "detail"} {
		if m, ok := obj[k].(string); ok && m != "" {
			return m
		}
	}
	return string(body[:min(len(body), 2*MaxMessageLen)])
}

// Credential-shaped tokens, redacted even when the caller did not list the key: an error body may echo a
// different key, or a proxy may reflect the Authorization header.
var credentialPatterns = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`(?i)bearer\s+[^\s"',;]+`), "Bearer " + redactedText},
	{regexp.MustCompile(`sk-[A-Za-z0-9_\-*]{6,}`), redactedText},
	{regexp.MustCompile(`AIza[0-9A-Za-z_\-]{10,}`), redactedText},
	{regexp.MustCompile(`gsk_[0-9A-Za-z]{10,}`), redactedText},
	{regexp.MustCompile(`xai-[0-9A-Za-z]{10,}`), redactedText},
	{regexp.MustCompile(`(?i)([?&](?:key|api[_-]?key|access_token)=)[^&\s"']+`), "${1}" + redactedText},
	{regexp.MustCompile(`(?i)((?:x-api-key|x-goog-api-key|api[_-]?key|authorization)["']?\s*[:=]\s*["']?)[^\s"',}]+`),
		"${1}" + redactedText},
}

const redactedText = "[REDACTED]"

// Sanitize makes s safe to log or return: it replaces every occurrence of each non-empty string in redact, and
// anything shaped like a credential, with [REDACTED], turns control characters and invalid UTF-8 into spaces,
// collapses whitespace and cuts the result to MaxMessageLen bytes on a character boundary.
//
// Redaction runs before and after normalisation: before, so that a key is caught as the caller gave it; after,
// so that removing a character cannot join two halves of a key. Cutting comes last so it cannot split a key
// into a piece the patterns no longer recognise.
func Sanitize(s string, redact []string) string {
	s = redactAll(s, redact)
	s = normalize(s)
	norm := make([]string, 0, len(redact))
	for _, r := range redact {
		norm = append(norm, normalize(r))
	}
	s = redactAll(s, norm)
	for _, p := range credentialPatterns {
		s = p.re.ReplaceAllString(s, p.repl)
	}
	return truncate(s, MaxMessageLen)
}

func redactAll(s string, redact []string) string {
	for _, r := range redact {
		if r != "" {
			s = strings.ReplaceAll(s, r, redactedText)
		}
	}
	return s
}

// normalize maps invalid UTF-8 and control characters to spaces (never deleting them, which could join the two
// halves of a key) and collapses runs of whitespace.
func normalize(s string) string {
	s = strings.ToValidUTF8(s, " ")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
