package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Options configures Setup.
type Options struct {
	// PollInterval, StaleAfter, AdminPort, EventInterval and StaticRouters configure the HealthPoller; zero
	// values take its defaults.
	PollInterval  time.Duration
	StaleAfter    time.Duration
	AdminPort     int
	EventInterval time.Duration
	StaticRouters []string
	// DisableHealthPoller skips the poller (status then reports Degraded Unknown/NoReports).
	DisableHealthPoller bool
}

// CacheOptions restricts the manager's cache to what the controllers need. Pods: only injected ones (the
// poller's targets), not every pod of the cluster. Secrets: not here at all; they are watched by metadata only
// (see ClientOptions and doc.go). Managed fields are stripped: nothing reads them.
func CacheOptions() cache.Options {
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}: {Label: labels.SelectorFromSet(labels.Set{LabelInject: "true"})},
		},
	}
}

// ClientOptions makes typed Secret reads through the manager's client go to the API server, so no code path
// can accidentally start an informer that caches every Secret of the cluster, data included.
func ClientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}}
}

// Setup registers the field indexes, both reconcilers and (unless disabled) the leader-only HealthPoller with
// mgr. It returns the HealthStore shared by the poller and the RoutePolicy reconciler.
func Setup(ctx context.Context, mgr ctrl.Manager, opts Options) (*HealthStore, error) {
	if err := ApplyIndexing(ctx, mgr.GetFieldIndexer()); err != nil {
		return nil, err
	}
	if err := (&ProviderKeyReconciler{Client: mgr.GetClient(), SecretReader: mgr.GetAPIReader()}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("set up ProviderKey controller: %w", err)
	}
	store := NewHealthStore()
	var health *HealthStore
	if !opts.DisableHealthPoller {
		health = store
	}
	rpr := &RoutePolicyReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Health: store}
	if err := rpr.SetupWithManager(mgr, health); err != nil {
		return nil, fmt.Errorf("set up RoutePolicy controller: %w", err)
	}
	if opts.DisableHealthPoller {
		return store, nil
	}
	poller := &HealthPoller{
		Client:        mgr.GetClient(),
		Store:         store,
		Recorder:      mgr.GetEventRecorder("llmroute-health"),
		Interval:      opts.PollInterval,
		StaleAfter:    opts.StaleAfter,
		AdminPort:     opts.AdminPort,
		EventInterval: opts.EventInterval,
		StaticRouters: opts.StaticRouters,
	}
	if err := mgr.Add(poller); err != nil {
		return nil, fmt.Errorf("add health poller: %w", err)
	}
	return store, nil
}
