// Command bench measures what llmroute adds to a request, on loopback only.
//
// It starts a fast fake provider, a minimal httputil.ReverseProxy (the physical floor of one extra Go hop) and
// `llmroute serve` (built from this module), each as a separate process of its own so that its CPU time and
// peak RSS can be read from /proc. It then sends fixed-rate, open-loop load (each request in a goroutine of its
// own, so a stalled server cannot slow the schedule; latency measured from the request's actual send, the
// generator's lateness against the schedule reported beside it) and a fixed-concurrency
// closed-loop run to each target, interleaved and repeated, and prints markdown tables: latency added over
// direct, throughput, CPU time per request and peak RSS. A failover run then breaks the primary of a route
// (503, then hanging) under 100 RPS and reports how many requests still reach it and what failed-over
// requests cost in latency.
//
// Run: go run ./test/bench [-step 5s] [-repeat 3] [-rates 200,500,1000,2000,4000]. The defaults finish in
// about five and a half minutes; every loop is bounded in time and count, and no address outside 127.0.0.1 is used.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llmroute/llmroute/internal/fakeprovider"
)

func main() {
	mode := flag.String("mode", "bench", "bench, or (internal) fake / proxy for the child processes")
	fault := flag.String("fault", "none", "fake mode: none, 503 or hang")
	upstream := flag.String("upstream", "", "proxy mode: upstream base URL")
	step := flag.Duration("step", 5*time.Second, "duration of each fixed-rate step and of each max-throughput run")
	slice := flag.Duration("slice", 500*time.Millisecond, "fixed rate: the targets take turns in slices this long within each step (0: one whole step each)")
	repeat := flag.Int("repeat", 3, "how many times the interleaved series is repeated")
	rates := flag.String("rates", "200,500,1000,2000,4000", "fixed request rates (RPS)")
	concurrency := flag.Int("concurrency", 64, "clients of the max-throughput run")
	failoverDur := flag.Duration("failover", 10*time.Second, "duration of each failover run (0 skips them)")
	binary := flag.String("llmroute", "", "llmroute binary, with llmroute-router beside it when the lean data plane is to be measured; default: go build both")
	flag.Var(&llmrouteEnv, "llmroute-env", "NAME=VALUE added to llmroute's environment only (repeatable), for experiments")
	floor := flag.Bool("buffered-floor", false, "also measure a buffering forwarder: the least a hop that reads the whole answer before its headers can do")
	flag.Var(&proxyEnv, "proxy-env", "NAME=VALUE added to the reverse proxy's environment only (repeatable), for experiments")
	flag.Parse()
	var err error
	switch *mode {
	case "fake":
		err = runFake(*fault)
	case "proxy":
		err = runProxy(*upstream)
	case "buffer":
		err = runBuffer(*upstream)
	default:
		if *slice <= 0 || *slice > *step {
			*slice = *step
		}
		err = runBench(benchConfig{step: *step, slice: *slice, repeat: *repeat, rates: parseRates(*rates), concurrency: *concurrency,
			failover: *failoverDur, binary: *binary, floor: *floor})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseRates(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

// runFake serves a fake OpenAI provider and a counter endpoint, and prints both addresses.
func runFake(fault string) error {
	f, err := fakeprovider.Start(fakeprovider.Options{Provider: fakeprovider.OpenAI})
	if err != nil {
		return err
	}
	switch fault {
	case "503":
		f.SetFault(fakeprovider.Fault{Status: http.StatusServiceUnavailable})
	case "hang":
		f.SetFault(fakeprovider.Fault{Hang: true})
	}
	stats := &http.Server{Addr: "127.0.0.1:0", Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintf(w, "%d\n", f.Requests())
	})}
	ln, err := listenLoopback()
	if err != nil {
		return err
	}
	go func() { _ = stats.Serve(ln) }()
	fmt.Printf("READY %s %s\n", f.URL(), ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin) // the parent closes stdin to stop us
	f.Close()
	return nil
}

// runProxy is the floor: the least a Go reverse proxy can do per request.
func runProxy(upstream string) error {
	u, err := url.Parse(upstream)
	if err != nil {
		return err
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}
	return serveHop(rp)
}

// serveHop serves h on a loopback port, prints its URL for the parent, and returns when the parent closes stdin.
func serveHop(h http.Handler) error {
	ln, err := listenLoopback()
	if err != nil {
		return err
	}
	go func() { _ = http.Serve(ln, h) }()
	fmt.Printf("READY http://%s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// runBuffer is a second floor, for diagnosis (-buffered-floor): a hop with no logic that, like llmroute, reads
// the whole request before sending it and the whole answer before writing its headers (llmroute must: the
// answer's cost, from its usage, goes in x-llmroute-cost-usd, and a malformed answer must fail over before
// the client sees a byte). The distance between it and the reverse proxy is what buffering costs; the distance
// between it and llmroute is what llmroute's own work costs.
func runBuffer(upstream string) error {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}}
	return serveHop(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), r.Method, upstream+r.URL.Path, bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := hc.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		answer, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(answer)
	}))
}

