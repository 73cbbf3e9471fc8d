package providers_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"sync"
	"testing"

	"github.com/llmroute/llmroute/internal/keys"
	"github.com/llmroute/llmroute/internal/providers"
)

// canary is a key whose appearance in any error string or log would be a leak.
const canary = "sk-canary-7f3a9c1e5b2d4068a1b2c3d4"

// upstream is a loopback server that records what the adapter sent and answers with a fixed response.
type upstream struct {
	*httptest.Server
	mu     sync.Mutex
	path   string
	query  string
	header http.Header
	body   []byte
	calls  int
}

func newUpstream(t *testing.T, status int, contentType, body string, header ...string) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.path, u.query, u.header, u.body = r.URL.Path, r.URL.RawQuery, r.Header.Clone(), b
		u.calls++
		u.mu.Unlock()
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) sent(t *testing.T) map[string]any {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	var m map[string]any
	if err := json.Unmarshal(u.body, &m); err != nil {
		t.Fatalf("adapter sent invalid JSON %q: %v", u.body, err)
	}
	return m
}

func endpoint(u *upstream, model string) providers.Endpoint {
	return providers.Endpoint{BaseURL: u.URL + "/v1", Model: model, Key: keys.NewSecret(canary)}
}

func mustRequest(t *testing.T, s string) *providers.ChatRequest {
	t.Helper()
	var r providers.ChatRequest
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		t.Fatalf("decode request: %v", err)
	}
	return &r
}

// jsonEqual compares got (decoded JSON) with want (JSON text) structurally.
func jsonEqual(t *testing.T, what string, got any, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want JSON for %s: %v", what, err)
	}
	gb, _ := json.Marshal(got)
	var g any
	_ = json.Unmarshal(gb, &g)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %s\nwant %s", what, gb, mustCompact(want))
	}
}

func mustCompact(s string) string {
	var v any
	_ = json.Unmarshal([]byte(s), &v)
	b, _ := json.Marshal(v)
	return string(b)
}

// drain reads a stream to its end and returns the chunks and the final error (nil for a clean io.EOF).
func drain(t *testing.T, sr providers.StreamReader) ([]*providers.StreamChunk, error) {
	t.Helper()
	defer sr.Close()
	var chunks []*providers.StreamChunk
	for {
		c, err := sr.Next()
		if errors.Is(err, io.EOF) {
			return chunks, nil
		}
		if err != nil {
			return chunks, err
		}
		chunks = append(chunks, c)
	}
}

// assembled folds stream chunks into content, tool calls and the finish reason, as a client would.
type assembled struct {
	content string
	tools   map[int]*providers.ToolCall
	finish  string
	usage   *providers.ResponseUsage
}

func assemble(chunks []*providers.StreamChunk) assembled {
	a := assembled{tools: map[int]*providers.ToolCall{}}
	for _, c := range chunks {
		if c.Usage != nil {
			a.usage = c.Usage
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil {
				a.content += *ch.Delta.Content
			}
			for _, tc := range ch.Delta.ToolCalls {
				idx := 0
				if tc.Index != nil {
					idx = *tc.Index
				}
				cur, ok := a.tools[idx]
				if !ok {
					cur = &providers.ToolCall{}
					a.tools[idx] = cur
				}
				if tc.ID != "" {
					cur.ID = tc.ID
				}
				if tc.Function.Name != "" {
					cur.Function.Name = tc.Function.Name
				}
				cur.Function.Arguments += tc.Function.Arguments
			}
			if ch.FinishReason != nil {
				a.finish = *ch.FinishReason
			}
		}
	}
	return a
}

var bg = context.Background()

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
