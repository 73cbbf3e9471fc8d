package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"testing/synctest"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

const day = 24 * time.Hour

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func newRotator(t *testing.T, clk *clocktesting.FakeClock) (*Rotator, client.Client) {
	t.Helper()
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "llmroute"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{
			{Name: "inject.llmroute.dev"},
			{Name: "other.llmroute.dev"},
		},
	}
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(mwc).Build()
	return &Rotator{
		Client: c, Namespace: "llmroute-system", SecretName: "llmroute-webhook-cert",
		WebhookConfigName: "llmroute",
		DNSNames:          ServiceDNSNames("llmroute-webhook", "llmroute-system"),
		IPAddresses:       []net.IP{net.ParseIP("127.0.0.1")},
		Clock:             clk,
	}, c
}

// observed is what a client of the webhook sees: the Secret, the configured CA bundle and the served leaf.
type observed struct {
	secret *corev1.Secret
	bundle *x509.CertPool
	leaf   *x509.Certificate
	cas    []*x509.Certificate
}

func observe(t *testing.T, r *Rotator, c client.Client) observed {
	t.Helper()
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: r.Namespace, Name: r.SecretName}, s); err != nil {
		t.Fatalf("get secret: %v", err)
	}
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := c.Get(context.Background(), types.NamespacedName{Name: "llmroute"}, mwc); err != nil {
		t.Fatal(err)
	}
	for _, w := range mwc.Webhooks {
		if string(w.ClientConfig.CABundle) != string(s.Data[CAFile]) {
			t.Fatalf("webhook %s caBundle differs from the Secret's ca.crt", w.Name)
		}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(mwc.Webhooks[0].ClientConfig.CABundle) {
		t.Fatal("caBundle holds no certificate")
	}
	cas, err := ParseCertificates(s.Data[CAFile])
	if err != nil {
		t.Fatal(err)
	}
	served, err := r.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(served.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return observed{secret: s, bundle: pool, leaf: leaf, cas: cas}
}

// verify checks leaf the way the API server does: against the configured bundle, for the Service name, at now.
func verify(t *testing.T, leaf *x509.Certificate, bundle *x509.CertPool, now time.Time) {
	t.Helper()
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: bundle, DNSName: "llmroute-webhook.llmroute-system.svc", CurrentTime: now}); err != nil {
		t.Fatalf("served certificate does not verify against the caBundle at %s: %v", now, err)
	}
}

func TestSyncIssuesAndInjects(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	r, c := newRotator(t, clk)
	if err := r.ReadyCheck(nil); err == nil {
		t.Fatal("ready before any certificate")
	}
	next, err := r.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(DefaultCheckInterval); !next.Equal(want) {
		t.Errorf("next check %s, want %s", next, want)
	}
	o := observe(t, r, c)
	if o.secret.Type != corev1.SecretTypeTLS || len(o.cas) != 1 {
		t.Fatalf("secret type %s with %d CAs", o.secret.Type, len(o.cas))
	}
	verify(t, o.leaf, o.bundle, t0)
	if !o.leaf.NotAfter.Equal(t0.Add(DefaultCertValidity)) || !o.cas[0].NotAfter.Equal(t0.Add(DefaultCAValidity)) {
		t.Errorf("leaf until %s, CA until %s", o.leaf.NotAfter, o.cas[0].NotAfter)
	}
	if _, err := o.leaf.Verify(x509.VerifyOptions{Roots: o.bundle, DNSName: "127.0.0.1"}); err != nil {
		t.Errorf("IP SAN: %v", err)
	}
	if err := r.ReadyCheck(nil); err != nil {
		t.Errorf("not ready after Sync: %v", err)
	}
}

// The serving certificate is renewed exactly when a third of its 90 days is left: still the same certificate
// one second before day 60, a new one (same CA) at day 60.
func TestSyncRenewsServingCertAtBoundary(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	r, c := newRotator(t, clk)
	if _, err := r.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := observe(t, r, c)

	clk.SetTime(t0.Add(60*day - time.Second))
	if _, err := r.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := observe(t, r, c)
	if before.leaf.SerialNumber.Cmp(first.leaf.SerialNumber) != 0 || before.secret.ResourceVersion != first.secret.ResourceVersion {
		t.Fatal("certificate renewed before its renewal time")
	}

	clk.SetTime(t0.Add(60 * day))
	next, err := r.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	after := observe(t, r, c)
	if after.leaf.SerialNumber.Cmp(first.leaf.SerialNumber) == 0 {
		t.Fatal("certificate not renewed at its renewal time")
	}
	if !after.cas[0].Equal(first.cas[0]) || len(after.cas) != 1 {
		t.Fatal("CA changed on a serving certificate renewal")
	}
	verify(t, after.leaf, after.bundle, clk.Now())
	if want := clk.Now().Add(DefaultCheckInterval); !next.Equal(want) {
		t.Errorf("next check %s, want %s", next, want)
	}
}

