package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/routerconfig"
)

const (
	// LabelInject marks pods that carry the router sidecar; the poller polls exactly those.
	LabelInject = "llmroute.dev/inject"
	// AnnotationAdminPort overrides the router's ops port on a pod (the port serving /v1/state).
	AnnotationAdminPort = "llmroute.dev/admin-port"

	// DefaultAdminPort is the router's ops port when a pod does not say otherwise.
	DefaultAdminPort = 9901
	// DefaultPollInterval is how often routers are polled.
	DefaultPollInterval = 10 * time.Second
	// DefaultStaleAfter is how old a router's last report may be before its targets count as Unknown.
	DefaultStaleAfter = 30 * time.Second
	// DefaultEventInterval is the least time between two Events about the same target.
	DefaultEventInterval = time.Minute

	// maxStateBody bounds a state response; a router with 20 targets x many policies stays far below it.
	maxStateBody = 4 << 20
	// maxParallelPolls bounds concurrent state requests.
	maxParallelPolls = 8
)

// Event reasons the poller records on RoutePolicies.
const (
	// EventTargetCoolingDown: a target's breaker opened on at least one router.
	EventTargetCoolingDown = "TargetCoolingDown"
	// EventTargetQuarantined: a provider rejected a target's key.
	EventTargetQuarantined = "TargetQuarantined"
	// EventTargetRecovered: a target that was cooling down, probing or quarantined is Healthy again.
	EventTargetRecovered = "TargetRecovered"
)

// HealthPoller polls every injected router's state endpoint, aggregates target health per RoutePolicy into a
// HealthStore (the RoutePolicy reconciler turns it into status) and records Events on state changes. It runs on
// the leader only: one poller per cluster is enough, and status has one writer.
type HealthPoller struct {
	// Client lists pods (cache restricted to LabelInject=true pods) and gets RoutePolicies for Events.
	Client client.Reader
	// Store receives the aggregates.
	Store *HealthStore
	// Recorder records Events; nil records none.
	Recorder events.EventRecorder
	// HTTPClient polls routers; a client with a 2 s timeout when nil.
	HTTPClient *http.Client
	// Interval between polls; DefaultPollInterval when zero.
	Interval time.Duration
	// StaleAfter is the age after which a report no longer counts; DefaultStaleAfter when zero.
	StaleAfter time.Duration
	// AdminPort is the router ops port; DefaultAdminPort when zero. AnnotationAdminPort overrides it per pod.
	AdminPort int
	// StaticRouters are extra router addresses (host:port) to poll, for standalone use and tests. Their reports
	// are trusted for any namespace.
	StaticRouters []string
	// DisablePodDiscovery polls only StaticRouters.
	DisablePodDiscovery bool
	// EventInterval is the least time between two Events about one target; DefaultEventInterval when zero.
	EventInterval time.Duration
	// Clock is the real clock when nil.
	Clock clock.Clock

	mu       sync.Mutex
	reports  map[string]routerReport                      // by router endpoint key
	known    map[types.NamespacedName]map[string]struct{} // every target ever reported, per policy
	limiters map[string]*rate.Limiter                     // per policy/target, for Events
}

// routerReport is the last good state a router returned.
type routerReport struct {
	at        time.Time
	namespace string // "" for static routers: any policy; else only policies of the pod's namespace count
	state     routerconfig.RouterState
}

