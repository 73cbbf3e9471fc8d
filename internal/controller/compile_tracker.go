package controller

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// compileTracker lets a RoutePolicy reconcile skip compiling its namespace when a compile that began after the
// latest event for that policy has already succeeded: that compile listed the policies and ProviderKeys from a
// cache that already held the change, and read the Secrets from the API server after the change was announced,
// so it compiled everything the event could have been about. A burst of n policy events then costs a handful of
// compiles instead of n (each of which lists every policy and reads, parses and rewrites llmroute-config).
//
// Events are noted by the watches' map functions (noteEvents) before the request is queued. A request with no
// noted event (a direct Reconcile call, a retry after an error, a health announcement, an outcome-change
// announcement) is handled as before, except that health and outcome announcements, which change nothing a
// compile reads, are covered by the compile that covered the policy's last real event. The zero value is ready
// to use; it only ever makes a reconcile compile more often than strictly needed, never less.
type compileTracker struct {
	mu         sync.Mutex
	namespaces map[string]*namespaceCompiles
	// seen is, per policy, the number of compiles of its namespace begun when its latest event was noted.
	seen map[types.NamespacedName]uint64
}

type namespaceCompiles struct {
	started   uint64                  // compiles begun so far; a compile's sequence number is this after begin
	completed uint64                  // sequence number of the latest successful compile (0: none)
	outcomes  map[string]routeOutcome // what that compile did with each policy
}

func (t *compileTracker) ns(namespace string) *namespaceCompiles {
	if t.namespaces == nil {
		t.namespaces = map[string]*namespaceCompiles{}
		t.seen = map[types.NamespacedName]uint64{}
	}
	n, ok := t.namespaces[namespace]
	if !ok {
		n = &namespaceCompiles{}
		t.namespaces[namespace] = n
	}
	return n
}

// noteEvent records that something the compile of req's namespace reads changed for req. Only compiles begun
// after this call cover it.
func (t *compileTracker) noteEvent(req types.NamespacedName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seen[req] = t.ns(req.Namespace).started
}

// covered returns the outcomes of the latest successful compile of req's namespace if it began after req's
// latest noted event.
func (t *compileTracker) covered(req types.NamespacedName) (map[string]routeOutcome, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	seen, ok := t.seen[req]
	if !ok {
		return nil, false
	}
	n := t.ns(req.Namespace)
	if n.completed <= seen {
		return nil, false
	}
	return n.outcomes, true
}

// begin numbers a compile of namespace; call it before the compile reads anything.
func (t *compileTracker) begin(namespace string) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.ns(namespace)
	n.started++
	return n.started
}

// done records the outcomes of compile seq of namespace and returns the policies whose outcome differs from
// the previous successful compile's (policies new or gone since then have events of their own).
func (t *compileTracker) done(namespace string, seq uint64, outcomes map[string]routeOutcome) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.ns(namespace)
	if seq <= n.completed {
		return nil
	}
	var changed []string
	for name, o := range outcomes {
		if prev, ok := n.outcomes[name]; ok && prev != o {
			changed = append(changed, name)
		}
	}
	n.completed, n.outcomes = seq, outcomes
	return changed
}

// forget drops a deleted policy's record.
func (t *compileTracker) forget(req types.NamespacedName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.seen, req)
}

// noteEvents wraps a map function so every request it returns is noted before the handler queues it.
func (t *compileTracker) noteEvents(f handler.MapFunc) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		reqs := f(ctx, obj)
		for _, r := range reqs {
			t.noteEvent(r.NamespacedName)
		}
		return reqs
	}
}

// self maps an object to its own request (what For's EnqueueRequestForObject does).
func self(_ context.Context, obj client.Object) []reconcile.Request {
	return []reconcile.Request{{NamespacedName: client.ObjectKeyFromObject(obj)}}
}
