package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestClassifyErrors(t *testing.T) {
	dialRefused := &net.OpError{Op: "dial", Net: "tcp",
		Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	readReset := &net.OpError{Op: "read", Net: "tcp",
		Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}
	readTimeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	tests := []struct {
		name   string
		err    error
		status int
		want   Reason
		class  Class
	}{
		{"context deadline", &url.Error{Op: "Post", URL: "https://x", Err: context.DeadlineExceeded}, 0, ReasonTimeout, ClassTransient},
		{"net read timeout", readTimeout, 0, ReasonTimeout, ClassTransient},
		{"dial refused", &url.Error{Op: "Post", URL: "https://x", Err: dialRefused}, 0, ReasonConnectError, ClassTransient},
		{"bare ECONNREFUSED", syscall.ECONNREFUSED, 0, ReasonConnectError, ClassTransient},
		{"dns", &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "api.example"}}, 0, ReasonConnectError, ClassTransient},
		{"dial timeout is a connect error", &net.OpError{Op: "dial", Err: os.ErrDeadlineExceeded}, 0, ReasonConnectError, ClassTransient},
		{"reset", readReset, 0, ReasonConnectionReset, ClassTransient},
		{"EOF mid-response", fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), 200, ReasonConnectionReset, ClassTransient},
		{"plain EOF", io.EOF, 0, ReasonConnectionReset, ClassTransient},
		{"unknown transport error", errors.New("http2: stream closed"), 0, ReasonConnectionReset, ClassTransient},
		{"our own cancel is local", &url.Error{Op: "Post", URL: "https://x", Err: context.Canceled}, 0, ReasonDeadlineExceeded, ClassLocal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(Input{Err: tt.err, Status: tt.status})
			if got.Reason != tt.want || got.Class != tt.class || got.Status != tt.status {
				t.Fatalf("Classify(%v) = %+v, want reason %s class %s status %d", tt.err, got, tt.want, tt.class, tt.status)
			}
			if got.Message == "" {
				t.Error("empty message for an error")
			}
		})
	}
}

func TestClassifyStatus(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   Reason
		class  Class
	}{
		{"200", 200, `{"id":"x"}`, ReasonOK, ""},
		{"204", 204, ``, ReasonOK, ""},
		{"500", 500, `{"error":{"message":"boom"}}`, ReasonProvider5xx, ClassTransient},
		{"502", 502, `<html>bad gateway</html>`, ReasonProvider5xx, ClassTransient},
		{"503", 503, ``, ReasonProvider5xx, ClassTransient},
		{"anthropic 529 overloaded", 529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, ReasonProvider5xx, ClassTransient},
		{"429", 429, `{"error":{"message":"Rate limit reached"}}`, ReasonRateLimited, ClassTransient},
		{"408", 408, ``, ReasonTimeout, ClassTransient},
		{"401", 401, `{"error":{"message":"Incorrect API key provided"}}`, ReasonInvalidCredentials, ClassHard},
		{"402", 402, ``, ReasonPermissionDenied, ClassHard},
		{"403", 403, `{"error":{"message":"not allowed to use model"}}`, ReasonPermissionDenied, ClassHard},
		{"403 with bad key", 403, `{"error":{"message":"API key not valid"}}`, ReasonInvalidCredentials, ClassHard},
		{"404", 404, `{"error":{"code":"model_not_found"}}`, ReasonModelNotFound, ClassHard},
		{"413", 413, ``, ReasonContextTooLarge, ClassSemantic},
		{"400 plain", 400, `{"error":{"message":"messages: field required"}}`, ReasonBadRequest, ClassSemantic},
		{"422 plain", 422, `{"detail":"Unprocessable"}`, ReasonBadRequest, ClassSemantic},
		{"409 other 4xx", 409, ``, ReasonBadRequest, ClassSemantic},
		{"openai context", 400, `{"error":{"code":"context_length_exceeded","message":"This model's maximum context length is 8192 tokens"}}`, ReasonContextTooLarge, ClassSemantic},
		{"anthropic context", 400, `{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 250000 tokens > 200000 maximum"}}`, ReasonContextTooLarge, ClassSemantic},
		{"gemini context", 400, `{"error":{"code":400,"message":"The input token count (2000000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}`, ReasonContextTooLarge, ClassSemantic},
		{"openai content filter", 400, `{"error":{"code":"content_filter","message":"filtered"}}`, ReasonContentFiltered, ClassSemantic},
		{"content policy", 400, `{"error":{"code":"content_policy_violation"}}`, ReasonContentFiltered, ClassSemantic},
		{"gemini SAFETY", 400, `{"promptFeedback":{"blockReason":"SAFETY"}}`, ReasonContentFiltered, ClassSemantic},
		{"lower-case safety is just a word", 400, `{"error":{"message":"for your safety, say please"}}`, ReasonBadRequest, ClassSemantic},
		{"response_format", 400, `{"error":{"message":"Invalid 'response_format': unsupported"}}`, ReasonSchemaMismatch, ClassSemantic},
		{"json_schema 422", 422, `{"error":{"message":"json_schema is invalid"}}`, ReasonSchemaMismatch, ClassSemantic},
		{"gemini bad key is 400", 400, `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}`, ReasonInvalidCredentials, ClassHard},
		{"compatible provider 400 model_not_found", 400, `{"error":{"code":"model_not_found"}}`, ReasonModelNotFound, ClassHard},
		{"no status no error", 0, ``, ReasonMalformedResponse, ClassTransient},
		{"redirect", 302, ``, ReasonMalformedResponse, ClassTransient},
		{"out of range", 999, ``, ReasonMalformedResponse, ClassTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(Input{Status: tt.status, Body: []byte(tt.body)})
			if got.Reason != tt.want || got.Class != tt.class || got.Status != tt.status {
				t.Fatalf("got %+v, want reason %s class %s", got, tt.want, tt.class)
			}
			if !Valid(got.Reason) {
				t.Fatalf("invalid reason %q", got.Reason)
			}
		})
	}
}

