// Package e2e runs the README walkthrough as assertions over real processes: a real kube-apiserver and etcd,
// the operator, fake providers, the kubelet stand-in (hack/secretmount) and `llmroute serve`, driven by the real
// kubectl and HTTP. Everything listens on 127.0.0.1 and every wait is bounded.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/llmroute/llmroute/internal/decision"
	"github.com/llmroute/llmroute/internal/keys"
	"github.com/llmroute/llmroute/internal/testenv"
)

type cluster struct {
	t        *testing.T
	env      *testenv.Env
	bin      string
	logs     string
	ports    map[string]int
	procs    map[string]*exec.Cmd
	manifest string
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e runs real processes; skipped with -short")
	}
	started := time.Now()
	c := &cluster{t: t, env: testenv.Start(t), bin: t.TempDir(), logs: t.TempDir(), ports: map[string]int{}, procs: map[string]*exec.Cmd{}}
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpLogs()
		}
	})
	c.build()
	for _, name := range []string{"control", "deepseek", "anthropic", "groq", "router", "admin", "opmetrics", "opprobe"} {
		c.ports[name] = c.freePort()
	}

	c.start("fakeprovider", filepath.Join(c.bin, "fakeprovider"), "--control", c.addr("control"),
		"--provider", "deepseek=openai@"+c.addr("deepseek"),
		"--provider", "anthropic=anthropic@"+c.addr("anthropic"),
		"--provider", "groq=groq@"+c.addr("groq"))
	c.ports["webhook"] = c.freePort()
	c.kubectl("create", "namespace", "llmroute-system")
	c.kubectlStdin([]byte(fmt.Sprintf(`{"apiVersion":"admissionregistration.k8s.io/v1","kind":"MutatingWebhookConfiguration",
"metadata":{"name":"llmroute"},"webhooks":[{"name":"inject.llmroute.dev","admissionReviewVersions":["v1"],"sideEffects":"None",
"failurePolicy":"Fail","clientConfig":{"url":"https://%s/mutate-v1-pod"},
"objectSelector":{"matchLabels":{"llmroute.dev/inject":"true"}},
"rules":[{"apiGroups":[""],"apiVersions":["v1"],"operations":["CREATE"],"resources":["pods"]}]}]}`, c.addr("webhook"))), "apply", "-f", "-")
	c.start("operator", filepath.Join(c.bin, "operator"),
		"--enable-webhook", "--webhook-host", "127.0.0.1", "--webhook-port", strconv.Itoa(c.ports["webhook"]),
		"--webhook-namespace", "llmroute-system", "--webhook-config-name", "llmroute",
		"--metrics-bind-address", c.addr("opmetrics"), "--health-probe-bind-address", c.addr("opprobe"),
		"--static-router", c.addr("admin"), "--poll-interval", "500ms", "--stale-after", "3s")

	t.Run("kubectl apply of the samples", func(t *testing.T) {
		c.manifest = c.devManifest()
		c.kubectl("apply", "-f", c.manifest)
		c.eventually("RoutePolicy Ready", 30*time.Second, func() (bool, string) {
			out := c.kubectl("get", "rp", "assistant", "-n", "payments", "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}")
			return out == "True", out
		})
	})

	cfgDir := filepath.Join(t.TempDir(), "router-config")
	c.start("secretmount", filepath.Join(c.bin, "secretmount"), "--kubeconfig", c.env.Kubeconfig,
		"--namespace", "payments", "--dir", cfgDir, "--interval", "100ms")
	c.eventually("compiled config mounted", 30*time.Second, func() (bool, string) {
		_, err := os.Stat(filepath.Join(cfgDir, "config.json"))
		return err == nil, fmt.Sprint(err)
	})
	c.start("router", filepath.Join(c.bin, "llmroute"), "serve", "--config", cfgDir,
		"--listen", c.addr("router"), "--admin-listen", c.addr("admin"))
	c.eventually("router ready", 30*time.Second, func() (bool, string) {
		code, body := c.get("admin", "/readyz")
		return code == 200, body
	})
	routerPID := c.procs["router"].Process.Pid

	t.Run("requests through the router succeed", func(t *testing.T) {
		for i := 0; i < 5; i++ {
			resp := c.chat(t)
			if resp.status != 200 || resp.target != "a-cheap" || resp.attempts != "1" {
				t.Fatalf("request %d: status %d target %q attempts %q body %s", i, resp.status, resp.target, resp.attempts, resp.body)
			}
		}
	})

	t.Run("provider outage fails over, shows CoolingDown then Healthy", func(t *testing.T) {
		c.fault("deepseek", `{"Status":503}`)
		for i := 0; i < 6; i++ {
			resp := c.chat(t)
			n, _ := strconv.Atoi(resp.attempts)
			if resp.status != 200 || resp.target == "a-cheap" || n < 1 || n > 3 {
				t.Fatalf("during outage: status %d target %q attempts %q body %s", resp.status, resp.target, resp.attempts, resp.body)
			}
		}
		c.eventually("a-cheap CoolingDown in kubectl get rp", 20*time.Second, func() (bool, string) {
			state := c.kubectl("get", "rp", "assistant", "-n", "payments", "-o", "jsonpath={.status.providers[?(@.name==\"a-cheap\")].state}")
			table := c.kubectl("get", "rp", "-n", "payments")
			return state == "CoolingDown" && strings.Contains(table, "2/3"), state + "\n" + table
		})
		c.fault("deepseek", `{}`)
		// The sample's cooldown is 5 s (jitter 10%); after it a probe request closes the breaker.
		c.eventually("a-cheap Healthy again", 40*time.Second, func() (bool, string) {
			c.chat(t)
			state := c.kubectl("get", "rp", "assistant", "-n", "payments", "-o", "jsonpath={.status.providers[?(@.name==\"a-cheap\")].state}")
			return state == "Healthy", state
		})
	})

	t.Run("Secret rotation changes the key in use without restarting the router", func(t *testing.T) {
		newKey := "rotated-e2e-key-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		secret := fmt.Sprintf(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"deepseek-api-key","namespace":"payments"},"stringData":{"apiKey":%q}}`, newKey)
		c.kubectlStdin([]byte(secret), "apply", "-f", "-")
		want := keys.Fingerprint(newKey)
		c.eventually("new key fingerprint in decision events", 30*time.Second, func() (bool, string) {
			resp := c.chat(t)
			ev := c.event(resp.requestID)
			if ev == nil || len(ev.Attempts) == 0 || ev.Attempts[0].Key == nil {
				return false, resp.body
			}
			return strings.HasSuffix(ev.Attempts[0].Key.ID, "#"+want), ev.Attempts[0].Key.ID
		})
		if pid := c.procs["router"].Process.Pid; pid != routerPID || c.procs["router"].ProcessState != nil {
			t.Fatalf("router restarted")
		}
		if out := c.kubectl("get", "pk", "deepseek", "-n", "payments", "-o", "jsonpath={.status.keyFingerprint}"); out != want {
			t.Errorf("ProviderKey fingerprint = %q, want %q", out, want)
		}
	})

	t.Run("in-flight requests finish with the old key; 20 rotations timed", func(t *testing.T) {
		rotate := func(key string) time.Time {
			secret := fmt.Sprintf(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"deepseek-api-key","namespace":"payments"},"stringData":{"apiKey":%q}}`, key)
			c.kubectlStdin([]byte(secret), "apply", "-f", "-")
			return time.Now()
		}
		keyID := func(resp chatResult) string {
			ev := c.event(resp.requestID)
			if ev == nil || len(ev.Attempts) == 0 || ev.Attempts[0].Key == nil {
				return ""
			}
			return ev.Attempts[0].Key.ID
		}
		// A slow provider keeps a request in flight across the rotation.
		old := keys.Fingerprint("inflight-old")
		rotate("inflight-old")
		c.eventually("old key in use", 30*time.Second, func() (bool, string) {
			id := keyID(c.chat(t))
			return strings.HasSuffix(id, "#"+old), id
		})
		c.fault("deepseek", `{"Latency":400000000}`)
		inflight := make(chan chatResult, 1)
		go func() { inflight <- c.chat(t) }()
		c.eventually("request in flight at the provider", 5*time.Second, func() (bool, string) {
			code, body := c.get("control", "/stats")
			var stats map[string]map[string]int64
			_ = json.Unmarshal([]byte(body), &stats)
			return code == 200 && stats["deepseek"]["in_flight"] >= 1, body
		})
		newFP := keys.Fingerprint("inflight-new")
		rotate("inflight-new")
		c.eventually("new key used by new requests", 30*time.Second, func() (bool, string) {
			id := keyID(c.chat(t))
			return strings.HasSuffix(id, "#"+newFP), id
		})
		done := <-inflight
		if id := keyID(done); done.status != 200 || !strings.HasSuffix(id, "#"+old) {
			t.Fatalf("in-flight request: status %d key %q, want the old key #%s", done.status, id, old)
		}
		c.fault("deepseek", `{}`)

		// Propagation: Secret update -> first request that uses the new key (operator compile, the kubelet
		// stand-in's 100 ms poll, the router's watcher). The kubelet's own sync delay is not included.
		var took []time.Duration
		for i := 0; i < 20; i++ {
			key := fmt.Sprintf("rotation-%d-%d", i, time.Now().UnixNano())
			fp := keys.Fingerprint(key)
			start := rotate(key)
			deadline := start.Add(30 * time.Second)
			for {
				if strings.HasSuffix(keyID(c.chat(t)), "#"+fp) {
					took = append(took, time.Since(start))
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("rotation %d: new key not used within 30s", i)
				}
				time.Sleep(10 * time.Millisecond) // polling interval of a bounded measurement loop
			}
		}
		slices.Sort(took)
		t.Logf("Secret update -> first request with the new key, 20 rotations: median %v, max %v (kubelet sync delay excluded; stand-in polls every 100ms)",
			took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
	})

	t.Run("a policy edit (new hard cap) changes routing within a bound", func(t *testing.T) {
		// Break A so the next choice is B; then a hard cap below B's worst case (about 0.00036 USD for this
		// prompt with max_tokens 64) and above C's (about 0.00001 USD) must move traffic to C.
		c.fault("deepseek", `{"Status":503}`)
		defer c.fault("deepseek", `{}`)
		c.kubectl("patch", "rp", "assistant", "-n", "payments", "--type=merge", "-p",
			`{"spec":{"constraints":{"maxCostPerRequestUSD":0.0001,"softCostPerRequestUSD":0.00005}}}`)
		edited := time.Now()
		c.eventually("traffic avoids b-stable under the new cap", 20*time.Second, func() (bool, string) {
			resp := c.chat(t)
			return resp.status == 200 && resp.target == "c-fast", resp.target + " " + resp.body
		})
		t.Logf("policy edit reached routing in %v (bound 20s)", time.Since(edited).Round(time.Millisecond))
	})

	t.Run("an invalid manifest is rejected with its message", func(t *testing.T) {
		bad := `{"apiVersion":"llmroute.dev/v1alpha1","kind":"RoutePolicy","metadata":{"name":"bad","namespace":"payments"},
"spec":{"targets":[{"name":"a","provider":"openai","model":"m","keyRef":{"name":"k"}}],"fallback":{"maxAttempts":11}}}`
		_, stderr, err := c.env.Kubectl(t, []byte(bad), "apply", "-f", "-")
		if err == nil || !strings.Contains(stderr, "spec.fallback.maxAttempts in body should be less than or equal to 10") {
			t.Fatalf("want rejection, got err=%v stderr=%s", err, stderr)
		}
	})
	t.Run("the webhook injects the router sidecar into a Pod created through the API server", func(t *testing.T) {
		pod := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"checkout","namespace":"payments","labels":{"llmroute.dev/inject":"true"}},
"spec":{"containers":[{"name":"app","image":"example.invalid/checkout:1"}]}}`
		// The operator writes the CA bundle into the webhook configuration once its certificate exists; until
		// then the API server cannot call it and (failurePolicy Fail) refuses the pod.
		c.eventually("pod admitted through the webhook", 30*time.Second, func() (bool, string) {
			out, stderr, err := c.env.Kubectl(t, []byte(pod), "create", "-f", "-")
			return err == nil, out + stderr
		})
		containers := c.kubectl("get", "pod", "checkout", "-n", "payments", "-o", "jsonpath={.spec.containers[*].name}")
		if containers != "app llmroute-router" {
			t.Fatalf("containers = %q, want the app and the injected router", containers)
		}
		mounts := c.kubectl("get", "pod", "checkout", "-n", "payments", "-o", "jsonpath={.spec.volumes[*].secret.secretName}")
		if !strings.Contains(mounts, "llmroute-config") {
			t.Fatalf("volumes %q lack the compiled config Secret", mounts)
		}
	})

	t.Run("a router that stops answering ages out to Unknown in kubectl get rp", func(t *testing.T) {
		r := c.procs["router"]
		_ = r.Process.Signal(os.Interrupt)
		c.eventually("targets Unknown", 30*time.Second, func() (bool, string) {
			states := c.kubectl("get", "rp", "assistant", "-n", "payments", "-o", "jsonpath={.status.providers[*].state}")
			degraded := c.kubectl("get", "rp", "assistant", "-n", "payments", "-o", "jsonpath={.status.conditions[?(@.type==\"Degraded\")].status}")
			return states == "Unknown Unknown Unknown" && degraded == "Unknown", states + " degraded=" + degraded
		})
	})
	t.Logf("e2e wall time %v", time.Since(started).Round(time.Second))
}

