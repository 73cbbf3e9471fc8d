package router

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/llmroute/llmroute/internal/decision"
	"github.com/llmroute/llmroute/internal/faults"
	"github.com/llmroute/llmroute/internal/routerconfig"
)

// unknownRoute is the route label of requests naming no configured route. Clients choose the model string,
// so using it as a label would let any client grow the metric set without bound.
const unknownRoute = "_unknown"

// Metrics are the router's Prometheus metrics. Every label value is bounded: routes and targets come from the
// config, reasons from the closed faults enum, outcomes from decision's two constants.
type Metrics struct {
	requests        *prometheus.CounterVec
	attempts        *prometheus.CounterVec
	fallbacks       *prometheus.CounterVec
	cost            *prometheus.CounterVec
	softCap         *prometheus.CounterVec
	upstreamLatency *prometheus.HistogramVec
	addedLatency    *prometheus.HistogramVec
	inflight        prometheus.Gauge
	shed            prometheus.Counter
	reloads         *prometheus.CounterVec
	configOK        prometheus.Gauge
	configLoadedAt  prometheus.Gauge
}

// latencyBuckets span a sub-millisecond router hop to a minute-long generation.
var (
	upstreamBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}
	addedBuckets    = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1}
)

// NewMetrics registers the router's metrics, a breaker-state collector over state (nil for none), and the Go
// and process collectors with reg.
func NewMetrics(reg prometheus.Registerer, state func() routerconfig.RouterState) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llmroute_requests_total",
			Help: "Client requests by route, final outcome and reason code."}, []string{"route", "outcome", "reason"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llmroute_attempts_total",
			Help: "Upstream attempts by route, target, outcome and reason code."}, []string{"route", "target", "outcome", "reason"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llmroute_fallbacks_total",
			Help: "Fallbacks from one target to the next, by the reason the first one failed."}, []string{"route", "from", "to", "reason"}),
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llmroute_cost_usd_total",
			Help: "Cost of requests in USD (failed billed attempts included), by route and answering target."}, []string{"route", "target"}),
		softCap: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llmroute_soft_cap_exceeded_total",
			Help: "Requests served by a target whose worst-case cost exceeded the route's soft cap, by route and target."}, []string{"route", "target"}),
		upstreamLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "llmroute_upstream_latency_seconds",
			Help: "Duration of upstream attempts (to the first chunk for streams), by route and target.", Buckets: upstreamBuckets},
			[]string{"route", "target"}),
		addedLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "llmroute_added_latency_seconds",
			Help:    "Time the router added to a request: time to the response (first chunk for streams) minus time spent waiting on upstream I/O.",
			Buckets: addedBuckets}, []string{"route"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "llmroute_inflight_requests",
			Help: "Client requests being served, streams included."}),
		shed: prometheus.NewCounter(prometheus.CounterOpts{Name: "llmroute_requests_shed_total",
			Help: "Client requests refused with 503 router_overloaded because the in-flight limit (serve --max-in-flight) was reached."}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llmroute_config_reloads_total",
			Help: "Config loads by result (ok, error). On error the last good config stays in use."}, []string{"result"}),
		configOK: prometheus.NewGauge(prometheus.GaugeOpts{Name: "llmroute_config_last_reload_ok",
			Help: "1 when the latest config load succeeded, 0 when it failed and the last good config is in use."}),
		configLoadedAt: prometheus.NewGauge(prometheus.GaugeOpts{Name: "llmroute_config_loaded_timestamp_seconds",
			Help: "Unix time the config in use was loaded."}),
	}
	reg.MustRegister(m.requests, m.attempts, m.fallbacks, m.cost, m.softCap, m.upstreamLatency, m.addedLatency, m.inflight,
		m.shed, m.reloads, m.configOK, m.configLoadedAt,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if state != nil {
		reg.MustRegister(&breakerCollector{state: state})
	}
	return m
}

// observe records a finished request. route is the compiled policy's name, or unknownRoute.
func (m *Metrics) observe(route string, ev *decision.Event, added time.Duration, addedKnown bool) {
	if m == nil || ev == nil {
		return
	}
	m.requests.WithLabelValues(route, ev.Final.Outcome, reasonLabel(ev.Final.Reason)).Inc()
	for i, a := range ev.Attempts {
		m.attempts.WithLabelValues(route, a.Target, a.Outcome, reasonLabel(a.Reason)).Inc()
		m.upstreamLatency.WithLabelValues(route, a.Target).Observe(a.Latency.Seconds())
		if i > 0 {
			prev := ev.Attempts[i-1]
			m.fallbacks.WithLabelValues(route, prev.Target, a.Target, reasonLabel(prev.Reason)).Inc()
		}
	}
	if ev.Final.CostUSD > 0 && ev.Final.Target != "" {
		m.cost.WithLabelValues(route, ev.Final.Target).Add(ev.Final.CostUSD)
	}
	if ev.Budget != nil && ev.Budget.SoftCapExceeded && ev.Final.Target != "" {
		m.softCap.WithLabelValues(route, ev.Final.Target).Inc()
	}
	if addedKnown && route != unknownRoute {
		m.addedLatency.WithLabelValues(route).Observe(max(added, 0).Seconds())
	}
}

// reasonLabel keeps the reason label inside the closed enum whatever an event carries.
func reasonLabel(r faults.Reason) string {
	if r == "" {
		return string(faults.ReasonOK)
	}
	if r == faults.ReasonOK || r == faults.ReasonFallbackSucceeded || faults.Valid(r) {
		return string(r)
	}
	return "other"
}