// llmrouteEnv is added to the environment of the llmroute processes only, proxyEnv to the reverse proxy's.
var llmrouteEnv, proxyEnv envList

type envList []string

func (e *envList) String() string     { return strings.Join(*e, " ") }
func (e *envList) Set(v string) error { *e = append(*e, v); return nil }

// child is a process started by the bench.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	ready []string
}

// startChild starts a process and waits for its READY line (or, for llmroute, for /readyz).
func startChild(name string, args []string, waitReady bool, env ...string) (*child, error) {
	cmd := exec.Command(name, args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stderr = io.Discard
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{cmd: cmd, stdin: stdin}
	if !waitReady {
		go func() { _, _ = io.Copy(io.Discard, out) }()
		return c, nil
	}
	sc := bufio.NewScanner(out)
	lines := make(chan string, 1)
	go func() {
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "READY ") {
				lines <- l
			}
		}
	}()
	select {
	case l := <-lines:
		c.ready = strings.Fields(l)[1:]
	case <-time.After(30 * time.Second):
		c.stop()
		return nil, fmt.Errorf("%s did not become ready", name)
	}
	return c, nil
}

// stop ends the child: closing stdin stops the bench's own modes, SIGTERM stops llmroute (and drains).
func (c *child) stop() {
	_ = c.stdin.Close()
	_ = c.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// resetPeakRSS restarts a process's VmHWM from its current RSS (Linux clear_refs 5), so each step reports its
// own peak rather than the peak of every step before it.
func resetPeakRSS(pid int) {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// procStats reads a process's CPU time (user+system) and peak RSS (VmHWM) from /proc.
func procStats(pid int) (cpu time.Duration, hwmKB int64) {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// Fields after the command name, which is in parentheses and may hold spaces.
		if i := bytes.LastIndexByte(b, ')'); i > 0 {
			f := strings.Fields(string(b[i+2:]))
			if len(f) > 13 {
				ut, _ := strconv.ParseInt(f[11], 10, 64)
				st, _ := strconv.ParseInt(f[12], 10, 64)
				cpu = time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
			}
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "VmHWM:") {
				hwmKB, _ = strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			}
		}
	}
	return cpu, hwmKB
}

type benchConfig struct {
	step        time.Duration
	slice       time.Duration
	repeat      int
	rates       []int
	concurrency int
	failover    time.Duration
	binary      string
	floor       bool
}

// endpoint is one way to reach the fake: its URL, the model to ask for, and the process to measure.
type endpoint struct {
	name  string
	url   string
	model string
	pid   int
}

