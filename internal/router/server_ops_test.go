package router_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/fakeprovider"
	"github.com/llmroute/llmroute/internal/keys"
	"github.com/llmroute/llmroute/internal/manifests"
	"github.com/llmroute/llmroute/internal/router"
)

const canaryKey = "sk-llmroute-canary-7f3a9c1e5b2d4f60a8e1"

// TestCanaryKeyNeverLeaks configures a canary key that the provider rejects and echoes back in its 401 body,
// also sends a canary as a request key, and then looks for both everywhere the router writes: response bodies
// and headers, logs, the decision log and ring, metrics, /v1/state, /readyz.
func TestCanaryKeyNeverLeaks(t *testing.T) {
	const overrideCanary = "sk-llmroute-override-canary-93b1c0d2e4f5"
	rejecting := target{name: "rejects", provider: v1alpha1.ProviderOpenAI, model: "gpt-4o-mini", key: canaryKey,
		serverKey: "sk-the-right-key", echoKey: true}
	anthropicRejecting := target{name: "rejects-too", provider: v1alpha1.ProviderAnthropic, model: "claude-haiku-4-5",
		key: canaryKey, serverKey: "sk-the-right-key", echoKey: true}
	r := newRig(t, rigOptions{}, rejecting, anthropicRejecting)

	var seen []string
	for _, stream := range []bool{false, true} {
		body := fmt.Sprintf(`{"model":"chat","stream":%v,"messages":[{"role":"user","content":"hi"}]}`, stream)
		resp, out := r.rawPost("/v1/chat/completions", body, nil)
		if resp.StatusCode < 400 {
			t.Fatalf("a rejected key succeeded: %d", resp.StatusCode)
		}
		seen = append(seen, out, fmt.Sprint(resp.Header))
		// A request key on a policy that does not allow one is refused, and not echoed.
		resp, out = r.rawPost("/v1/chat/completions", body, map[string]string{router.HeaderProviderKey: overrideCanary})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("override on a policy without allowRequestKeyOverride: status %d", resp.StatusCode)
		}
		seen = append(seen, out, fmt.Sprint(resp.Header))
	}
	// Prove the provider really echoed the key: otherwise this test would prove nothing.
	if !strings.Contains(r.fakes["rejects"].LastRequest().Header.Get("Authorization"), canaryKey) {
		t.Fatal("the fake did not receive the canary key")
	}
	for _, p := range []string{"/metrics", "/v1/state", "/readyz", "/healthz", "/debug/decisions?n=100", "/admin/keys"} {
		_, body := r.get(p)
		seen = append(seen, body)
	}
	r.srv.FlushDecisionLog()
	seen = append(seen, r.logs.String(), r.decLog.String())
	for _, ev := range r.srv.Ring().Recent(100) {
		b, _ := json.Marshal(ev)
		seen = append(seen, string(b))
	}
	if !strings.Contains(r.decLog.String(), "invalid_credentials") {
		t.Errorf("decision log does not record the rejection:\n%s", r.decLog.String())
	}
	for _, s := range seen {
		for _, c := range []string{canaryKey, overrideCanary, canaryKey[10:30], overrideCanary[10:30]} {
			if strings.Contains(s, c) {
				t.Fatalf("canary %q leaked in:\n%s", c, s)
			}
		}
	}
}

