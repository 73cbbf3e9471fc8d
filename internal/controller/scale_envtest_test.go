package controller_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/llmroute/llmroute/api/v1alpha1"
)

// testScale measures how long the operator takes to bring 1,000 RoutePolicies of one namespace to Ready and into
// the compiled config. It creates 1,000 objects, so it runs only with LLMROUTE_SCALE_TEST=1 (about a minute).
func (f *envFixture) testScale(t *testing.T) {
	const n = 1000
	if os.Getenv("LLMROUTE_SCALE_TEST") == "" {
		t.Skip("set LLMROUTE_SCALE_TEST=1 to reconcile 1,000 RoutePolicies")
	}
	ns := f.namespace(t, "scale")
	f.create(t, secret(ns, "keys", map[string]string{"apiKey": "sk-scale"}), pk(ns, "openai", v1alpha1.ProviderOpenAI, "keys", ""))
	start := time.Now()
	for i := 0; i < n; i++ {
		f.create(t, rp(ns, fmt.Sprintf("p%04d", i), target("a", v1alpha1.ProviderOpenAI, "openai", 0)))
	}
	created := time.Since(start)
	waitFor(t, 5*time.Minute, "every policy Ready and compiled", func() error {
		var list v1alpha1.RoutePolicyList
		if err := f.c.List(f.ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		ready := 0
		for i := range list.Items {
			if meta.IsStatusConditionTrue(list.Items[i].Status.Conditions, v1alpha1.ConditionReady) {
				ready++
			}
		}
		if ready != n {
			return fmt.Errorf("%d/%d Ready", ready, n)
		}
		b, s, err := f.config(ns)
		if err != nil {
			return err
		}
		if len(b.Config.Routes) != n {
			return fmt.Errorf("compiled config holds %d routes (%d bytes), want %d", len(b.Config.Routes), size(s.Data), n)
		}
		return nil
	})
	_, s, _ := f.config(ns)
	t.Logf("%d RoutePolicies in one namespace: created in %s, all Ready and compiled %s after the first create; llmroute-config %d bytes",
		n, created.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), size(s.Data))
}

func size(data map[string][]byte) int {
	total := 0
	for k, v := range data {
		total += len(k) + len(v)
	}
	return total
}