func runBench(cfg benchConfig) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "llmroute-bench-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	bin := cfg.binary
	if bin == "" {
		// Both binaries, side by side as `make build` installs them: `llmroute serve` execs the lean
		// llmroute-router beside it, which is what a pod runs.
		bin = filepath.Join(tmp, "llmroute")
		for _, b := range [][2]string{{bin, "./cmd/llmroute"}, {filepath.Join(tmp, "llmroute-router"), "./cmd/llmroute-router"}} {
			build := exec.Command("go", "build", "-o", b[0], b[1])
			build.Stdout, build.Stderr = os.Stderr, os.Stderr
			if err := build.Run(); err != nil {
				return fmt.Errorf("build %s (run from the module root): %w", b[1], err)
			}
		}
	}

	fake, err := startChild(self, []string{"-mode=fake"}, true)
	if err != nil {
		return err
	}
	defer fake.stop()
	fakeURL := fake.ready[0]
	proxy, err := startChild(self, []string{"-mode=proxy", "-upstream=" + strings.TrimSuffix(fakeURL, "/v1")}, true, proxyEnv...)
	if err != nil {
		return err
	}
	defer proxy.stop()
	manifest := filepath.Join(tmp, "bench.yaml")
	if err := os.WriteFile(manifest, []byte(benchManifest(fakeURL)), 0o600); err != nil {
		return err
	}
	lr, apiURL, err := startLLMRoute(bin, manifest, tmp, "18480", "19480")
	if err != nil {
		return err
	}
	defer lr.stop()

	eps := []endpoint{
		{name: "direct", url: fakeURL, model: "gpt-4o-mini", pid: fake.cmd.Process.Pid},
		{name: "reverse proxy", url: proxy.ready[0] + "/v1", model: "gpt-4o-mini", pid: proxy.cmd.Process.Pid},
		{name: "llmroute", url: apiURL, model: "chat", pid: lr.cmd.Process.Pid},
	}
	if cfg.floor {
		buf, err := startChild(self, []string{"-mode=buffer", "-upstream=" + strings.TrimSuffix(fakeURL, "/v1")}, true, proxyEnv...)
		if err != nil {
			return err
		}
		defer buf.stop()
		eps = slices.Insert(eps, 2, endpoint{name: bufferName, url: buf.ready[0] + "/v1", model: "gpt-4o-mini", pid: buf.cmd.Process.Pid})
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4096, DisableCompression: true}, Timeout: 30 * time.Second}
	// Warm up connections and code paths.
	for _, ep := range eps {
		fixedRate(client, ep, 200, time.Second)
	}

	type key struct {
		ep   string
		rate int
	}
	results := map[key][]result{}
	// Every step starts from no idle connection: an overloaded step leaves thousands of idle keep-alive
	// connections (and their server-side goroutines and buffers) behind, which would otherwise weigh on the
	// steps after it, on whichever process happened to be measured next.
	for r := 0; r < cfg.repeat; r++ {
		for _, rate := range cfg.rates {
			client.CloseIdleConnections()
			for i, res := range takeTurns(client, eps, rate, cfg.step, cfg.slice) {
				results[key{eps[i].name, rate}] = append(results[key{eps[i].name, rate}], res)
			}
		}
		for _, ep := range eps {
			client.CloseIdleConnections()
			results[key{ep.name, 0}] = append(results[key{ep.name, 0}], closedLoop(client, ep, cfg.concurrency, cfg.step))
		}
	}

	fmt.Printf("\n## Fixed rate (open loop, %s per step in turns of %s, %d repeats interleaved; latency from each request's send)\n\n",
		cfg.step, cfg.slice, cfg.repeat)
	fmt.Println("| rate | target | achieved RPS | errors | p50 | p99 | added p50 vs direct | added p99 vs direct | CPU/req (server) | peak RSS (server) | send lag p50 / p99 |")
	fmt.Println("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, rate := range append(slices.Clone(cfg.rates), 0) {
		direct := merge(results[key{"direct", rate}])
		for _, ep := range eps {
			m := merge(results[key{ep.name, rate}])
			label := strconv.Itoa(rate)
			if rate == 0 {
				label = fmt.Sprintf("max (c=%d)", cfg.concurrency)
			}
			added50, added99 := "", ""
			if ep.name != "direct" {
				added50, added99 = fmtDur(m.p(50)-direct.p(50)), fmtDur(m.p(99)-direct.p(99))
			}
			lag := ""
			if rate != 0 {
				lag = fmtDur(percentile(m.lag, 50)) + " / " + fmtDur(percentile(m.lag, 99))
			}
			fmt.Printf("| %s | %s | %.0f | %d | %s | %s | %s | %s | %s | %.1f MiB | %s |\n", label, ep.name, m.rps(), m.errors,
				fmtDur(m.p(50)), fmtDur(m.p(99)), added50, added99, fmtDur(m.cpuPerReq()), float64(m.hwmKB)/1024, lag)
		}
	}
	fmt.Println("\n(Peak RSS is the process's VmHWM during that step of the first repeat (reset before each slice, the highest slice counts)." +
		" direct's CPU and RSS are the fake provider's own; the proxy and llmroute rows are the hop alone." +
		" Send lag is how far behind its schedule the generator sent each request; it is not in the latency.)")
	printRepeatSpread(cfg, func(ep string, rate int) []result { return results[key{ep, rate}] })

	if cfg.failover > 0 {
		lr.stop()
		if err := failoverRuns(client, self, bin, tmp, cfg.failover); err != nil {
			return err
		}
	}
	return nil
}