// TestHotReloadUnderLoadLosesNoRequest swaps the config 20 times (manifests rewritten on disk, each swap
// moving the route between two providers) while workers send requests; every request must succeed, and each
// must be answered by one of the two configs' targets.
func TestHotReloadUnderLoadLosesNoRequest(t *testing.T) {
	a, err := fakeprovider.Start(fakeprovider.Options{Provider: fakeprovider.OpenAI})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := fakeprovider.Start(fakeprovider.Options{Provider: fakeprovider.Anthropic})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	manifest := func(gen int) string {
		provider, model, url := "openai", "gpt-4o-mini", a.URL()
		if gen%2 == 1 {
			provider, model, url = "anthropic", "claude-haiku-4-5", b.URL()
		}
		return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: k}
stringData: {apiKey: sk-gen-%d}
---
apiVersion: llmroute.dev/v1alpha1
kind: ProviderKey
metadata: {name: up}
spec: {provider: %s, secretRef: {name: k}, baseURL: %q, inCluster: true}
---
apiVersion: llmroute.dev/v1alpha1
kind: RoutePolicy
metadata: {name: chat}
spec:
  targets: [{name: t%d, provider: %s, model: %s, keyRef: {name: up}}]
`, gen, provider, url, gen%2, provider, model)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "llmroute.yaml")
	if err := os.WriteFile(path, []byte(manifest(0)), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := router.NewServer(router.ServerOptions{Env: func(string) (string, bool) { return "", false },
		Logger: slog.New(slog.DiscardHandler)})
	rl := router.NewReloader(dir, srv, time.Hour, manifests.Load)
	if changed, err := rl.Reload(); err != nil || !changed {
		t.Fatalf("first load: %v %v", changed, err)
	}
	api := httptest.NewServer(srv.Handler())
	defer api.Close()

	var ok, failed atomic.Int64
	var failures sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const workers, maxPerWorker = 8, 2000
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < maxPerWorker; i++ {
				select {
				case <-stop:
					return
				default:
				}
				stream := i%3 == 0
				body := fmt.Sprintf(`{"model":"chat","stream":%v,"messages":[{"role":"user","content":"req %d"}]}`, stream, i)
				resp, err := api.Client().Post(api.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
				if err != nil {
					failed.Add(1)
					failures.Store(err.Error(), true)
					continue
				}
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				tg := resp.Header.Get(router.HeaderTarget)
				if resp.StatusCode != 200 || (tg != "t0" && tg != "t1") || (stream && !strings.HasSuffix(string(out), "[DONE]\n\n")) {
					failed.Add(1)
					failures.Store(fmt.Sprintf("%d %s %.200s", resp.StatusCode, tg, out), true)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	checksums := map[string]bool{srv.Snapshot().Checksum: true}
	for gen := 1; gen <= 20; gen++ {
		// Let some requests run on each config before the next swap.
		target := ok.Load() + 20
		waitFor(t, "requests on the current config", func() bool { return ok.Load() >= target || failed.Load() > 0 })
		if err := os.WriteFile(path, []byte(manifest(gen)), 0o600); err != nil {
			t.Fatal(err)
		}
		if changed, err := rl.Reload(); err != nil || !changed {
			t.Fatalf("reload %d: changed=%v err=%v", gen, changed, err)
		}
		checksums[srv.Snapshot().Checksum] = true
	}
	close(stop)
	wg.Wait()
	if len(checksums) != 21 {
		t.Errorf("%d distinct configs applied, want 21", len(checksums))
	}
	failures.Range(func(k, _ any) bool { t.Errorf("failure: %v", k); return true })
	if failed.Load() != 0 || ok.Load() < 400 {
		t.Fatalf("ok=%d failed=%d", ok.Load(), failed.Load())
	}
	t.Logf("%d requests across 20 swaps, none failed; upstream calls a=%d b=%d", ok.Load(), a.Calls(), b.Calls())
	if a.Calls() == 0 || b.Calls() == 0 {
		t.Error("traffic did not follow the swaps")
	}

	// A broken config keeps the last good one, visible on /readyz and in metrics.
	good := srv.Snapshot().Checksum
	if err := os.WriteFile(path, []byte("apiVersion: llmroute.dev/v1alpha1\nkind: RoutePolicy\nmetadata: {name: chat}\nspec: {targets: []}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := rl.Reload(); err == nil {
		t.Fatal("invalid config accepted")
	}
	if srv.Snapshot().Checksum != good {
		t.Fatal("last good config replaced")
	}
	st := srv.Ready()
	if !st.Ready || !strings.Contains(st.Config.LastError, "should have at least 1 items") {
		t.Errorf("readyz after a bad reload: %+v", st)
	}
	ops := httptest.NewServer(srv.OpsHandler())
	defer ops.Close()
	resp, err := ops.Client().Get(ops.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"llmroute_config_last_reload_ok 0", `llmroute_config_reloads_total{result="error"} 1`,
		`llmroute_config_reloads_total{result="ok"} 21`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestReadyzFlipsAfterLoad: not ready without a config, ready after it loads, and not ready while the .env
// file is malformed.
func TestReadyzFlipsAfterLoad(t *testing.T) {
	dir := t.TempDir()
	envFile := filepath.Join(dir, ".env")
	r := newRig(t, rigOptions{noConfig: true, server: func(o *router.ServerOptions) { o.DotEnv = keys.NewDotEnv(envFile) }}, openaiTarget)
	if code, body := r.get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, `"ready":false`) {
		t.Fatalf("ready before config: %d %s", code, body)
	}
	resp, body := r.rawPost("/v1/chat/completions", `{"model":"chat","messages":[]}`, nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("request before config: %d %s", resp.StatusCode, body)
	}
	if err := r.srv.Apply("test", r.bundle(rigOptions{})); err != nil {
		t.Fatal(err)
	}
	if code, body := r.get("/readyz"); code != http.StatusOK || !strings.Contains(body, `"checksum":"`) {
		t.Fatalf("not ready after config: %d %s", code, body)
	}
	if err := os.WriteFile(envFile, []byte("OPENAI_API_KEY='unterminated\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, body := r.get("/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, ".env") || strings.Contains(body, "unterminated'") {
		t.Fatalf("ready with a malformed .env: %d %s", code, body)
	}
	if code, _ := r.get("/healthz"); code != http.StatusOK {
		t.Errorf("healthz %d", code)
	}
}