func (c *cluster) build() {
	c.t.Helper()
	root := testenv.RepoRoot()
	for name, pkg := range map[string]string{
		"llmroute": "./cmd/llmroute", "operator": "./cmd/operator", "fakeprovider": "./cmd/fakeprovider", "secretmount": "./hack/secretmount",
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(c.bin, name), pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			c.t.Fatalf("build %s: %v\n%s", name, err, out)
		}
	}
}

func (c *cluster) addr(name string) string { return "127.0.0.1:" + strconv.Itoa(c.ports[name]) }

// start runs a process for the rest of the test; it is stopped with SIGTERM (then killed) at cleanup.
func (c *cluster) start(name, path string, args ...string) {
	c.t.Helper()
	logf, err := os.Create(filepath.Join(c.logs, name+".log"))
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.env.Kubeconfig)
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start %s: %v", name, err)
	}
	c.procs[name] = cmd
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	c.t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = logf.Close()
	})
}

func (c *cluster) dumpLogs() {
	files, _ := filepath.Glob(filepath.Join(c.logs, "*.log"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if len(b) > 8000 {
			b = b[len(b)-8000:]
		}
		c.t.Logf("==== %s (tail)\n%s", filepath.Base(f), b)
	}
}

// devManifest is config/dev/payments-dev.yaml with the fake providers' ports of this run.
func (c *cluster) devManifest() string {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "dev", "payments-dev.yaml"))
	if err != nil {
		c.t.Fatal(err)
	}
	s := strings.NewReplacer("127.0.0.1:18001", c.addr("deepseek"), "127.0.0.1:18002", c.addr("anthropic"),
		"127.0.0.1:18003", c.addr("groq")).Replace(string(b))
	path := filepath.Join(c.bin, "payments.yaml")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return path
}