// printRepeatSpread shows the added p50 of each repeat on its own (against that repeat's direct run), for the
// proxy and llmroute, and their ratio: the pooled table above hides how much a single step's added p50 moves
// on a shared 2-core machine, where it is tens of microseconds measured under milliseconds of total latency.
func printRepeatSpread(cfg benchConfig, runs func(ep string, rate int) []result) {
	if cfg.repeat < 2 {
		return
	}
	fmt.Println("\n## Added p50 per repeat (each against its own direct run)")
	fmt.Println()
	hops := []string{"llmroute"}
	if cfg.floor {
		hops = append(hops, bufferName)
	}
	header, align := "| rate | reverse proxy", "|---:|---"
	for _, name := range hops {
		header += " | " + name + " | " + name + " / proxy"
		align += "|---|---"
	}
	fmt.Println(header + " |")
	fmt.Println(align + "|")
	for _, rate := range cfg.rates {
		direct, proxy := runs("direct", rate), runs("reverse proxy", rate)
		row := fmt.Sprintf("| %d | %s", rate, strings.Join(addedP50(direct, proxy, nil), ", "))
		for _, name := range hops {
			hop := runs(name, rate)
			row += fmt.Sprintf(" | %s | %s", strings.Join(addedP50(direct, hop, nil), ", "), strings.Join(addedP50(direct, hop, proxy), ", "))
		}
		fmt.Println(row + " |")
	}
}

// bufferName is the buffering forwarder's row (-buffered-floor).
const bufferName = "buffering forwarder"

// addedP50 lists, per repeat, hop's p50 added over direct's; with against set, the ratio of that to against's.
func addedP50(direct, hop, against []result) []string {
	n := min(len(direct), len(hop))
	if against != nil {
		n = min(n, len(against))
	}
	out := make([]string, 0, n)
	for i := range n {
		added := hop[i].p(50) - direct[i].p(50)
		if against == nil {
			out = append(out, fmtDur(added))
			continue
		}
		ratio := "n/a"
		if base := against[i].p(50) - direct[i].p(50); base > 0 {
			ratio = fmt.Sprintf("%.2fx", float64(added)/float64(base))
		}
		out = append(out, ratio)
	}
	return out
}

func startLLMRoute(bin, manifest, tmp, apiPort, adminPort string) (*child, string, error) {
	// The ports are fixed, so a second bench (or a leftover llmroute) on them would answer /readyz for the
	// llmroute started here, and every llmroute row would then measure connection errors to a process that
	// exits or serves other routes. Refuse to start instead.
	for _, port := range []string{apiPort, adminPort} {
		ln, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err != nil {
			return nil, "", fmt.Errorf("port %s is in use (is another bench or llmroute still running?): %w", port, err)
		}
		_ = ln.Close()
	}
	c, err := startChild(bin, []string{"serve", "--config", manifest, "--listen", "127.0.0.1:" + apiPort,
		"--admin-listen", "127.0.0.1:" + adminPort, "--decision-log", filepath.Join(tmp, "decisions-"+apiPort+".jsonl")}, false, llmrouteEnv...)
	if err != nil {
		return nil, "", err
	}
	for i := 0; i < 300; i++ {
		resp, err := http.Get("http://127.0.0.1:" + adminPort + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return c, "http://127.0.0.1:" + apiPort + "/v1", nil
			}
		}
		time.Sleep(50 * time.Millisecond) // waiting for a child process to bind; bounded to 15 s
	}
	c.stop()
	return nil, "", fmt.Errorf("llmroute did not become ready")
}