// The CA is renewed with a third of its life left; the old CA stays in the bundle, so a replica still serving
// the old certificate keeps being trusted, until the old CA expires and is pruned.
func TestSyncRotatesCAKeepingOldOneUntilExpiry(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	r, c := newRotator(t, clk)
	// A serving validity longer than a third of the CA's keeps the serving certificate from renewing first.
	r.CAValidity, r.CertValidity = 300*day, 200*day
	if _, err := r.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := observe(t, r, c)

	clk.SetTime(t0.Add(200*day - time.Second))
	next, err := r.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := observe(t, r, c); !got.cas[0].Equal(first.cas[0]) {
		t.Fatal("CA renewed early")
	}
	// The serving certificate was due at day 133 and was renewed just now (capped at the CA's expiry); the next
	// check is the CA's renewal, one second away.
	if want := t0.Add(200 * day); !next.Equal(want) {
		t.Errorf("next check %s, want %s", next, want)
	}
	old := observe(t, r, c)

	clk.SetTime(t0.Add(200 * day))
	next, err = r.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rotated := observe(t, r, c)
	if len(rotated.cas) != 2 || rotated.cas[0].Equal(first.cas[0]) || !rotated.cas[1].Equal(first.cas[0]) {
		t.Fatalf("bundle after CA rotation: want [new, old], got %d CAs", len(rotated.cas))
	}
	verify(t, rotated.leaf, rotated.bundle, clk.Now())
	verify(t, old.leaf, rotated.bundle, clk.Now()) // a replica that has not reloaded yet
	if want := t0.Add(200 * day).Add(DefaultCheckInterval); !next.Equal(want) {
		t.Errorf("next check %s, want %s", next, want)
	}

	// The old CA expires at day 300: kept one second before, pruned at the moment it expires.
	clk.SetTime(t0.Add(300*day - time.Second))
	if _, err := r.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := observe(t, r, c); len(got.cas) != 2 {
		t.Fatalf("old CA pruned before it expired: %d CAs", len(got.cas))
	}
	clk.SetTime(t0.Add(300 * day))
	if _, err := r.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := observe(t, r, c); len(got.cas) != 1 || !got.cas[0].Equal(rotated.cas[0]) {
		t.Fatalf("expired CA not pruned: %d CAs", len(got.cas))
	}
}

// A replica adopts a certificate another replica wrote instead of issuing its own.
func TestSyncAdoptsSecretFromAnotherReplica(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	a, c := newRotator(t, clk)
	if _, err := a.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := &Rotator{Client: c, Namespace: a.Namespace, SecretName: a.SecretName, WebhookConfigName: a.WebhookConfigName,
		DNSNames: a.DNSNames, IPAddresses: a.IPAddresses, Clock: clk}
	if _, err := b.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	ca, cb := observe(t, a, c), observe(t, b, c)
	if ca.leaf.SerialNumber.Cmp(cb.leaf.SerialNumber) != 0 || ca.secret.ResourceVersion != cb.secret.ResourceVersion {
		t.Fatal("second replica issued its own certificate")
	}
}

func TestSyncReissues(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(r *Rotator, s *corev1.Secret)
		newCA  bool
	}{
		{"service renamed", func(r *Rotator, _ *corev1.Secret) {
			r.DNSNames = ServiceDNSNames("renamed", "llmroute-system")
		}, false},
		{"corrupt serving key", func(_ *Rotator, s *corev1.Secret) { s.Data[KeyFile] = []byte("garbage") }, false},
		{"CA key lost", func(_ *Rotator, s *corev1.Secret) { delete(s.Data, CAKeyFile) }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(t0)
			r, c := newRotator(t, clk)
			if _, err := r.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
			first := observe(t, r, c)
			s := first.secret.DeepCopy()
			tc.mutate(r, s)
			if err := c.Update(context.Background(), s); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := observe(t, r, c)
			if got.leaf.SerialNumber.Cmp(first.leaf.SerialNumber) == 0 {
				t.Fatal("serving certificate not reissued")
			}
			if tc.newCA == got.cas[0].Equal(first.cas[0]) {
				t.Fatalf("new CA = %v, want %v", !got.cas[0].Equal(first.cas[0]), tc.newCA)
			}
			if _, err := got.leaf.Verify(x509.VerifyOptions{Roots: got.bundle, DNSName: r.DNSNames[2], CurrentTime: t0}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSyncFailsWithoutWebhookConfiguration(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	r, _ := newRotator(t, clk)
	r.WebhookConfigName = "missing"
	if _, err := r.Sync(context.Background()); err == nil {
		t.Fatal("Sync succeeded without the webhook configuration")
	}
	// Not serving a certificate the API server was never told to trust.
	if err := r.ReadyCheck(nil); err == nil {
		t.Fatal("ready although the CA bundle could not be written")
	}
}

// Start renews on schedule without anyone calling Sync: the loop waits on the injected clock, and synctest
// tells when it is blocked again, so no real time passes and nothing sleeps.
func TestStartRenewsOnSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := clocktesting.NewFakeClock(t0)
		r, c := newRotator(t, clk)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- r.Start(ctx) }()
		synctest.Wait()
		first := observe(t, r, c)

		// Hourly checks until day 60 change nothing; stepping straight to day 60 fires the pending timer once,
		// and the loop then finds the renewal due.
		clk.Step(time.Hour)
		synctest.Wait()
		if got := observe(t, r, c); got.leaf.SerialNumber.Cmp(first.leaf.SerialNumber) != 0 {
			t.Fatal("renewed on a routine check")
		}
		clk.SetTime(t0.Add(60 * day))
		synctest.Wait()
		got := observe(t, r, c)
		if got.leaf.SerialNumber.Cmp(first.leaf.SerialNumber) == 0 {
			t.Fatal("not renewed at day 60")
		}
		verify(t, got.leaf, got.bundle, clk.Now())

		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Start: %v", err)
		}
	})
}
