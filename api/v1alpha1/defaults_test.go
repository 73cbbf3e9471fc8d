package v1alpha1

import (
	"bufio"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func fullyDefaulted(targets ...Target) RoutePolicySpec {
	return RoutePolicySpec{
		Targets:     targets,
		Ranking:     RankingPriority,
		Constraints: Constraints{MaxLatency: dur(30 * time.Second)},
		Fallback: Fallback{
			MaxAttempts:       3,
			PerAttemptTimeout: dur(10 * time.Second),
			StreamIdleTimeout: dur(5 * time.Minute),
			FailOverOn:        []FailureClass{"transient", "hard"},
		},
		CircuitBreaker: CircuitBreaker{
			FailureThreshold:   5,
			Window:             &metav1.Duration{Duration: 30 * time.Second},
			CooldownBase:       &metav1.Duration{Duration: 5 * time.Second},
			CooldownMax:        &metav1.Duration{Duration: 5 * time.Minute},
			CooldownMultiplier: 2,
			Jitter:             ptr(0.1),
			ProbeTimeout:       &metav1.Duration{Duration: 5 * time.Second},
		},
		RetryBudget: RetryBudget{Ratio: ptr(0.2), MinPerSecond: ptr(int32(10))},
	}
}

func TestSetDefaults(t *testing.T) {
	ratio := 0.5
	custom := RoutePolicySpec{
		Targets:     []Target{{Name: "a", Weight: ptr(int32(7)), Priority: 3}},
		Ranking:     RankingCost,
		Baseline:    "a",
		Constraints: Constraints{MaxLatency: dur(2 * time.Second)},
		Fallback: Fallback{
			MaxAttempts:       1,
			PerAttemptTimeout: dur(time.Second),
			StreamIdleTimeout: dur(time.Minute),
			FailOverOn:        []FailureClass{"timeout"},
		},
		CircuitBreaker: CircuitBreaker{
			FailureThreshold:   2,
			FailureRatio:       &ratio,
			Window:             &metav1.Duration{Duration: time.Minute},
			CooldownBase:       &metav1.Duration{Duration: time.Second},
			CooldownMax:        &metav1.Duration{Duration: time.Hour},
			CooldownMultiplier: 3,
			Jitter:             ptr(0.5),
			ProbeTimeout:       &metav1.Duration{Duration: time.Second},
		},
		RetryBudget:             RetryBudget{Ratio: ptr(0.9), MinPerSecond: ptr(int32(1))},
		AllowRequestKeyOverride: true,
	}
	explicitEmptyOn := fullyDefaulted(Target{Name: "a", Weight: ptr(int32(1))})
	explicitEmptyOn.Fallback.FailOverOn = []FailureClass{}

	tests := []struct {
		name string
		in   RoutePolicySpec
		want RoutePolicySpec
	}{
		{
			name: "empty spec gets every marker default, baseline stays empty",
			in:   RoutePolicySpec{Targets: []Target{{Name: "a"}, {Name: "b", Weight: ptr(int32(4))}}},
			want: fullyDefaulted(Target{Name: "a", Weight: ptr(int32(1))}, Target{Name: "b", Weight: ptr(int32(4))}),
		},
		{
			name: "set values are kept",
			in:   *custom.DeepCopy(),
			want: custom,
		},
		{
			name: "explicit empty fallback.failOverOn is kept (never fail over)",
			in: func() RoutePolicySpec {
				s := RoutePolicySpec{Targets: []Target{{Name: "a"}}}
				s.Fallback.FailOverOn = []FailureClass{}
				return s
			}(),
			want: explicitEmptyOn,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp := &RoutePolicy{Spec: tt.in}
			SetDefaults(rp)
			if !reflect.DeepEqual(rp.Spec, tt.want) {
				t.Fatalf("SetDefaults:\n got %+v\nwant %+v", rp.Spec, tt.want)
			}
			again := rp.DeepCopy()
			SetDefaults(again)
			if !reflect.DeepEqual(again.Spec, rp.Spec) {
				t.Fatalf("SetDefaults is not idempotent:\n first %+v\nsecond %+v", rp.Spec, again.Spec)
			}
		})
	}
	SetDefaults(nil) // must not panic
}

func TestSetDefaultsReturnsIndependentSlices(t *testing.T) {
	a, b := &RoutePolicy{}, &RoutePolicy{}
	SetDefaults(a)
	SetDefaults(b)
	a.Spec.Fallback.FailOverOn[0] = "timeout"
	if b.Spec.Fallback.FailOverOn[0] != "transient" {
		t.Fatalf("defaulted fallback.failOverOn slices are shared between policies")
	}
}