func benchManifest(fakeURL string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: k}
stringData: {apiKey: sk-bench}
---
apiVersion: llmroute.dev/v1alpha1
kind: ProviderKey
metadata: {name: fake}
spec: {provider: openai, secretRef: {name: k}, baseURL: %q, inCluster: true}
---
apiVersion: llmroute.dev/v1alpha1
kind: RoutePolicy
metadata: {name: chat}
spec:
  targets: [{name: fast, provider: openai, model: gpt-4o-mini, keyRef: {name: fake}}]
`, fakeURL)
}

const requestTemplate = `{"model":%q,"max_tokens":64,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Summarise the benefits of routing requests across providers in one line."}]}`

// result is one run against one endpoint.
type result struct {
	lat     []time.Duration
	lag     []time.Duration // open loop: how late each request was sent against its schedule
	errors  int
	elapsed time.Duration
	cpu     time.Duration
	count   int
	hwmKB   int64 // peak RSS during the run
}

func merge(rs []result) result {
	var m result
	for _, r := range rs {
		m.lat = append(m.lat, r.lat...)
		m.lag = append(m.lag, r.lag...)
		m.errors += r.errors
		m.elapsed += r.elapsed
		m.cpu += r.cpu
		m.count += r.count
	}
	if len(rs) > 0 {
		// The first repeat's: later repeats start with whatever RSS an earlier overload step left behind
		// (Go returns freed memory to the OS only gradually), which is not this step's load.
		m.hwmKB = rs[0].hwmKB
	}
	slices.Sort(m.lat)
	slices.Sort(m.lag)
	return m
}

func (r result) p(q float64) time.Duration { return percentile(r.lat, q) }

// percentile returns the q-th percentile of sorted, or 0 when it is empty.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*q/100))]
}

func (r result) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(len(r.lat)) / r.elapsed.Seconds()
}

func (r result) cpuPerReq() time.Duration {
	if r.count == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.count)
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < time.Millisecond && d > -time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/1e3)
	default:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	}
}