func TestClassifyMessage(t *testing.T) {
	got := Classify(Input{Status: 429, Body: []byte(`{"error":{"message":"Rate limit reached for gpt-4o"}}`)})
	if want := "429 Too Many Requests: Rate limit reached for gpt-4o"; got.Message != want {
		t.Errorf("message = %q, want %q", got.Message, want)
	}
	got = Classify(Input{Status: 529, Body: []byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)})
	if want := "529 Overloaded: Overloaded"; got.Message != want {
		t.Errorf("message = %q, want %q", got.Message, want)
	}
	got = Classify(Input{Status: 500, Body: []byte(`[{"error":{"code":500,"message":"Internal error encountered."}}]`)})
	if want := "500 Internal Server Error: Internal error encountered."; got.Message != want {
		t.Errorf("gemini array: message = %q, want %q", got.Message, want)
	}
	// The URL of a client error may carry a Gemini key in its query: it must not reach the message.
	err := &url.Error{Op: "Post", URL: "https://generativelanguage.googleapis.com/v1beta/x?key=AIzaSyD-secret-value-123", Err: context.DeadlineExceeded}
	got = Classify(Input{Err: err})
	if strings.Contains(got.Message, "AIza") || strings.Contains(got.Message, "googleapis") {
		t.Errorf("message leaks the URL: %q", got.Message)
	}
	if want := "Post: context deadline exceeded"; got.Message != want {
		t.Errorf("message = %q, want %q", got.Message, want)
	}
	long := Classify(Input{Status: 500, Body: []byte(strings.Repeat("é", 1000))})
	if len(long.Message) > MaxMessageLen {
		t.Errorf("message is %d bytes, cap is %d", len(long.Message), MaxMessageLen)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		status int
		header http.Header
		want   time.Duration
	}{
		{"seconds", 429, http.Header{"Retry-After": {"7"}}, 7 * time.Second},
		{"fractional seconds", 429, http.Header{"Retry-After": {"1.5"}}, 1500 * time.Millisecond},
		{"http date", 429, http.Header{"Retry-After": {now.Add(30 * time.Second).Format(http.TimeFormat)}}, 30 * time.Second},
		{"http date in the past", 429, http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, 0},
		{"retry-after-ms wins", 429, http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"7"}}, 250 * time.Millisecond},
		{"lower-case header name", 429, http.Header{http.CanonicalHeaderKey("retry-after-ms"): {"40"}}, 40 * time.Millisecond},
		{"bad ms falls back", 429, http.Header{"Retry-After-Ms": {"soon"}, "Retry-After": {"2"}}, 2 * time.Second},
		{"garbage", 429, http.Header{"Retry-After": {"tomorrow"}}, 0},
		{"negative", 429, http.Header{"Retry-After": {"-5"}}, 0},
		{"NaN", 429, http.Header{"Retry-After": {"NaN"}}, 0},
		{"huge is capped", 429, http.Header{"Retry-After": {"1e300"}}, MaxRetryAfter},
		{"503 carries it too", 503, http.Header{"Retry-After": {"3"}}, 3 * time.Second},
		{"400 ignores it", 400, http.Header{"Retry-After": {"3"}}, 0},
		{"no header", 429, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(Input{Status: tt.status, Header: tt.header, Now: now})
			if got.RetryAfter != tt.want {
				t.Fatalf("RetryAfter = %v, want %v", got.RetryAfter, tt.want)
			}
		})
	}
}