func TestSetProviderKeyDefaults(t *testing.T) {
	tests := []struct {
		name, key, want string
	}{
		{"unset key becomes apiKey", "", "apiKey"},
		{"set key is kept", "token", "token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pk := &ProviderKey{Spec: ProviderKeySpec{Provider: ProviderGroq, SecretRef: SecretKeySelector{Name: "s", Key: tt.key}}}
			SetProviderKeyDefaults(pk)
			if pk.Spec.SecretRef.Key != tt.want {
				t.Fatalf("secretRef.key = %q, want %q", pk.Spec.SecretRef.Key, tt.want)
			}
			if pk.Spec.InCluster {
				t.Fatalf("inCluster defaulted to true")
			}
		})
	}
	SetProviderKeyDefaults(nil)
}

// TestDefaultsMatchMarkers reads the +kubebuilder:default markers from the type files so that a marker changed or
// added without updating SetDefaults fails here rather than silently diverging between cluster and standalone use.
func TestDefaultsMatchMarkers(t *testing.T) {
	want := map[string]string{
		"routepolicy.priority":                "0",
		"routepolicy.weight":                  fmt.Sprint(DefaultTargetWeight),
		"routepolicy.maxLatency":              quoteDur(DefaultMaxLatency),
		"routepolicy.maxAttempts":             fmt.Sprint(DefaultMaxAttempts),
		"routepolicy.perAttemptTimeout":       quoteDur(DefaultPerAttemptTimeout),
		"routepolicy.streamIdleTimeout":       quoteDur(DefaultStreamIdleTimeout),
		"routepolicy.failOverOn":              "{transient,hard}",
		"routepolicy.failureThreshold":        fmt.Sprint(DefaultFailureThreshold),
		"routepolicy.window":                  quoteDur(DefaultBreakerWindow),
		"routepolicy.cooldownBase":            quoteDur(DefaultCooldownBase),
		"routepolicy.cooldownMax":             quoteDur(DefaultCooldownMax),
		"routepolicy.cooldownMultiplier":      fmt.Sprint(DefaultCooldownMultiplier),
		"routepolicy.jitter":                  fmt.Sprint(DefaultJitter),
		"routepolicy.probeTimeout":            quoteDur(DefaultProbeTimeout),
		"routepolicy.ratio":                   fmt.Sprint(DefaultRetryBudgetRatio),
		"routepolicy.minPerSecond":            fmt.Sprint(DefaultRetryBudgetMinPerSecond),
		"routepolicy.constraints":             "{}",
		"routepolicy.ranking":                 string(DefaultRanking),
		"routepolicy.fallback":                "{}",
		"routepolicy.circuitBreaker":          "{}",
		"routepolicy.retryBudget":             "{}",
		"routepolicy.allowRequestKeyOverride": "false",
		"providerkey.key":                     DefaultSecretKey,
		"providerkey.inCluster":               "false",
	}
	got := map[string]string{}
	for _, kind := range []string{"routepolicy", "providerkey"} {
		for k, v := range markerDefaults(t, kind+"_types.go") {
			got[kind+"."+k] = v
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("markers and Go defaults differ:\nmarkers %v\n     go %v", got, want)
	}
}

// quoteDur renders a duration as markerDefaults normalises quoted duration markers.
func quoteDur(d time.Duration) string { return `"` + d.String() + `"` }

var (
	markerRE = regexp.MustCompile(`^\s*// \+kubebuilder:default=(.+)$`)
	jsonRE   = regexp.MustCompile("json:\"([A-Za-z]+)")
)

// markerDefaults maps the JSON field name following each default marker to the marker's value.
func markerDefaults(t *testing.T, file string) map[string]string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatalf("open %s: %v", file, err)
	}
	defer f.Close()
	out := map[string]string{}
	pending := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if m := markerRE.FindStringSubmatch(line); m != nil {
			pending = m[1]
			continue
		}
		if pending == "" || strings.HasPrefix(strings.TrimSpace(line), "//") {
			continue
		}
		if m := jsonRE.FindStringSubmatch(line); m != nil {
			if _, dup := out[m[1]]; dup {
				t.Fatalf("%s: two default markers on fields named %q; make the test key unique", file, m[1])
			}
			out[m[1]] = normaliseDuration(pending)
		}
		pending = ""
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", file, err)
	}
	return out
}

// normaliseDuration rewrites a quoted duration marker ("5m") in time.Duration's spelling ("5m0s") so it can be
// compared with the Go constant.
func normaliseDuration(v string) string {
	if uq, ok := strings.CutPrefix(v, `"`); ok {
		if d, err := time.ParseDuration(strings.TrimSuffix(uq, `"`)); err == nil {
			return quoteDur(d)
		}
	}
	return v
}
