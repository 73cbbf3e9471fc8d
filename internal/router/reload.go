package router

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/llmroute/llmroute/internal/routerconfig"
)

// DefaultReloadInterval is how often a Reloader polls its config.
const DefaultReloadInterval = time.Second

// Reloader keeps a Server's config in step with a path. A compiled config directory (config.json, as the
// operator's mounted Secret) is followed by a routerconfig.Watcher, which understands the kubelet's `..data`
// swap and checksums; manifests are polled by content hash. Either way a config that fails to load or compile
// leaves the last good one in use, and the failure shows on /readyz and in llmroute_config_last_reload_ok.
type Reloader struct {
	path     string
	srv      *Server
	interval time.Duration
	watcher  *routerconfig.Watcher
	compile  ManifestCompiler

	mu     sync.Mutex
	lastFP string // content hash of the manifests last tried, loaded or not
}

// ManifestCompiler validates the Kubernetes manifests at path (a file or directory) and compiles them into a
// bundle. The router package does not validate manifests itself: that needs the CRD schemas and CEL, whose
// code would more than double the data plane's binary and resident memory. The full llmroute binary passes
// manifests.Load; the lean router binary passes a ChildCompiler, which asks `llmroute compile`.
type ManifestCompiler func(path string) (*routerconfig.Bundle, error)

// NewReloader returns a Reloader of path into srv; interval <= 0 means DefaultReloadInterval. compile is used
// when path holds manifests rather than a compiled config directory; nil refuses manifests.
func NewReloader(path string, srv *Server, interval time.Duration, compile ManifestCompiler) *Reloader {
	if interval <= 0 {
		interval = DefaultReloadInterval
	}
	r := &Reloader{path: path, srv: srv, interval: interval, compile: compile}
	if routerconfig.IsConfigDir(path) {
		r.watcher = routerconfig.NewWatcher(path, func(b *routerconfig.Bundle) { _ = srv.Apply(path, b) },
			routerconfig.WithInterval(interval),
			routerconfig.WithErrorHandler(func(err error) { srv.ReportConfigError(path, err) }))
	}
	return r
}

// Reload loads the config once if it changed since the last attempt, and reports whether a new config is
// in use. The error is the load's (the last good config stays in use then).
func (r *Reloader) Reload() (bool, error) {
	if r.watcher != nil {
		changed, err := r.watcher.Reload()
		if err != nil {
			return false, err
		}
		if changed {
			// The watcher applied it through onChange; a bundle that does not compile was reported there.
			if snap := r.srv.Snapshot(); snap == nil || snap.Bundle != r.watcher.Current() {
				return false, fmt.Errorf("config %s loaded but did not compile; keeping the last good config", r.path)
			}
		}
		return changed, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fp, err := routerconfig.Fingerprint(r.path)
	if err != nil {
		r.srv.ReportConfigError(r.path, err)
		return false, err
	}
	if fp == r.lastFP {
		return false, nil
	}
	r.lastFP = fp
	var b *routerconfig.Bundle
	if r.compile == nil {
		err = fmt.Errorf("config %s holds manifests, which this build cannot compile; give it a compiled config directory (with %s)", r.path, routerconfig.ConfigFile)
	} else {
		b, err = r.compile(r.path)
	}
	if err != nil {
		r.srv.ReportConfigError(r.path, err)
		return false, err
	}
	if err := r.srv.Apply(r.path, b); err != nil {
		return false, err
	}
	return true, nil
}

// Run reloads on every tick until ctx ends (the first load is the caller's, through Reload, so that it can
// refuse to start without a config). It returns nil when ctx ends.
func (r *Reloader) Run(ctx context.Context) error {
	if r.watcher != nil {
		return r.watcher.Run(ctx)
	}
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			_, _ = r.Reload()
		}
	}
}
