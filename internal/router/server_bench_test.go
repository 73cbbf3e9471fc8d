package router_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
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

// BenchmarkHandlerFloors measures, the same way as BenchmarkHandler, what the request costs without the router:
// "provider" is the fake provider's handler alone, "reverse-proxy" a bare httputil.ReverseProxy in front of it.
// BenchmarkHandler minus reverse-proxy is the router's own per-request work (decode, plan, translate, encode,
// metrics, decision event), free of the socket and scheduling costs the loopback bench adds.
func BenchmarkHandlerFloors(b *testing.B) {
	r := newRig(b, rigOptions{}, openaiTarget)
	fake := r.fakes["oai"]
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "fake.invalid"
	}, Transport: inMemory{fake}}
	const body = `{"model":"gpt-4o-mini","max_tokens":64,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Summarise the benefits of routing requests across providers in one line."}]}`
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"provider", fake}, {"reverse-proxy", rp}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+openaiTarget.key)
				c.h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
