package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/llmroute/llmroute/internal/testenv"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// restrictedPod is admissible under restricted Pod Security before injection; the test checks it still is
// after.
func restrictedPod(ns, name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			AutomountServiceAccountToken: ptr.To(false),
			Containers: []corev1.Container{{
				Name: "app", Image: "example/app:1",
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
}

func webhookConfig(name, url string, policy admissionregistrationv1.FailurePolicyType, nsSelector *metav1.LabelSelector) *admissionregistrationv1.MutatingWebhookConfiguration {
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "inject.llmroute.dev",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To(url)},
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			FailurePolicy:           ptr.To(policy),
			TimeoutSeconds:          ptr.To[int32](10),
			NamespaceSelector:       nsSelector,
			ObjectSelector:          &metav1.LabelSelector{MatchLabels: map[string]string{LabelInject: "true"}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
					Scope: ptr.To(admissionregistrationv1.NamespacedScope),
				},
			}},
		}},
	}
}

// TestWebhookAgainstAPIServer runs the webhook the way the operator does (self-signed mode: the rotator issues
// the certificate and writes the CA bundle into the configuration, which starts without one) and lets the real
// API server call it.
func TestWebhookAgainstAPIServer(t *testing.T) {
	env := testenv.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := env.Client

	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "llmroute-system"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "apps", Labels: map[string]string{
			"pod-security.kubernetes.io/enforce": "restricted", "llmroute.dev/injection": "enabled",
		}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "opted-out"}},
	} {
		if err := c.Create(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}

	port := freePort(t)
	url := fmt.Sprintf("https://127.0.0.1:%d%s", port, Path)
	mwc := webhookConfig("llmroute-test", url, admissionregistrationv1.Fail,
		&metav1.LabelSelector{MatchLabels: map[string]string{"llmroute.dev/injection": "enabled"}})
	if err := c.Create(ctx, mwc); err != nil {
		t.Fatal(err)
	}

	cfg := Config{
		Enabled: true, Host: "127.0.0.1", Port: port, CertMode: CertModeSelfSigned,
		Namespace: "llmroute-system", ServiceName: "llmroute-webhook", CertSecretName: "llmroute-webhook-cert",
		WebhookConfigName: mwc.Name, ExtraIPs: []net.IP{net.ParseIP("127.0.0.1")},
		Injection: Options{Image: "registry.example/llmroute:test"},
	}
	if err := cfg.Complete(); err != nil {
		t.Fatal(err)
	}
	wh := New(cfg)
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer:          wh.Server(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Setup(mgr); err != nil {
		t.Fatal(err)
	}
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-mgrDone; err != nil {
			t.Errorf("manager: %v", err)
		}
	})

	// The API server picks up the new CA bundle through its own informer; until then calls fail TLS
	// verification. Dry-run creations (the webhook declares no side effects) show when it is in effect.
	probe := restrictedPod("apps", "probe", map[string]string{LabelInject: "true"})
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p := probe.DeepCopy()
		if err := c.Create(ctx, p, client.DryRunAll); err != nil {
			t.Logf("webhook not in effect yet: %v", err)
			return false, nil
		}
		return Injected(p), nil
	})
	if err != nil {
		t.Fatalf("webhook never took effect: %v", err)
	}

	stored := mwc.DeepCopy()
	if err := c.Get(ctx, client.ObjectKeyFromObject(mwc), stored); err != nil {
		t.Fatal(err)
	}
	if len(stored.Webhooks[0].ClientConfig.CABundle) == 0 {
		t.Fatal("rotator did not write the CA bundle")
	}

	t.Run("labelled pod gets the sidecar and stays admissible under restricted", func(t *testing.T) {
		pod := restrictedPod("apps", "labelled", map[string]string{LabelInject: "true"})
		if err := c.Create(ctx, pod); err != nil {
			t.Fatalf("create: %v", err)
		}
		got := &corev1.Pod{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(pod), got); err != nil {
			t.Fatal(err)
		}
		r := router(t, got)
		if r.Image != "registry.example/llmroute:test" || got.Annotations[AnnotationInjected] != "true" ||
			got.Annotations[AnnotationAdminPort] != "9901" {
			t.Errorf("stored pod: image %q annotations %v", r.Image, got.Annotations)
		}
		if !hasVolume(got, VolumeName) || got.Spec.AutomountServiceAccountToken == nil || *got.Spec.AutomountServiceAccountToken {
			t.Errorf("volumes %v automount %v", got.Spec.Volumes, got.Spec.AutomountServiceAccountToken)
		}
	})

	t.Run("pod without the label is untouched", func(t *testing.T) {
		pod := restrictedPod("apps", "plain", map[string]string{"app": "plain"})
		if err := c.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
		got := &corev1.Pod{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(pod), got); err != nil {
			t.Fatal(err)
		}
		if len(got.Spec.Containers) != 1 || len(got.Annotations) != 0 || len(got.Spec.Volumes) != 0 {
			t.Errorf("unlabelled pod mutated: containers %d annotations %v volumes %v",
				len(got.Spec.Containers), got.Annotations, got.Spec.Volumes)
		}
	})

	t.Run("namespace outside the namespaceSelector is untouched", func(t *testing.T) {
		pod := restrictedPod("opted-out", "labelled", map[string]string{LabelInject: "true"})
		if err := c.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
		got := &corev1.Pod{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(pod), got); err != nil {
			t.Fatal(err)
		}
		if Injected(got) {
			t.Error("pod in a namespace the selector excludes was injected")
		}
	})

	// The failure policy decides what happens to a labelled pod when the webhook cannot be reached: Fail holds
	// it back (it would start without its router), Ignore admits it unmutated.
	t.Run("failure policy", func(t *testing.T) {
		deadURL := fmt.Sprintf("https://127.0.0.1:%d%s", freePort(t), Path)
		for _, tc := range []struct {
			policy  admissionregistrationv1.FailurePolicyType
			wantErr bool
		}{{admissionregistrationv1.Fail, true}, {admissionregistrationv1.Ignore, false}} {
			dead := webhookConfig("dead-"+strings.ToLower(string(tc.policy)), deadURL, tc.policy,
				&metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "opted-out"}})
			if err := c.Create(ctx, dead); err != nil {
				t.Fatal(err)
			}
			// The API server learns about the configuration asynchronously: poll until the outcome is the one
			// the policy prescribes, and fail if it never is.
			var last error
			err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
				last = c.Create(ctx, restrictedPod("opted-out", "unreachable", map[string]string{LabelInject: "true"}), client.DryRunAll)
				if tc.wantErr {
					return last != nil && strings.Contains(last.Error(), "failed calling webhook"), nil
				}
				return last == nil, nil
			})
			if err != nil {
				t.Errorf("failurePolicy %s: last create error %v", tc.policy, last)
			}
			if err := c.Delete(ctx, dead); err != nil {
				t.Fatal(err)
			}
			// Wait until the API server has forgotten the Fail configuration, or the Ignore case would see it.
			err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
				return c.Create(ctx, restrictedPod("opted-out", "unreachable", map[string]string{LabelInject: "true"}), client.DryRunAll) == nil, nil
			})
			if err != nil {
				t.Fatal(errors.New("API server still calls the deleted webhook"))
			}
		}
	})
}