// endpoint is one router to poll.
type endpoint struct {
	key       string
	namespace string
	url       string
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: the poller runs on the leader only.
func (p *HealthPoller) NeedLeaderElection() bool { return true }

// Start polls until ctx ends. It implements manager.Runnable.
func (p *HealthPoller) Start(ctx context.Context) error {
	interval := cmp0(p.Interval, DefaultPollInterval)
	for {
		if err := p.PollOnce(ctx); err != nil && ctx.Err() == nil {
			log.FromContext(ctx).Error(err, "poll routers")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-p.clock().After(interval):
		}
	}
}

// PollOnce polls every router once, then aggregates and publishes. A router that does not answer keeps its
// previous report, which turns Unknown once older than StaleAfter.
func (p *HealthPoller) PollOnce(ctx context.Context) error {
	eps, err := p.endpoints(ctx)
	if err != nil {
		return err
	}
	type result struct {
		ep    endpoint
		state routerconfig.RouterState
		err   error
	}
	results := make([]result, len(eps))
	sem := make(chan struct{}, maxParallelPolls)
	var wg sync.WaitGroup
	for i, ep := range eps {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			st, err := p.fetch(ctx, ep.url)
			results[i] = result{ep, st, err}
		})
	}
	wg.Wait()

	now := p.clock().Now()
	logger := log.FromContext(ctx)
	p.mu.Lock()
	if p.reports == nil {
		p.reports = map[string]routerReport{}
		p.known = map[types.NamespacedName]map[string]struct{}{}
	}
	live := map[string]bool{}
	for _, r := range results {
		live[r.ep.key] = true
		if r.err != nil {
			logger.V(1).Info("router state unavailable", "router", r.ep.key, "error", r.err.Error())
			continue
		}
		p.reports[r.ep.key] = routerReport{at: now, namespace: r.ep.namespace, state: r.state}
	}
	// A pod that is gone will not report again; forgetting it now beats waiting for its report to go stale.
	for k := range p.reports {
		if !live[k] {
			delete(p.reports, k)
		}
	}
	aggregates := p.aggregate(now)
	p.mu.Unlock()

	for policy, ph := range aggregates {
		prev, _ := p.Store.PolicyHealth(policy)
		for name, th := range ph.Targets {
			var pt *v1alpha1.TargetHealth
			if old, ok := prev.Targets[name]; ok {
				pt = &old
			}
			stampTransition(&th, pt, now)
			ph.Targets[name] = th
			p.maybeRecordEvent(ctx, policy, pt, th, now)
		}
		p.Store.set(ctx, policy, ph)
	}
	return nil
}