// TestShutdownDrainsInFlight starts the real listeners, holds a request and a stream in flight upstream,
// shuts down, and expects both to complete while new connections are refused.
func TestShutdownDrainsInFlight(t *testing.T) {
	slow := withFault(openaiTarget, fakeprovider.Fault{Latency: 300 * time.Millisecond})
	r := newRig(t, rigOptions{}, slow)
	run, err := r.srv.Start(router.ListenOptions{API: "127.0.0.1:0", Admin: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + run.APIAddr + "/v1/chat/completions"
	type result struct {
		code int
		body string
		err  error
	}
	results := make(chan result, 2)
	for _, stream := range []bool{false, true} {
		go func() {
			body := fmt.Sprintf(`{"model":"chat","stream":%v,"messages":[{"role":"user","content":"drain me"}]}`, stream)
			resp, err := http.Post(url, "application/json", strings.NewReader(body))
			if err != nil {
				results <- result{err: err}
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			results <- result{code: resp.StatusCode, body: string(b), err: err}
		}()
	}
	waitFor(t, "two requests in flight upstream", func() bool { return r.fakes["oai"].InFlight() == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shutdownErr := make(chan error, 1)
	go func() { shutdownErr <- run.Shutdown(ctx) }()
	waitFor(t, "listener closed", func() bool {
		c, err := http.Get("http://" + run.AdminAddr + "/healthz")
		if err == nil {
			c.Body.Close()
		}
		return err != nil
	})
	for range 2 {
		res := <-results
		if res.err != nil || res.code != 200 || !strings.Contains(res.body, "drain") {
			t.Errorf("in-flight request not drained: %+v", res)
		}
	}
	if err := <-shutdownErr; err != nil {
		t.Errorf("shutdown: %v", err)
	}
	select {
	case <-run.Done():
	default:
		t.Error("servers still running after Shutdown")
	}
}

// TestClientCancelCancelsUpstream: a client that goes away cancels the upstream call, records
// deadline_exceeded, and leaves no goroutine behind.
func TestClientCancelCancelsUpstream(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	func() {
		r := newRig(t, rigOptions{}, withFault(openaiTarget, fakeprovider.Fault{Hang: true}))
		defer r.api.Close()
		defer r.admin.Close()
		for _, stream := range []bool{false, true} {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				body := fmt.Sprintf(`{"model":"chat","stream":%v,"messages":[{"role":"user","content":"hang"}]}`, stream)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.api.URL+"/v1/chat/completions", strings.NewReader(body))
				resp, err := r.api.Client().Do(req)
				if err == nil {
					resp.Body.Close()
				}
				done <- err
			}()
			waitFor(t, "the upstream call", func() bool { return r.fakes["oai"].InFlight() == 1 })
			cancel()
			if err := <-done; err == nil {
				t.Fatal("cancelled request succeeded")
			}
			waitFor(t, "the upstream call to be cancelled", func() bool { return r.fakes["oai"].InFlight() == 0 })
			waitFor(t, "the decision event", func() bool {
				evs := r.srv.Ring().Recent(1)
				return len(evs) == 1 && evs[0].Final.Reason != "" && r.srv.Ring().Len() == map[bool]int{false: 1, true: 2}[stream]
			})
			if ev := r.srv.Ring().Recent(1)[0]; ev.Final.Outcome != "failed" {
				t.Errorf("cancelled request recorded %+v", ev.Final)
			}
		}
		r.api.Client().CloseIdleConnections()
		r.api.CloseClientConnections()
		r.srv.Close()
		for _, f := range r.fakes {
			f.Close()
		}
	}()
	http.DefaultClient.CloseIdleConnections()
}

// TestAdminKeys sets, uses and deletes a key through the admin API, and refuses a non-loopback client.
func TestAdminKeys(t *testing.T) {
	keyless := target{name: "needs-key", provider: v1alpha1.ProviderOpenAI, model: "gpt-4o-mini", serverKey: "sk-from-admin"}
	r := newRig(t, rigOptions{}, keyless)
	resp, body := r.rawPost("/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"x"}]}`, nil)
	if _, code, _ := errorBody(t, body); resp.StatusCode == 200 || code != "key_unavailable" && code != "no_eligible_target" {
		t.Fatalf("without a key: %d %s", resp.StatusCode, body)
	}
	for _, put := range []string{"sk-from-admin\n", `{"key":"sk-from-admin"}`} {
		req, _ := http.NewRequest(http.MethodPut, r.admin.URL+"/admin/keys/needs-key", strings.NewReader(put))
		resp, err := r.admin.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.Contains(string(b), "sk-from-admin") || !strings.Contains(string(b), keys.Fingerprint("sk-from-admin")) {
			t.Fatalf("PUT %q: %d %s", put, resp.StatusCode, b)
		}
	}
	if _, body := r.get("/admin/keys"); !strings.Contains(body, "team/needs-key") {
		t.Errorf("listing: %s", body)
	}
	resp, body = r.rawPost("/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"x"}]}`, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("with the stored key: %d %s", resp.StatusCode, body)
	}
	if ev := r.event(resp.Header.Get(router.HeaderRequestID)); ev.Attempts[0].Key == nil || ev.Attempts[0].Key.Source != keys.SourceStore {
		t.Errorf("key source not traced as store: %+v", ev.Attempts[0].Key)
	}
	req, _ := http.NewRequest(http.MethodDelete, r.admin.URL+"/admin/keys/needs-key", nil)
	if resp, err := r.admin.Client().Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %v %v", resp, err)
	}
	if len(r.srv.Store().Names()) != 0 {
		t.Error("key not deleted")
	}

	// A client on another address is refused (served in memory: no traffic leaves the machine).
	rec := httptest.NewRecorder()
	remote := httptest.NewRequest(http.MethodPut, "/admin/keys/needs-key", strings.NewReader("sk-x"))
	remote.RemoteAddr = "192.0.2.10:40000"
	r.srv.AdminHandler().ServeHTTP(rec, remote)
	if rec.Code != http.StatusForbidden || len(r.srv.Store().Names()) != 0 {
		t.Errorf("non-loopback PUT: %d", rec.Code)
	}
	// The API listener does not serve admin endpoints at all.
	resp, _ = r.rawPost("/admin/keys/needs-key", "sk-x", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("admin on the API port: %d", resp.StatusCode)
	}
}

// TestOpsEndpoints checks /metrics after a failover, /v1/state and /debug/decisions.
func TestOpsEndpoints(t *testing.T) {
	r := newRig(t, rigOptions{}, withFault(renamed(openaiTarget, "primary"), broken503), renamed(anthropicTarget, "secondary"))
	resp, body := r.rawPost("/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"x"}]}`, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	id := resp.Header.Get(router.HeaderRequestID)
	metrics := r.settledMetrics()
	for _, want := range []string{
		`llmroute_requests_total{outcome="ok",reason="fallback_succeeded",route="team/chat"} 1`,
		`llmroute_attempts_total{outcome="failed",reason="provider_5xx",route="team/chat",target="primary"} 1`,
		`llmroute_fallbacks_total{from="primary",reason="provider_5xx",route="team/chat",to="secondary"} 1`,
		`llmroute_cost_usd_total{route="team/chat",target="secondary"}`,
		`llmroute_breaker_state{policy="team/chat",state="closed",target="primary"} 1`,
		`llmroute_upstream_latency_seconds_count{route="team/chat",target="secondary"} 1`,
		`llmroute_added_latency_seconds_count{route="team/chat"} 1`,
		`llmroute_inflight_requests 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// The upstream histogram has the attempt's real duration: the fake answers in well under a millisecond,
	// which the event's latency_ms rounds to 0.
	sum := metricValue(t, metrics, `llmroute_upstream_latency_seconds_sum{route="team/chat",target="secondary"}`)
	if sum <= 0 || sum > 10 {
		t.Errorf("upstream latency sum %g s, want the attempt's duration", sum)
	}
	// An unknown model must not become a label value.
	r.rawPost("/v1/chat/completions", `{"model":"client-chosen-garbage","messages":[]}`, nil)
	if _, metrics = r.get("/metrics"); strings.Contains(metrics, "client-chosen-garbage") || !strings.Contains(metrics, `route="_unknown"`) {
		t.Error("unknown route not folded into _unknown")
	}

	_, state := r.get("/v1/state")
	var rs struct {
		Targets []struct{ Target, State string }
	}
	if err := json.Unmarshal([]byte(state), &rs); err != nil || len(rs.Targets) != 2 {
		t.Errorf("state %s (%v)", state, err)
	}
	code, ev := r.get("/debug/decisions/" + id)
	if code != 200 || !strings.Contains(ev, `"request_id":"`+id+`"`) || !strings.Contains(ev, `"reason":"fallback_succeeded"`) {
		t.Errorf("decision %d %s", code, ev)
	}
	if code, _ := r.get("/debug/decisions/000000000000"); code != 404 {
		t.Errorf("unknown id: %d", code)
	}
	if _, recent := r.get("/debug/decisions?n=1"); !strings.Contains(recent, `"request_id":"`) {
		t.Errorf("recent %s", recent)
	}
	// Every request is one JSON line in the decision log.
	r.srv.FlushDecisionLog()
	lines := strings.Split(strings.TrimSpace(r.decLog.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], id) {
		t.Errorf("decision log lines %d: %s", len(lines), r.decLog.String())
	}
	// The writer's counters are on /metrics: both events written, no request waited for the writer.
	_, m := r.get("/metrics")
	for _, want := range []string{"llmroute_decision_log_events_written_total 2\n", "llmroute_decision_log_waits_total 0\n",
		"llmroute_decision_log_write_seconds_total ", "llmroute_decision_log_slowest_write_seconds "} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestInFlightLimitSheds: with MaxInFlight requests being served, the next one on either API gets 503
// router_overloaded with Retry-After at once, without reaching a provider, and is counted; once the slot
// frees, requests are served again.
func TestInFlightLimitSheds(t *testing.T) {
	r := newRig(t, rigOptions{server: func(o *router.ServerOptions) { o.MaxInFlight = 1 }},
		withFault(openaiTarget, fakeprovider.Fault{Hang: true}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.api.URL+"/v1/chat/completions",
			strings.NewReader(`{"model":"chat","messages":[{"role":"user","content":"hang"}]}`))
		if resp, err := r.api.Client().Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	waitFor(t, "the first request upstream", func() bool { return r.fakes["oai"].InFlight() == 1 })

	resp, body := r.rawPost("/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"x"}]}`, nil)
	if _, code, _ := errorBody(t, body); resp.StatusCode != http.StatusServiceUnavailable || code != "router_overloaded" ||
		resp.Header.Get("Retry-After") != "1" || resp.Header.Get(router.HeaderRequestID) == "" {
		t.Errorf("chat over the limit: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	resp, body = r.rawPost("/v1/messages", `{"model":"chat","max_tokens":10,"messages":[{"role":"user","content":"x"}]}`, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `"type":"overloaded_error"`) ||
		!strings.Contains(body, `"code":"router_overloaded"`) {
		t.Errorf("messages over the limit: %d %s", resp.StatusCode, body)
	}
	if f := r.fakes["oai"]; f.Calls() != 0 || f.InFlight() != 1 {
		t.Errorf("refused requests reached the provider: %d calls, %d in flight", f.Calls(), f.InFlight())
	}
	if _, m := r.get("/metrics"); !strings.Contains(m, "llmroute_requests_shed_total 2") {
		t.Errorf("shed requests not counted:\n%s", grepLines(m, "shed"))
	}

	cancel()
	<-done
	r.fakes["oai"].SetFault(fakeprovider.Fault{})
	waitFor(t, "the slot to free", func() bool {
		resp, _ := r.rawPost("/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"x"}]}`, nil)
		return resp.StatusCode == http.StatusOK
	})
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// metricValue returns the value of the sample named exactly series (name and labels) in a text exposition.
func metricValue(t *testing.T, exposition, series string) float64 {
	t.Helper()
	for line := range strings.Lines(exposition) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", series, err)
			}
			return f
		}
	}
	t.Fatalf("no sample %s", series)
	return 0
}
