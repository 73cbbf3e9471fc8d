package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// Defaults of Rotator. The serving certificate is short-lived so rotation is exercised routinely, not once a
// decade when nobody remembers how it works; renewal starts with a third of the lifetime left, which leaves
// weeks for a failing renewal to be noticed.
const (
	DefaultCAValidity    = 2 * 365 * 24 * time.Hour
	DefaultCertValidity  = 90 * 24 * time.Hour
	DefaultCheckInterval = time.Hour
	DefaultRetryInterval = 10 * time.Second
)

// Rotator keeps a CA and serving certificate in a Secret, renews them before they expire, writes the CA
// bundle into a MutatingWebhookConfiguration and serves the current certificate through GetCertificate. Run
// one per operator replica: every replica serves the webhook and needs the certificate, so it is not a
// leader-only runnable; writes to the Secret are safe under concurrency (see package doc).
type Rotator struct {
	// Client writes the Secret and the webhook configuration.
	Client client.Client
	// Reader reads them uncached (a manager's APIReader), so no informer on Secrets or webhook configurations
	// is needed and a replica never decides on a stale copy. Client when nil.
	Reader client.Reader
	// Namespace and SecretName locate the certificate Secret.
	Namespace, SecretName string
	// WebhookConfigName is the MutatingWebhookConfiguration whose webhooks get the CA bundle; none when empty.
	WebhookConfigName string
	// DNSNames and IPAddresses the serving certificate is for.
	DNSNames    []string
	IPAddresses []net.IP
	// CAValidity, CertValidity, CheckInterval and RetryInterval take the Default* values when zero. Renewal is
	// due with a third of a certificate's validity left.
	CAValidity, CertValidity     time.Duration
	CheckInterval, RetryInterval time.Duration
	// Clock is the time source; the real clock when nil.
	Clock clock.Clock

	current atomic.Pointer[tls.Certificate]
}

// ServiceDNSNames are the names the API server may use for a webhook Service.
func ServiceDNSNames(service, namespace string) []string {
	return []string{
		service,
		service + "." + namespace,
		service + "." + namespace + ".svc",
		service + "." + namespace + ".svc.cluster.local",
	}
}

func (r *Rotator) clock() clock.Clock {
	if r.Clock == nil {
		return clock.RealClock{}
	}
	return r.Clock
}

func (r *Rotator) reader() client.Reader {
	if r.Reader == nil {
		return r.Client
	}
	return r.Reader
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// renewAt is when a certificate is due for renewal: with a third of its validity left.
func renewAt(c *x509.Certificate) time.Time {
	return c.NotAfter.Add(-c.NotAfter.Sub(c.NotBefore.Add(backdate)) / 3)
}

// GetCertificate serves the current certificate; it is a tls.Config.GetCertificate.
func (r *Rotator) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c := r.current.Load()
	if c == nil {
		return nil, errors.New("webhook serving certificate not issued yet")
	}
	return c, nil
}

// ReadyCheck fails until a certificate is being served, so that a Service does not send admission requests
// to a replica whose TLS handshakes would fail. It is a healthz.Checker.
func (r *Rotator) ReadyCheck(*http.Request) error {
	if r.current.Load() == nil {
		return errors.New("webhook serving certificate not issued yet")
	}
	return nil
}

// NeedLeaderElection is false: every replica serves the webhook, so every replica needs the certificate.
func (r *Rotator) NeedLeaderElection() bool { return false }

// Start runs Sync at once and again whenever a renewal is due or CheckInterval passes (RetryInterval after an
// error), until ctx ends. It is a manager.Runnable and returns nil on cancellation: an error only delays
// renewal, which the next attempt may fix, so it must not stop the manager.
func (r *Rotator) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("cert-rotator")
	for {
		next, err := r.Sync(ctx)
		if err != nil {
			logger.Error(err, "sync webhook certificate", "secret", r.Namespace+"/"+r.SecretName)
			next = r.clock().Now().Add(orDefault(r.RetryInterval, DefaultRetryInterval))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.clock().After(next.Sub(r.clock().Now())):
		}
	}
}

// Sync brings the Secret, the webhook configuration and the served certificate up to date and returns when it
// must run next. The order matters: the Secret is written first (it is the state shared by all replicas, and
// the write is conditional), then the CA bundle, and only then is the new certificate served, so the API
// server never meets a certificate it does not trust yet.
func (r *Rotator) Sync(ctx context.Context) (time.Time, error) {
	now := r.clock().Now()
	secret := &corev1.Secret{}
	err := r.reader().Get(ctx, types.NamespacedName{Namespace: r.Namespace, Name: r.SecretName}, secret)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return time.Time{}, fmt.Errorf("get certificate secret %s/%s: %w", r.Namespace, r.SecretName, err)
	}

	state, changed, err := r.desired(secret.Data, now)
	if err != nil {
		return time.Time{}, err
	}
	if changed {
		if err := r.writeSecret(ctx, secret, exists, state); err != nil {
			return time.Time{}, err
		}
		log.FromContext(ctx).Info("issued webhook serving certificate", "secret", r.Namespace+"/"+r.SecretName,
			"notAfter", state.leaf.NotAfter, "caNotAfter", state.ca.Cert.NotAfter)
	}
	if err := r.injectCABundle(ctx, state.data[CAFile]); err != nil {
		return time.Time{}, err
	}
	if err := r.serve(state.data); err != nil {
		return time.Time{}, err
	}
	return r.nextCheck(state, now), nil
}