func (c *cluster) kubectl(args ...string) string { return c.kubectlStdin(nil, args...) }

func (c *cluster) kubectlStdin(stdin []byte, args ...string) string {
	c.t.Helper()
	out, stderr, err := c.env.Kubectl(c.t, stdin, args...)
	if err != nil {
		c.t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return strings.TrimSpace(out)
}

// eventually polls cond every 100 ms until it holds or the bound passes.
func (c *cluster) eventually(what string, bound time.Duration, cond func() (bool, string)) {
	c.t.Helper()
	deadline := time.Now().Add(bound)
	last := ""
	for time.Now().Before(deadline) {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		time.Sleep(100 * time.Millisecond) // polling interval of a bounded wait on a condition, not a wait for behaviour
	}
	c.t.Fatalf("%s: not within %v; last: %s", what, bound, last)
}

func (c *cluster) fault(provider, body string) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPut, "http://"+c.addr("control")+"/faults/"+provider, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("set fault: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		c.t.Fatalf("set fault: %s", resp.Status)
	}
}

func (c *cluster) get(port, path string) (int, string) {
	resp, err := http.Get("http://" + c.addr(port) + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type chatResult struct {
	status                      int
	target, attempts, requestID string
	body                        string
}

func (c *cluster) chat(t *testing.T) chatResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	body := `{"model":"assistant","max_tokens":64,"messages":[{"role":"user","content":"Is invoice 42 paid?"}]}`
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+c.addr("router")+"/v1/chat/completions", bytes.NewBufferString(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return chatResult{body: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return chatResult{status: resp.StatusCode, target: resp.Header.Get("x-llmroute-target"),
		attempts: resp.Header.Get("x-llmroute-attempts"), requestID: resp.Header.Get("x-llmroute-request-id"), body: string(b)}
}

func (c *cluster) event(id string) *decision.Event {
	code, body := c.get("admin", "/debug/decisions/"+id)
	if code != 200 {
		return nil
	}
	ev := &decision.Event{}
	if err := json.Unmarshal([]byte(body), ev); err != nil {
		return nil
	}
	return ev
}

// freePort returns a loopback port the kernel just handed out and that no
// other process of this cluster was given. The kernel may hand the same
// ephemeral port out again once its probe listener is closed: a CI run once
// gave the operator's probe and the router's listener the same port, and the
// router failed to bind.
func (c *cluster) freePort() int {
	c.t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			c.t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !slices.Contains(slices.Collect(maps.Values(c.ports)), port) {
			return port
		}
	}
	c.t.Fatal("no distinct free loopback port in 100 tries")
	return 0
}
