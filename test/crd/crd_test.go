// Package crd_test checks the CRDs' OpenAPI and CEL validation, defaults, printer columns and samples against a
// real kube-apiserver (envtest), one YAML fixture per rule, with the exact message a user sees.
package crd_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/llmroute/llmroute/internal/testenv"
)

// validationCases maps each fixture in testdata/ to "" (accepted) or the exact validation message the API
// server returns for it (the part after "is invalid: ").
var validationCases = map[string]string{
	"pk-bad-secret-key":                  "spec.secretRef.key: Invalid value: \"api key\": spec.secretRef.key in body should match '^[-._a-zA-Z0-9]+$'",
	"pk-compatible-without-baseurl":      "spec: Invalid value: provider openaiCompatible needs a baseURL: there is no default endpoint to send the key to",
	"pk-ftp-baseurl":                     "spec: Invalid value: baseURL must start with https:// (plain http:// is allowed only with inCluster: true, for endpoints inside the cluster)",
	"pk-http-baseurl":                    "spec: Invalid value: baseURL must start with https:// (plain http:// is allowed only with inCluster: true, for endpoints inside the cluster)",
	"pk-http-baseurl-in-cluster":         "",
	"pk-missing-secretref":               "[spec.secretRef: Required value, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]",
	"pk-not-a-url":                       "spec.baseURL: Invalid value: \"not a url\": baseURL must be an absolute URL such as https://api.example.com/v1",
	"pk-unknown-provider":                "[spec.provider: Unsupported value: \"cohere\": supported values: \"openai\", \"anthropic\", \"gemini\", \"groq\", \"mistral\", \"deepseek\", \"xai\", \"openaiCompatible\", <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]",
	"pk-valid":                           "",
	"pk-valid-https-baseurl":             "",
	"rp-bad-duration":                    "spec.constraints.maxLatency: Invalid value: \"fast\": spec.constraints.maxLatency in body should match '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$'",
	"rp-bad-target-name":                 "spec.targets[0].name: Invalid value: \"Primary_Target\": spec.targets[0].name in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'",
	"rp-baseline-unknown":                "spec: Invalid value: baseline must name one of the targets",
	"rp-cooldown-base-above-max":         "spec.circuitBreaker: Invalid value: cooldownBase must not be longer than cooldownMax",
	"rp-duplicate-target-names":          "spec: Invalid value: target names must be unique within a RoutePolicy",
	"rp-empty-keyref-name":               "spec.targets[0].keyRef.name: Invalid value: \"\": spec.targets[0].keyRef.name in body should be at least 1 chars long",
	"rp-failure-ratio-zero":              "spec.circuitBreaker.failureRatio: Invalid value: 0: spec.circuitBreaker.failureRatio in body should be greater than 0",
	"rp-hard-cap-zero":                   "spec.constraints.maxCostPerRequestUSD: Invalid value: 0: spec.constraints.maxCostPerRequestUSD in body should be greater than 0",
	"rp-jitter-above-one":                "spec.circuitBreaker.jitter: Invalid value: 1.5: spec.circuitBreaker.jitter in body should be less than or equal to 1",
	"rp-max-attempts-eleven":             "spec.fallback.maxAttempts: Invalid value: 11: spec.fallback.maxAttempts in body should be less than or equal to 10",
	"rp-max-attempts-zero":               "spec.fallback.maxAttempts: Invalid value: 0: spec.fallback.maxAttempts in body should be greater than or equal to 1",
	"rp-max-tokens-zero":                 "spec.targets[0].maxTokens: Invalid value: 0: spec.targets[0].maxTokens in body should be greater than or equal to 1",
	"rp-missing-keyref":                  "[spec.targets[0].keyRef: Required value, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]",
	"rp-no-targets":                      "spec.targets: Invalid value: 0: spec.targets in body should have at least 1 items",
	"rp-price-with-margin":               "",
	"rp-price-without-margin":            "[spec.targets[0].price.safetyMargin: Required value, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]",
	"rp-probe-timeout-zero":              "spec.circuitBreaker.probeTimeout: Invalid value: \"0s\": probeTimeout must be greater than 0",
	"rp-semantic-fallback":               "spec.fallback: Invalid value: semantic failures (semantic, bad_request, schema_mismatch, content_filtered, context_too_large) mean the request itself is wrong: they never fail over and cannot be listed in fallback.failOverOn",
	"rp-slow-call-above-default-timeout": "spec: Invalid value: circuitBreaker.slowCallThreshold must be shorter than fallback.perAttemptTimeout: an attempt is cut at its timeout before it could count as slow",
	"rp-slow-call-not-below-timeout":     "spec: Invalid value: circuitBreaker.slowCallThreshold must be shorter than fallback.perAttemptTimeout: an attempt is cut at its timeout before it could count as slow",
	"rp-slow-call-zero":                  "spec.circuitBreaker.slowCallThreshold: Invalid value: \"0s\": slowCallThreshold must be greater than 0",
	"rp-soft-above-hard":                 "spec.constraints: Invalid value: softCostPerRequestUSD must not be greater than maxCostPerRequestUSD: the soft cap warns before the hard cap blocks",
	"rp-soft-cap-negative":               "spec.constraints.softCostPerRequestUSD: Invalid value: -0.01: spec.constraints.softCostPerRequestUSD in body should be greater than 0",
	"rp-too-many-targets":                "[spec.targets: Too many: 21: must have at most 20 items, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]",
	"rp-unknown-failure-class":           "[spec.fallback.failOverOn[0]: Unsupported value: \"sometimes\": supported values: \"transient\", \"hard\", \"semantic\", \"timeout\", \"connect_error\", \"connection_reset\", \"provider_5xx\", \"rate_limited\", \"invalid_credentials\", \"permission_denied\", \"model_not_found\", \"bad_request\", \"schema_mismatch\", \"content_filtered\", \"context_too_large\", <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]",
	"rp-unknown-provider":                "[spec.targets[0].provider: Unsupported value: \"cohere\": supported values: \"openai\", \"anthropic\", \"gemini\", \"groq\", \"mistral\", \"deepseek\", \"xai\", \"openaiCompatible\", <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]",
	"rp-unknown-ranking":                 "[spec.ranking: Unsupported value: \"random\": supported values: \"priority\", \"cost\", \"latency\", \"weighted\", <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]",
	"rp-valid-full":                      "",
	"rp-valid-minimal":                   "",
	"rp-zero-cooldownBase":               "spec.circuitBreaker.cooldownBase: Invalid value: \"0s\": cooldownBase must be greater than 0",
	"rp-zero-stream-idle":                "spec.fallback.streamIdleTimeout: Invalid value: \"0s\": streamIdleTimeout must be greater than 0",
	"rp-zero-window":                     "spec.circuitBreaker.window: Invalid value: \"0s\": window must be greater than 0",
	"rp-zero-cooldownMax":                "[spec.circuitBreaker: Invalid value: cooldownBase must not be longer than cooldownMax, spec.circuitBreaker.cooldownMax: Invalid value: \"0s\": cooldownMax must be greater than 0]",
	"rp-zero-latency":                    "spec.constraints.maxLatency: Invalid value: \"0s\": maxLatency must be greater than 0",
}

func TestValidationFixtures(t *testing.T) {
	env := testenv.Start(t)
	ctx := context.Background()

	files, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		seen[name] = true
		want, ok := validationCases[name]
		if !ok {
			t.Errorf("fixture %s has no entry in validationCases", name)
		}
		t.Run(name, func(t *testing.T) {
			obj := readObject(t, f)
			obj.SetNamespace("default")
			err := env.Client.Create(ctx, obj, client.DryRunAll)
			got := ""
			if err != nil {
				got = err.Error()
				if i := strings.Index(got, "is invalid: "); i >= 0 {
					got = got[i+len("is invalid: "):]
				}
			}
			if os.Getenv("PRINT_FIXTURES") != "" {
				fmt.Printf("\t%q: %q,\n", name, got)
			}
			if got != want {
				t.Errorf("fixture %s:\n got: %q\nwant: %q", name, got, want)
			}
		})
	}
	var missing []string
	for name := range validationCases {
		if !seen[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("validationCases entries without a fixture: %v", missing)
	}
}

func readObject(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(b, &obj.Object); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return obj
}