// certState is the decoded content of a consistent certificate Secret.
type certState struct {
	data   map[string][]byte
	ca     *Authority
	bundle []*x509.Certificate
	leaf   *x509.Certificate
}

// desired decodes data and returns the state it should have at now, and whether that differs from data.
func (r *Rotator) desired(data map[string][]byte, now time.Time) (certState, bool, error) {
	changed := false
	ca, err := ParseAuthority(data[CAFile], data[CAKeyFile])
	var bundle []*x509.Certificate
	if err == nil {
		bundle, _ = ParseCertificates(data[CAFile])
	}
	if err != nil || !now.Before(renewAt(ca.Cert)) {
		// Keep the outgoing CA in the bundle while it is valid: replicas may still serve certificates it signed.
		var keep []*x509.Certificate
		if err == nil {
			keep = []*x509.Certificate{ca.Cert}
		}
		if ca, err = NewAuthority("llmroute-webhook-ca", now, orDefault(r.CAValidity, DefaultCAValidity)); err != nil {
			return certState{}, false, err
		}
		bundle = append([]*x509.Certificate{ca.Cert}, keep...)
		changed = true
	}
	// Drop expired CAs; the first one is the current CA, which is valid here.
	pruned := bundle[:1]
	for _, c := range bundle[1:] {
		if now.Before(c.NotAfter) && !c.Equal(ca.Cert) {
			pruned = append(pruned, c)
		}
	}
	if len(pruned) != len(bundle) {
		changed = true
	}
	bundle = pruned

	certPEM, keyPEM := data[CertFile], data[KeyFile]
	leaf, ok := ServingCertValid(certPEM, keyPEM, ca.Cert, r.DNSNames, r.IPAddresses, now)
	if changed || !ok || !now.Before(renewAt(leaf)) {
		if certPEM, keyPEM, err = ca.Issue(r.DNSNames, r.IPAddresses, now, orDefault(r.CertValidity, DefaultCertValidity)); err != nil {
			return certState{}, false, err
		}
		if leaf, ok = ServingCertValid(certPEM, keyPEM, ca.Cert, r.DNSNames, r.IPAddresses, now); !ok {
			return certState{}, false, errors.New("freshly issued serving certificate does not verify")
		}
		changed = true
	}
	return certState{
		data: map[string][]byte{CAFile: Bundle(bundle...), CAKeyFile: ca.KeyPEM, CertFile: certPEM, KeyFile: keyPEM},
		ca:   ca, bundle: bundle, leaf: leaf,
	}, changed, nil
}

// writeSecret creates or updates the Secret. The update carries the resourceVersion that was read, so when two
// replicas renew at once only one wins; the loser gets a conflict and adopts the winner's certificate on retry.
func (r *Rotator) writeSecret(ctx context.Context, secret *corev1.Secret, exists bool, state certState) error {
	if !exists {
		secret = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: r.Namespace, Name: r.SecretName,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "llmroute-operator"},
			},
			Type: corev1.SecretTypeTLS,
			Data: state.data,
		}
		if err := r.Client.Create(ctx, secret); err != nil {
			return fmt.Errorf("create certificate secret %s/%s: %w", r.Namespace, r.SecretName, err)
		}
		return nil
	}
	secret.Data = state.data
	if err := r.Client.Update(ctx, secret); err != nil {
		return fmt.Errorf("update certificate secret %s/%s: %w", r.Namespace, r.SecretName, err)
	}
	return nil
}

// injectCABundle writes bundle into every webhook of the configuration that does not carry it yet.
func (r *Rotator) injectCABundle(ctx context.Context, bundle []byte) error {
	if r.WebhookConfigName == "" {
		return nil
	}
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := r.reader().Get(ctx, types.NamespacedName{Name: r.WebhookConfigName}, cfg); err != nil {
		return fmt.Errorf("get MutatingWebhookConfiguration %s: %w", r.WebhookConfigName, err)
	}
	changed := false
	for i := range cfg.Webhooks {
		if !bytes.Equal(cfg.Webhooks[i].ClientConfig.CABundle, bundle) {
			cfg.Webhooks[i].ClientConfig.CABundle = bundle
			changed = true
		}
	}
	if !changed {
		return nil
	}
	// An update, not a merge patch: a merge patch replaces the whole webhooks list, and the resourceVersion
	// check makes a concurrent edit (helm upgrade) fail loudly and retry instead of being overwritten.
	if err := r.Client.Update(ctx, cfg); err != nil {
		return fmt.Errorf("write CA bundle into MutatingWebhookConfiguration %s: %w", r.WebhookConfigName, err)
	}
	return nil
}

func (r *Rotator) serve(data map[string][]byte) error {
	pair, err := tls.X509KeyPair(data[CertFile], data[KeyFile])
	if err != nil {
		return fmt.Errorf("load serving certificate: %w", err)
	}
	r.current.Store(&pair)
	return nil
}

// nextCheck is the earliest of: the serving certificate's renewal, the CA's renewal, the expiry of a CA kept in
// the bundle (to prune it), and the regular check that notices a Secret rewritten by another replica.
func (r *Rotator) nextCheck(state certState, now time.Time) time.Time {
	next := now.Add(orDefault(r.CheckInterval, DefaultCheckInterval))
	candidates := []time.Time{renewAt(state.leaf), renewAt(state.ca.Cert)}
	for _, c := range state.bundle[1:] {
		candidates = append(candidates, c.NotAfter)
	}
	for _, t := range candidates {
		if t.Before(next) {
			next = t
		}
	}
	return next
}
