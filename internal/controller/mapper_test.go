package controller_test

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/controller"
	"github.com/llmroute/llmroute/internal/routerconfig"
)

// builderIndexer lets ApplyIndexing register its indexes on a fake client builder, so the unit tests use the
// very index functions the manager does.
type builderIndexer struct{ b *fake.ClientBuilder }

func (i builderIndexer) IndexField(_ context.Context, obj client.Object, field string, fn client.IndexerFunc) error {
	i.b.WithIndex(obj, field, fn)
	return nil
}

func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func fakeClient(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	b := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs...).
		WithStatusSubresource(&v1alpha1.RoutePolicy{}, &v1alpha1.ProviderKey{})
	if err := controller.ApplyIndexing(t.Context(), builderIndexer{b}); err != nil {
		t.Fatal(err)
	}
	return b.Build()
}

func pk(ns, name string, provider v1alpha1.Provider, secret, key string) *v1alpha1.ProviderKey {
	return &v1alpha1.ProviderKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1alpha1.ProviderKeySpec{Provider: provider, SecretRef: v1alpha1.SecretKeySelector{Name: secret, Key: key}},
	}
}

func target(name string, provider v1alpha1.Provider, key string, priority int32) v1alpha1.Target {
	return v1alpha1.Target{Name: v1alpha1.TargetName(name), Provider: provider, Model: "m-" + name,
		KeyRef: v1alpha1.LocalObjectReference{Name: key}, Priority: priority}
}

func rp(ns, name string, targets ...v1alpha1.Target) *v1alpha1.RoutePolicy {
	return &v1alpha1.RoutePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.RoutePolicySpec{Targets: targets}}
}

func secretMeta(ns, name string) client.Object {
	s := &metav1.PartialObjectMetadata{}
	s.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	s.Namespace, s.Name = ns, name
	return s
}

func names(reqs []reconcile.Request) []string {
	out := make([]string, 0, len(reqs))
	for _, r := range reqs {
		out = append(out, r.String())
	}
	slices.Sort(out)
	return out
}

func TestSecretMapper(t *testing.T) {
	c := fakeClient(t,
		pk("a", "groq", v1alpha1.ProviderGroq, "llm-keys", "groq"),
		pk("a", "anthropic", v1alpha1.ProviderAnthropic, "llm-keys", "anthropic"),
		pk("a", "openai", v1alpha1.ProviderOpenAI, "openai", ""),
		pk("b", "groq", v1alpha1.ProviderGroq, "llm-keys", "groq"), // same names, other namespace
		// The Secret is only reached through the second target: an index of the first keyRef alone would miss it.
		rp("a", "chat", target("x", v1alpha1.ProviderOpenAI, "openai", 0), target("y", v1alpha1.ProviderGroq, "groq", 1)),
		rp("a", "summarize", target("z", v1alpha1.ProviderAnthropic, "anthropic", 0)),
		rp("a", "other", target("o", v1alpha1.ProviderOpenAI, "openai", 0)),
		rp("b", "chat", target("y", v1alpha1.ProviderGroq, "groq", 0)),
	)
	m := controller.SecretMapper{Client: c}
	ctx := t.Context()

	for _, tc := range []struct {
		name      string
		secret    client.Object
		wantPKs   []string
		wantRPs   []string
		wantByKey []string
	}{
		{"shared Secret", secretMeta("a", "llm-keys"), []string{"a/anthropic", "a/groq"}, []string{"a/chat", "a/summarize"}, nil},
		{"one key", secretMeta("a", "openai"), []string{"a/openai"}, []string{"a/chat", "a/other"}, nil},
		{"other namespace", secretMeta("b", "llm-keys"), []string{"b/groq"}, []string{"b/chat"}, nil},
		{"unrelated Secret", secretMeta("a", "tls"), []string{}, []string{}, nil},
		{"llm-config itself maps to one policy", secretMeta("a", routerconfig.ConfigSecretName), []string{}, []string{"a/chat"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := names(m.ProviderKeysFor(ctx, tc.secret)); !slices.Equal(got, tc.wantPKs) {
				t.Errorf("ProviderKeysFor = %v, want %v", got, tc.wantPKs)
			}
			if got := names(m.RoutePoliciesFor(ctx, tc.secret)); !slices.Equal(got, tc.wantRPs) {
				t.Errorf("RoutePoliciesFor = %v, want %v", got, tc.wantRPs)
			}
		})
	}
	if got := names(m.MapProviderKey(ctx, pk("a", "groq", "", "", ""))); !slices.Equal(got, []string{"a/chat"}) {
		t.Errorf("MapProviderKey(a/groq) = %v", got)
	}
}

func TestIndexesListEveryKeyRefOnce(t *testing.T) {
	c := fakeClient(t,
		rp("a", "dup", target("x", v1alpha1.ProviderOpenAI, "openai", 0), target("y", v1alpha1.ProviderOpenAI, "openai", 1),
			target("z", v1alpha1.ProviderGroq, "groq", 2)),
	)
	for _, key := range []string{"openai", "groq"} {
		var list v1alpha1.RoutePolicyList
		if err := c.List(t.Context(), &list, client.MatchingFields{controller.IndexRoutePolicyProviderKey: key}); err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 1 {
			t.Errorf("index %s=%s lists %d policies, want 1", controller.IndexRoutePolicyProviderKey, key, len(list.Items))
		}
	}
}