// aggregate folds the fresh reports into per-policy health. Callers hold p.mu.
func (p *HealthPoller) aggregate(now time.Time) map[types.NamespacedName]PolicyHealth {
	stale := cmp0(p.StaleAfter, DefaultStaleAfter)
	out := map[types.NamespacedName]PolicyHealth{}
	routers := map[types.NamespacedName]map[string]bool{}
	keys := make([]string, 0, len(p.reports))
	for k := range p.reports {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic tie-breaks between routers
	for _, k := range keys {
		rep := p.reports[k]
		fresh := now.Sub(rep.at) <= stale
		for _, ts := range rep.state.Targets {
			ns, name, ok := strings.Cut(ts.Policy, "/")
			if !ok || ns == "" || name == "" || ts.Target == "" {
				continue
			}
			// A router only speaks for the policies of its own namespace: it mounts only that namespace's config.
			if rep.namespace != "" && rep.namespace != ns {
				continue
			}
			policy := types.NamespacedName{Namespace: ns, Name: name}
			if p.known[policy] == nil {
				p.known[policy] = map[string]struct{}{}
			}
			p.known[policy][ts.Target] = struct{}{}
			if !fresh {
				continue
			}
			ph, ok := out[policy]
			if !ok {
				ph = PolicyHealth{Targets: map[string]v1alpha1.TargetHealth{}}
			}
			agg, ok := ph.Targets[ts.Target]
			if !ok {
				agg = v1alpha1.TargetHealth{Name: ts.Target}
			}
			aggregateTarget(&agg, ts)
			if agg.State != "" {
				ph.Targets[ts.Target] = agg
			}
			out[policy] = ph
			if routers[policy] == nil {
				routers[policy] = map[string]bool{}
			}
			routers[policy][k] = true
		}
	}
	// Every target ever seen and not freshly reported is Unknown, so status says so instead of freezing.
	for policy, targets := range p.known {
		ph, ok := out[policy]
		if !ok {
			ph = PolicyHealth{Targets: map[string]v1alpha1.TargetHealth{}}
		}
		for t := range targets {
			if _, ok := ph.Targets[t]; !ok {
				ph.Targets[t] = unknownTarget(t)
			}
		}
		ph.Routers = len(routers[policy])
		out[policy] = ph
	}
	return out
}

// maybeRecordEvent records an Event when a target enters CoolingDown or Quarantined, or recovers to Healthy
// from either or from Probing, at most once per EventInterval per target (a token bucket of one), so a
// flapping target cannot flood the API server.
func (p *HealthPoller) maybeRecordEvent(ctx context.Context, policy types.NamespacedName, prev *v1alpha1.TargetHealth,
	cur v1alpha1.TargetHealth, now time.Time) {
	if p.Recorder == nil || prev == nil || prev.State == cur.State {
		return
	}
	var eventType, reason, note string
	switch {
	case cur.State == v1alpha1.TargetCoolingDown:
		eventType, reason = corev1.EventTypeWarning, EventTargetCoolingDown
		note = fmt.Sprintf("target %s cooling down until %s on %d router(s), last failure: %s",
			cur.Name, metaTime(cur.CooldownUntil), cur.ReportingRouters, orNone(cur.LastFailureReason))
	case cur.State == v1alpha1.TargetQuarantined:
		eventType, reason = corev1.EventTypeWarning, EventTargetQuarantined
		note = fmt.Sprintf("target %s quarantined: the provider rejected its key (%s); rotate the Secret of its ProviderKey",
			cur.Name, orNone(cur.LastFailureReason))
	case cur.State == v1alpha1.TargetHealthy && prev.State != v1alpha1.TargetUnknown:
		eventType, reason = corev1.EventTypeNormal, EventTargetRecovered
		note = fmt.Sprintf("target %s healthy again (was %s)", cur.Name, prev.State)
	default:
		return
	}
	p.mu.Lock()
	if p.limiters == nil {
		p.limiters = map[string]*rate.Limiter{}
	}
	lk := policy.String() + "/" + cur.Name
	lim, ok := p.limiters[lk]
	if !ok {
		lim = rate.NewLimiter(rate.Every(cmp0(p.EventInterval, DefaultEventInterval)), 1)
		p.limiters[lk] = lim
	}
	allowed := lim.AllowN(now, 1)
	p.mu.Unlock()
	if !allowed {
		return
	}
	var rp v1alpha1.RoutePolicy
	if err := p.Client.Get(ctx, policy, &rp); err != nil {
		return // no policy, nothing to attach the Event to
	}
	p.Recorder.Eventf(&rp, nil, eventType, reason, "Health", "%s", note)
}

// endpoints lists the routers to poll: running injected pods with an IP, and the static addresses.
func (p *HealthPoller) endpoints(ctx context.Context) ([]endpoint, error) {
	var eps []endpoint
	for _, addr := range p.StaticRouters {
		eps = append(eps, endpoint{key: "static:" + addr, url: "http://" + addr + routerconfig.StatePath})
	}
	if p.DisablePodDiscovery {
		return eps, nil
	}
	var pods corev1.PodList
	if err := p.Client.List(ctx, &pods, client.MatchingLabels{LabelInject: "true"}); err != nil {
		return nil, fmt.Errorf("list router pods: %w", err)
	}
	for _, pod := range pods.Items {
		if pod.Status.PodIP == "" || !pod.DeletionTimestamp.IsZero() ||
			pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		port := cmp0(p.AdminPort, DefaultAdminPort)
		if s, ok := pod.Annotations[AnnotationAdminPort]; ok {
			if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65536 {
				port = n
			}
		}
		eps = append(eps, endpoint{
			key:       "pod:" + pod.Namespace + "/" + pod.Name,
			namespace: pod.Namespace,
			url:       "http://" + net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(port)) + routerconfig.StatePath,
		})
	}
	return eps, nil
}

func (p *HealthPoller) fetch(ctx context.Context, url string) (routerconfig.RouterState, error) {
	var st routerconfig.RouterState
	hc := p.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return st, fmt.Errorf("build request: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return st, fmt.Errorf("get %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return st, fmt.Errorf("get %s: HTTP %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxStateBody)).Decode(&st); err != nil {
		return st, fmt.Errorf("decode state from %s: %w", url, err)
	}
	return st, nil
}

func (p *HealthPoller) clock() clock.Clock {
	if p.Clock == nil {
		return clock.RealClock{}
	}
	return p.Clock
}

func cmp0[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
