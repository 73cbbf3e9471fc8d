package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/keys"
)

// keyResolution is the outcome of reading a ProviderKey's key from its Secret. Reason is ReasonKeyLoaded or
// why the key could not be read; Message never contains key material.
type keyResolution struct {
	Reason   string
	Message  string
	Key      keys.Secret
	SecretRV string
}

// OK reports whether the key was read.
func (r keyResolution) OK() bool { return r.Reason == v1alpha1.ReasonKeyLoaded }

// secretKeyName is the Secret entry a ProviderKey reads; the API server defaults it, this covers objects that
// never went through one (fake clients, standalone manifests).
func secretKeyName(pk *v1alpha1.ProviderKey) string {
	if pk.Spec.SecretRef.Key != "" {
		return pk.Spec.SecretRef.Key
	}
	return v1alpha1.DefaultSecretKey
}

// resolveKey reads pk's key. A Secret that is missing, lacks the entry or holds only whitespace is a result,
// not an error; other read failures are returned as errors (to retry), sanitised by sanitizeReadError.
func resolveKey(ctx context.Context, secrets client.Reader, pk *v1alpha1.ProviderKey) (keyResolution, error) {
	ref := pk.Spec.SecretRef
	entry := secretKeyName(pk)
	var s corev1.Secret
	if err := secrets.Get(ctx, types.NamespacedName{Namespace: pk.Namespace, Name: ref.Name}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return keyResolution{Reason: v1alpha1.ReasonSecretNotFound,
				Message: fmt.Sprintf("Secret %q not found", ref.Name)}, nil
		}
		return keyResolution{}, fmt.Errorf("read Secret %s/%s: %w", pk.Namespace, ref.Name, sanitizeReadError(err))
	}
	raw, ok := s.Data[entry]
	if !ok {
		return keyResolution{Reason: v1alpha1.ReasonKeyMissing, SecretRV: s.ResourceVersion,
			Message: fmt.Sprintf("Secret %q has no entry %q", ref.Name, entry)}, nil
	}
	key := keys.NewSecret(string(raw))
	if key.Empty() {
		return keyResolution{Reason: v1alpha1.ReasonKeyEmpty, SecretRV: s.ResourceVersion,
			Message: fmt.Sprintf("Secret %q entry %q is empty", ref.Name, entry)}, nil
	}
	return keyResolution{Reason: v1alpha1.ReasonKeyLoaded, Key: key, SecretRV: s.ResourceVersion,
		Message: fmt.Sprintf("key read from Secret %q entry %q, fingerprint %s", ref.Name, entry, key.Fingerprint())}, nil
}

// sanitizeReadError reduces an error from reading a Secret to its kind: an API status reason and code, or a
// context error. The full text is dropped because decode and conversion errors can quote the object they
// failed on, and that object is a Secret (external-secrets #2401 leaked credentials that way).
func sanitizeReadError(err error) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case apierrors.ReasonForError(err) != "":
		var code int32
		if st, ok := err.(apierrors.APIStatus); ok {
			code = st.Status().Code
		}
		return fmt.Errorf("API error %s (HTTP %d)", apierrors.ReasonForError(err), code)
	default:
		return fmt.Errorf("unexpected %T error (details withheld: it may quote Secret data)", err)
	}
}

// resolvedProviderKey is a ProviderKey (nil when it does not exist) and its key.
type resolvedProviderKey struct {
	PK  *v1alpha1.ProviderKey
	Key keyResolution
}

// keyCache resolves each ProviderKey of a namespace at most once per reconcile, so compiling a namespace reads
// each Secret once however many policies share it.
type keyCache struct {
	client    client.Reader // ProviderKeys (cached)
	secrets   client.Reader // Secrets (uncached)
	namespace string
	byName    map[string]*resolvedProviderKey
}

func newKeyCache(c, secrets client.Reader, namespace string) *keyCache {
	return &keyCache{client: c, secrets: secrets, namespace: namespace, byName: map[string]*resolvedProviderKey{}}
}

func (kc *keyCache) get(ctx context.Context, name string) (*resolvedProviderKey, error) {
	if r, ok := kc.byName[name]; ok {
		return r, nil
	}
	var pk v1alpha1.ProviderKey
	r := &resolvedProviderKey{}
	if err := kc.client.Get(ctx, types.NamespacedName{Namespace: kc.namespace, Name: name}, &pk); err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("get ProviderKey %s/%s: %w", kc.namespace, name, err)
		}
	} else {
		r.PK = &pk
		if pk.DeletionTimestamp.IsZero() {
			res, err := resolveKey(ctx, kc.secrets, &pk)
			if err != nil {
				return nil, fmt.Errorf("resolve ProviderKey %s/%s: %w", kc.namespace, name, err)
			}
			r.Key = res
		}
	}
	kc.byName[name] = r
	return r, nil
}

// targetProblem is why one target did not resolve.
type targetProblem struct {
	Target  string
	Reason  string
	Message string
}

// policyResolution is the outcome of resolving every target of a policy.
type policyResolution struct {
	Problems []targetProblem
}

// OK reports whether every target resolved.
func (p policyResolution) OK() bool { return len(p.Problems) == 0 }

// Reason is the reason of the first failing target, or ReasonResolved.
func (p policyResolution) Reason() string {
	if p.OK() {
		return v1alpha1.ReasonResolved
	}
	return p.Problems[0].Reason
}

// Message names every failing target.
func (p policyResolution) Message(total int) string {
	if p.OK() {
		return fmt.Sprintf("all %d targets resolved", total)
	}
	parts := make([]string, 0, len(p.Problems))
	for _, pr := range p.Problems {
		parts = append(parts, fmt.Sprintf("target %q: %s", pr.Target, pr.Message))
	}
	return strings.Join(parts, "; ")
}

// resolvePolicy checks every target: its ProviderKey exists, is not being deleted, is for the same provider,
// and its key can be read.
func resolvePolicy(ctx context.Context, kc *keyCache, rp *v1alpha1.RoutePolicy) (policyResolution, error) {
	var res policyResolution
	for _, t := range rp.Spec.Targets {
		r, err := kc.get(ctx, t.KeyRef.Name)
		if err != nil {
			return policyResolution{}, err
		}
		p := targetProblem{Target: string(t.Name)}
		switch {
		case r.PK == nil:
			p.Reason, p.Message = v1alpha1.ReasonProviderKeyNotFound, fmt.Sprintf("ProviderKey %q not found", t.KeyRef.Name)
		case !r.PK.DeletionTimestamp.IsZero():
			p.Reason, p.Message = v1alpha1.ReasonProviderKeyNotReady, fmt.Sprintf("ProviderKey %q is being deleted", t.KeyRef.Name)
		case r.PK.Spec.Provider != t.Provider:
			p.Reason, p.Message = v1alpha1.ReasonProviderMismatch,
				fmt.Sprintf("target provider %q differs from ProviderKey %q provider %q", t.Provider, t.KeyRef.Name, r.PK.Spec.Provider)
		case !r.Key.OK():
			p.Reason, p.Message = r.Key.Reason, fmt.Sprintf("ProviderKey %q: %s", t.KeyRef.Name, r.Key.Message)
		default:
			continue
		}
		res.Problems = append(res.Problems, p)
	}
	return res, nil
}