// send posts one chat completion and reports success and the response headers.
func send(client *http.Client, ep endpoint) (bool, http.Header) {
	body := fmt.Sprintf(requestTemplate, ep.model)
	req, _ := http.NewRequest(http.MethodPost, ep.url+"/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer sk-bench")
	resp, err := client.Do(req)
	if err != nil {
		return false, nil
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == 200, resp.Header
}

// maxInFlight bounds the open-loop generator: past it, requests are counted as errors rather than queued
// without bound.
const maxInFlight = 4096

// fixedRate sends rate requests per second for d, open loop.
//
// Latency is measured from each request's actual send, not from its scheduled time. The pacing sleeps wake
// on the Go runtime's timers, which on Linux block in epoll_wait with a millisecond resolution: the sends
// run from about 0.1 to 1.1 ms behind schedule, median about 0.55 ms, whatever the target. Counted in the
// latency, that lateness was most of a direct request's p50 and buried the tens of microseconds a hop adds
// under its noise. It is not the server's doing, and because every request runs in its own goroutine a slow
// server cannot delay the sends after it (no coordinated omission). The lag is reported per step, so a
// generator that falls behind (as on this 2-core machine at the highest rates) shows.
func fixedRate(client *http.Client, ep endpoint, rate int, d time.Duration) result {
	n := int(float64(rate) * d.Seconds())
	interval := time.Second / time.Duration(rate)
	lat := make([]time.Duration, n)
	lag := make([]time.Duration, n)
	ok := make([]bool, n)
	var wg sync.WaitGroup
	var inflight atomic.Int64
	resetPeakRSS(ep.pid)
	cpu0, _ := procStats(ep.pid)
	start := time.Now()
	for i := 0; i < n; i++ {
		due := start.Add(time.Duration(i) * interval)
		if w := time.Until(due); w > 0 {
			time.Sleep(w) // pacing the schedule, not waiting for behaviour
		}
		if inflight.Load() >= maxInFlight {
			continue
		}
		inflight.Add(1)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer inflight.Add(-1)
			sent := time.Now()
			good, _ := send(client, ep)
			lat[i], lag[i], ok[i] = time.Since(sent), sent.Sub(due), good
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, hwm := procStats(ep.pid)
	r := result{elapsed: elapsed, cpu: cpu1 - cpu0, count: n, hwmKB: hwm}
	for i := range n {
		if ok[i] {
			r.lat = append(r.lat, lat[i])
			r.lag = append(r.lag, lag[i])
		} else {
			r.errors++
		}
	}
	slices.Sort(r.lat)
	slices.Sort(r.lag)
	return r
}

// takeTurns runs one fixed-rate step of d for each endpoint, the endpoints taking turns in slices of slice
// (the order rotated every round), and returns each endpoint's slices joined into one result.
//
// A whole step per endpoint compares three 5-second windows that this shared 2-core VM does not keep alike:
// the proxy's added p50 moved between 154 and 435 µs from one step to the next, more than the difference
// being measured. In half-second turns the three targets see the same machine, each in every part of the
// step, while each turn is still hundreds of requests long.
func takeTurns(client *http.Client, eps []endpoint, rate int, d, slice time.Duration) []result {
	if slice <= 0 || slice >= d {
		slice = d
	}
	rounds := int(d / slice)
	parts := make([][]result, len(eps))
	for k := range rounds {
		for j := range eps {
			i := (j + k) % len(eps)
			parts[i] = append(parts[i], fixedRate(client, eps[i], rate, slice))
		}
	}
	out := make([]result, len(eps))
	for i, ps := range parts {
		out[i] = joinSlices(ps)
	}
	return out
}

// joinSlices joins the slices of one step as merge joins repeats, except the peak RSS: every slice is this
// step's load, so the step's peak is the highest of any slice, not the first one's.
func joinSlices(rs []result) result {
	j := merge(rs)
	for _, r := range rs {
		j.hwmKB = max(j.hwmKB, r.hwmKB)
	}
	return j
}

// closedLoop runs c clients back to back for d: the most the endpoint serves at that concurrency.
func closedLoop(client *http.Client, ep endpoint, c int, d time.Duration) result {
	var mu sync.Mutex
	var r result
	resetPeakRSS(ep.pid)
	cpu0, _ := procStats(ep.pid)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			errs := 0
			for ctx.Err() == nil {
				t0 := time.Now()
				if good, _ := send(client, ep); good {
					local = append(local, time.Since(t0))
				} else {
					errs++
				}
			}
			mu.Lock()
			r.lat = append(r.lat, local...)
			r.errors += errs
			mu.Unlock()
		}()
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	cpu1, hwm := procStats(ep.pid)
	r.cpu, r.count, r.hwmKB = cpu1-cpu0, len(r.lat)+r.errors, hwm
	slices.Sort(r.lat)
	return r
}

// failoverRuns breaks the primary of a route (503, then hanging, then hanging with a slow-call threshold) under
// 100 RPS, with a healthy secondary.
func failoverRuns(client *http.Client, self, bin, tmp string, d time.Duration) error {
	fmt.Printf("\n## Failover at 100 RPS for %s (primary broken, healthy secondary)\n\n", d)
	fmt.Println("| primary | client requests | errors | primary requests / client request (last 2 s) | primary requests total | failed-over requests | failed-over p50 | failed-over p99 | all p50 | all p99 | p50 last 2 s | added p50 vs healthy (last 2 s) |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	var healthyTail time.Duration
	// The last row is the hanging primary again, with circuitBreaker.slowCallThreshold set: attempts waiting
	// longer than 100 ms count as failures at once, instead of after the 500 ms attempt timeout.
	for i, label := range []string{"none", "503", "hang", "hang, slowCallThreshold 100ms"} {
		fault, slowCall := label, ""
		if strings.HasPrefix(label, "hang,") {
			fault, slowCall = "hang", ", slowCallThreshold: 100ms"
		}
		primary, err := startChild(self, []string{"-mode=fake", "-fault=" + fault}, true)
		if err != nil {
			return err
		}
		secondary, err := startChild(self, []string{"-mode=fake"}, true)
		if err != nil {
			primary.stop()
			return err
		}
		manifest := filepath.Join(tmp, "failover-"+strconv.Itoa(i)+".yaml")
		if err := os.WriteFile(manifest, []byte(failoverManifest(primary.ready[0], secondary.ready[0], slowCall)), 0o600); err != nil {
			return err
		}
		lr, apiURL, err := startLLMRoute(bin, manifest, tmp, strconv.Itoa(18490+i), strconv.Itoa(19490+i))
		if err != nil {
			primary.stop()
			secondary.stop()
			return err
		}
		statsURL := "http://" + primary.ready[1]
		row := failoverRun(client, endpoint{url: apiURL, model: "chat"}, statsURL, d)
		added := ""
		if fault == "none" {
			healthyTail = row.tail.p(50)
		} else {
			added = fmtDur(row.tail.p(50) - healthyTail)
		}
		fmt.Printf("| %s | %d | %d | %.4f | %d | %d | %s | %s | %s | %s | %s | %s |\n", label, row.sent, row.errors, row.primaryPerReqTail,
			row.primaryTotal, len(row.failedOver.lat), fmtDur(row.failedOver.p(50)), fmtDur(row.failedOver.p(99)),
			fmtDur(row.all.p(50)), fmtDur(row.all.p(99)), fmtDur(row.tail.p(50)), added)
		lr.stop()
		primary.stop()
		secondary.stop()
	}
	fmt.Println("\n(none: both targets healthy, the baseline. The breaker opens after failureThreshold=3 consecutive failures; later primary requests are the half-open probes after each cooldown. \"last 2 s\" is the last 200 requests, long after the breaker opened.)")
	return nil
}

type failoverRow struct {
	sent, errors      int
	primaryTotal      int64
	primaryPerReqTail float64
	failedOver, all   result
	tail              result // the requests of the last 2 s
}

func primaryCount(statsURL string) int64 {
	resp, err := http.Get(statsURL)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

func failoverRun(client *http.Client, ep endpoint, statsURL string, d time.Duration) failoverRow {
	const rate = 100
	n := int(rate * d.Seconds())
	tailFrom := n - 2*rate
	var mu sync.Mutex
	var row failoverRow
	var wg sync.WaitGroup
	var tailPrimary0 int64
	start := time.Now()
	for i := 0; i < n; i++ {
		due := start.Add(time.Duration(i) * time.Second / rate)
		if w := time.Until(due); w > 0 {
			time.Sleep(w) // pacing
		}
		if i == tailFrom {
			tailPrimary0 = primaryCount(statsURL)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent := time.Now() // latency from the actual send, as in fixedRate
			good, h := send(client, ep)
			lat := time.Since(sent)
			mu.Lock()
			defer mu.Unlock()
			row.sent++
			if !good {
				row.errors++
				return
			}
			row.all.lat = append(row.all.lat, lat)
			if i >= tailFrom {
				row.tail.lat = append(row.tail.lat, lat)
			}
			if h.Get("x-llmroute-attempts") != "1" {
				row.failedOver.lat = append(row.failedOver.lat, lat)
			}
		}()
	}
	wg.Wait()
	row.primaryTotal = primaryCount(statsURL)
	if tailFrom > 0 {
		row.primaryPerReqTail = float64(row.primaryTotal-tailPrimary0) / float64(n-tailFrom)
	}
	slices.Sort(row.all.lat)
	slices.Sort(row.failedOver.lat)
	slices.Sort(row.tail.lat)
	return row
}

// failoverManifest is the failover route; breakerExtra is appended to its circuitBreaker settings.
func failoverManifest(primaryURL, secondaryURL, breakerExtra string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: k}
stringData: {apiKey: sk-bench}
---
apiVersion: llmroute.dev/v1alpha1
kind: ProviderKey
metadata: {name: primary}
spec: {provider: openai, secretRef: {name: k}, baseURL: %q, inCluster: true}
---
apiVersion: llmroute.dev/v1alpha1
kind: ProviderKey
metadata: {name: secondary}
spec: {provider: openai, secretRef: {name: k}, baseURL: %q, inCluster: true}
---
apiVersion: llmroute.dev/v1alpha1
kind: RoutePolicy
metadata: {name: chat}
spec:
  targets:
    - {name: primary, provider: openai, model: gpt-4o-mini, keyRef: {name: primary}}
    - {name: secondary, provider: openai, model: gpt-4o-mini, keyRef: {name: secondary}}
  fallback: {maxAttempts: 2, perAttemptTimeout: 500ms}
  circuitBreaker: {failureThreshold: 3, cooldownBase: 2s, cooldownMax: 30s, probeTimeout: 500ms%s}
  retryBudget: {ratio: 1, minPerSecond: 100}
`, primaryURL, secondaryURL, breakerExtra)
}

func listenLoopback() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