// TestClassifyRealTransport checks the classification of errors as net/http really produces them, since the
// error chains differ between Go versions and platforms.
func TestClassifyRealTransport(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		_, err = http.Get("http://" + addr)
		if got := Classify(Input{Err: err}); got.Reason != ReasonConnectError {
			t.Fatalf("got %+v for %v", got, err)
		}
	})
	t.Run("closed mid-response", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			_, _ = conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"id\":"))
			conn.Close()
		}))
		defer srv.Close()
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := Classify(Input{Err: err, Status: resp.StatusCode}); got.Reason != ReasonConnectionReset {
			t.Fatalf("got %+v for %v", got, err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(release)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		_, err := http.DefaultClient.Do(req)
		if got := Classify(Input{Err: err}); got.Reason != ReasonTimeout {
			t.Fatalf("got %+v for %v", got, err)
		}
	})
}

func TestSanitize(t *testing.T) {
	const key = "sk-proj-CANARY-abcdef0123456789"
	tests := []struct {
		name   string
		in     string
		redact []string
		want   string
	}{
		{"listed key", "bad key " + key + " given", []string{key}, "bad key [REDACTED] given"},
		{"unlisted sk- key", "key sk-abcdef123456 rejected", nil, "key [REDACTED] rejected"},
		{"bearer", "Authorization: Bearer abc.def.ghi", nil, "Authorization: [REDACTED] [REDACTED]"},
		{"bare bearer", "got bearer tok123", nil, "got Bearer [REDACTED]"},
		{"google key", "key AIzaSyA1234567890abcdef invalid", nil, "key [REDACTED] invalid"},
		{"groq key", "gsk_abcdefghijklmnop", nil, "[REDACTED]"},
		{"query key", "GET /v1?key=whatever&alt=sse", nil, "GET /v1?key=[REDACTED]&alt=sse"},
		{"json api_key", `{"api_key":"zzz"}`, nil, `{"api_key":"[REDACTED]"}`},
		{"x-api-key header", "x-api-key: plainvalue", nil, "x-api-key: [REDACTED]"},
		{"short custom key", "custom k3y here", []string{"k3y"}, "custom [REDACTED] here"},
		{"key split by control char is still caught", "a sk-CAN\x00ARY b", []string{"sk-CAN ARY"}, "a [REDACTED] b"},
		{"whitespace collapsed", "a\n\n\tb", nil, "a b"},
		{"empty redact entry ignored", "abc", []string{""}, "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sanitize(tt.in, tt.redact); got != tt.want {
				t.Fatalf("Sanitize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestClassifyRedactsBody(t *testing.T) {
	const key = "custom-key-without-prefix-1234"
	body := `{"error":{"message":"Incorrect API key provided: ` + key + `"}}`
	got := Classify(Input{Status: 401, Body: []byte(body), Redact: []string{key}})
	if strings.Contains(got.Message, key) {
		t.Fatalf("message leaks key: %q", got.Message)
	}
	if want := "401 Unauthorized: Incorrect API key provided: [REDACTED]"; got.Message != want {
		t.Fatalf("message = %q, want %q", got.Message, want)
	}
}

// A provider may JSON-escape the key it echoes; the message is taken from the decoded JSON, so it is redacted.
func TestClassifyRedactsEscapedKey(t *testing.T) {
	body := `{"error":{"message":"bad key \u0073k-CANARY-5f1e2d3c4b5a69788796a5b4"}}`
	for _, redact := range [][]string{{canary}, nil} {
		got := Classify(Input{Status: 401, Body: []byte(body), Redact: redact})
		if strings.Contains(got.Message, "CANARY") {
			t.Fatalf("message leaks key: %q", got.Message)
		}
	}
}

func TestFailsOver(t *testing.T) {
	def := []string{"transient", "hard"}
	tests := []struct {
		name   string
		reason Reason
		on     []string
		want   bool
	}{
		{"transient by class", ReasonTimeout, def, true},
		{"hard by class", ReasonInvalidCredentials, def, true},
		{"semantic never", ReasonContextTooLarge, def, false},
		{"semantic never even listed", ReasonBadRequest, []string{"semantic", "bad_request"}, false},
		{"local never", ReasonBreakerOpen, []string{"local", "breaker_open", "transient"}, false},
		{"success never", ReasonOK, def, false},
		{"by reason only", ReasonRateLimited, []string{"rate_limited"}, true},
		{"other transient not listed", ReasonTimeout, []string{"rate_limited"}, false},
		{"hard not listed", ReasonModelNotFound, []string{"transient"}, false},
		{"empty list", ReasonTimeout, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Result{Class: ClassOf(tt.reason), Reason: tt.reason}
			if got := FailsOver(r, tt.on); got != tt.want {
				t.Fatalf("FailsOver(%s, %v) = %v, want %v", tt.reason, tt.on, got, tt.want)
			}
		})
	}
}

func TestEnum(t *testing.T) {
	// The brief's list, in its order: the enum must hold exactly these.
	want := []Reason{"timeout", "connect_error", "connection_reset", "provider_5xx", "rate_limited",
		"invalid_credentials", "permission_denied", "model_not_found", "bad_request", "schema_mismatch",
		"content_filtered", "context_too_large", "malformed_response", "over_hard_cost_cap", "unknown_price",
		"unbounded_output", "over_latency_sla", "missing_capability", "breaker_open", "quarantined", "already_tried",
		"retry_budget_exhausted", "deadline_exceeded", "stream_interrupted", "usage_outlier", "no_eligible_target",
		"fallback_succeeded", "ok", "key_unavailable", "router_overloaded"}
	all := AllReasons()
	if len(all) != len(want) {
		t.Fatalf("AllReasons has %d reasons, want %d", len(all), len(want))
	}
	for _, r := range want {
		if !Valid(r) {
			t.Errorf("%q is not valid", r)
		}
		c := ClassOf(r)
		success := r == ReasonOK || r == ReasonFallbackSucceeded
		if success != (c == "") || (!success && !c.Valid()) {
			t.Errorf("ClassOf(%q) = %q", r, c)
		}
	}
	if Valid("nope") || ClassOf("nope") != "" {
		t.Error("unknown reason accepted")
	}
	all[0] = "mutated"
	if AllReasons()[0] == "mutated" {
		t.Error("AllReasons returned shared state")
	}
	// The CRD's FailureClass enum names reasons that must exist here, in the class the CEL rule assumes.
	for _, r := range []Reason{ReasonBadRequest, ReasonSchemaMismatch, ReasonContentFiltered, ReasonContextTooLarge} {
		if ClassOf(r) != ClassSemantic {
			t.Errorf("%s must be semantic: the CRD forbids listing it in fallback.failOverOn", r)
		}
	}
}

const canary = "sk-CANARY-5f1e2d3c4b5a69788796a5b4"

func FuzzClassify(f *testing.F) {
	f.Add(400, "Retry-After", "5", []byte(`{"error":{"message":"bad key `+canary+`"}}`), 3)
	f.Add(429, "Retry-After-Ms", "1e400", []byte(`{}`), 0)
	f.Add(529, "Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT", []byte(`[{"error":{"message":"x"}}]`), 1)
	f.Add(500, "", "", []byte("\xff\xfe\x00sk-"), 2)
	f.Add(-1, "X", "\x00", []byte(nil), 0)
	f.Fuzz(func(t *testing.T, status int, hk, hv string, body []byte, at int) {
		// Inject the key at a fuzzed position, raw and JSON-escaped, so the classifier sees it however a provider
		// might echo it.
		if at < 0 {
			at = -at
		}
		if at < 0 { // math.MinInt
			at = 0
		}
		at %= len(body) + 1
		b := append([]byte{}, body[:at]...)
		b = append(b, canary...)
		b = append(b, body[at:]...)
		h := http.Header{}
		h.Add(hk, hv)
		for _, redact := range [][]string{{canary}, nil} {
			res := Classify(Input{Status: status, Header: h, Body: b, Redact: redact})
			if !Valid(res.Reason) {
				t.Fatalf("invalid reason %q", res.Reason)
			}
			if res.Class != ClassOf(res.Reason) {
				t.Fatalf("class %q does not match reason %q", res.Class, res.Reason)
			}
			if strings.Contains(res.Message, canary) {
				t.Fatalf("message leaks the key: %q", res.Message)
			}
			if len(res.Message) > MaxMessageLen {
				t.Fatalf("message is %d bytes", len(res.Message))
			}
			if res.RetryAfter < 0 || res.RetryAfter > MaxRetryAfter {
				t.Fatalf("RetryAfter %v out of range", res.RetryAfter)
			}
			errRes := Classify(Input{Err: errors.New(string(b)), Redact: redact})
			if strings.Contains(errRes.Message, canary) || !Valid(errRes.Reason) {
				t.Fatalf("error path: %+v", errRes)
			}
		}
	})
}