// configLoaded records a config load.
func (m *Metrics) configLoaded(ok bool, at time.Time) {
	if m == nil {
		return
	}
	if ok {
		m.reloads.WithLabelValues("ok").Inc()
		m.configOK.Set(1)
		m.configLoadedAt.Set(float64(at.UnixNano()) / 1e9)
		return
	}
	m.reloads.WithLabelValues("error").Inc()
	m.configOK.Set(0)
}

// breakerStates are the states the breaker gauge reports, one series each, so dashboards can sum by state.
var breakerStates = []routerconfig.BreakerState{routerconfig.BreakerClosed, routerconfig.BreakerHalfOpen,
	routerconfig.BreakerOpen, routerconfig.BreakerQuarantined}

// breakerCollector reports each target's breaker state at scrape time from the engine, rather than keeping a
// gauge in step with every transition: the engine's breakers change state lazily, on the next look.
type breakerCollector struct {
	state func() routerconfig.RouterState
}

var (
	breakerStateDesc = prometheus.NewDesc("llmroute_breaker_state",
		"Circuit-breaker state per target: 1 for the current state, 0 for the others.", []string{"policy", "target", "state"}, nil)
	breakerFailuresDesc = prometheus.NewDesc("llmroute_breaker_consecutive_failures",
		"Current run of consecutive failures per target.", []string{"policy", "target"}, nil)
)

// Describe implements prometheus.Collector.
func (c *breakerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- breakerStateDesc
	ch <- breakerFailuresDesc
}

// Collect implements prometheus.Collector.
func (c *breakerCollector) Collect(ch chan<- prometheus.Metric) {
	for _, t := range c.state().Targets {
		for _, s := range breakerStates {
			v := 0.0
			if t.State == s {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(breakerStateDesc, prometheus.GaugeValue, v, t.Policy, t.Target, string(s))
		}
		ch <- prometheus.MustNewConstMetric(breakerFailuresDesc, prometheus.GaugeValue, float64(t.ConsecutiveFailures), t.Policy, t.Target)
	}
}

// decisionLogCollector reports the decision log writer's counters (decision.BatchStats) at scrape time.
type decisionLogCollector struct {
	stats func() decision.BatchStats
}

var (
	decisionLogWrittenDesc = prometheus.NewDesc("llmroute_decision_log_events_written_total",
		"Decision events written to the decision log (serve --decision-log).", nil, nil)
	decisionLogWaitsDesc = prometheus.NewDesc("llmroute_decision_log_waits_total",
		"Requests that waited because the decision log writer was too far behind (a slow disk or a full pipe).", nil, nil)
	decisionLogWriteDesc = prometheus.NewDesc("llmroute_decision_log_write_seconds_total",
		"Time spent writing the decision log.", nil, nil)
	decisionLogSlowestDesc = prometheus.NewDesc("llmroute_decision_log_slowest_write_seconds",
		"The longest single write of the decision log since the router started.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *decisionLogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- decisionLogWrittenDesc
	ch <- decisionLogWaitsDesc
	ch <- decisionLogWriteDesc
	ch <- decisionLogSlowestDesc
}

// Collect implements prometheus.Collector.
func (c *decisionLogCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	ch <- prometheus.MustNewConstMetric(decisionLogWrittenDesc, prometheus.CounterValue, float64(st.Written))
	ch <- prometheus.MustNewConstMetric(decisionLogWaitsDesc, prometheus.CounterValue, float64(st.Waits))
	ch <- prometheus.MustNewConstMetric(decisionLogWriteDesc, prometheus.CounterValue, st.WriteTime.Seconds())
	ch <- prometheus.MustNewConstMetric(decisionLogSlowestDesc, prometheus.GaugeValue, st.Slowest.Seconds())
}

// upstreamTimer adds up the time a request spends waiting on upstream I/O (round trips and body reads), so
// the router's own share of the latency can be told apart from the provider's.
type upstreamTimer struct{ nanos atomic.Int64 }

func (t *upstreamTimer) add(d time.Duration) { t.nanos.Add(int64(d)) }
func (t *upstreamTimer) total() time.Duration {
	return time.Duration(t.nanos.Load())
}

type upstreamTimerKey struct{}

func withUpstreamTimer(ctx context.Context, t *upstreamTimer) context.Context {
	return context.WithValue(ctx, upstreamTimerKey{}, t)
}

// timedTransport wraps the engine's transport to feed the request's upstreamTimer. It changes nothing else:
// the redirect policy lives on the client, which keeps its CheckRedirect.
type timedTransport struct{ base http.RoundTripper }

// RoundTrip implements http.RoundTripper.
func (tt *timedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t, _ := req.Context().Value(upstreamTimerKey{}).(*upstreamTimer)
	if t == nil {
		return tt.base.RoundTrip(req)
	}
	start := time.Now()
	resp, err := tt.base.RoundTrip(req)
	t.add(time.Since(start))
	if resp != nil && resp.Body != nil {
		resp.Body = &timedBody{ReadCloser: resp.Body, t: t}
	}
	return resp, err
}

type timedBody struct {
	io.ReadCloser
	t *upstreamTimer
}

// Read times the wait for upstream bytes.
func (b *timedBody) Read(p []byte) (int, error) {
	start := time.Now()
	n, err := b.ReadCloser.Read(p)
	b.t.add(time.Since(start))
	return n, err
}
