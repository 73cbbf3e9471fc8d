package router_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llmroute/llmroute/internal/router"
)

// inMemory sends upstream requests straight into a handler, so the benchmark measures the router's own path
// (decode, plan, translate, encode, metrics) without sockets.
type inMemory struct{ h http.Handler }

func (m inMemory) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	m.h.ServeHTTP(rec, req)
	return rec.Result(), nil
}

// BenchmarkHandler measures one non-streaming chat completion through the API handler, upstream in memory.
func BenchmarkHandler(b *testing.B) {
	r := newRig(b, rigOptions{}, openaiTarget)
	srv := router.NewServer(router.ServerOptions{HTTPClient: &http.Client{Transport: inMemory{r.fakes["oai"]}},
		Env: func(string) (string, bool) { return "", false }})
	if err := srv.Apply("bench", r.bundle(rigOptions{})); err != nil {
		b.Fatal(err)
	}
	h := srv.Handler()
	const body = `{"model":"chat","max_tokens":64,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Summarise the benefits of routing requests across providers in one line."}]}`
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
