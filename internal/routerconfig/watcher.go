package routerconfig

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultWatchInterval is how often a Watcher polls when no interval is given. fsnotify events usually trigger a
// reload sooner; polling is the backstop that always works (fsnotify misses events on some volume types).
const DefaultWatchInterval = time.Second

// WatcherOption configures a Watcher.
type WatcherOption func(*Watcher)

// WithInterval sets the polling interval (DefaultWatchInterval when d <= 0).
func WithInterval(d time.Duration) WatcherOption {
	return func(w *Watcher) {
		if d > 0 {
			w.interval = d
		}
	}
}

// WithFSNotify turns the fsnotify trigger on or off (on by default). Polling always runs.
func WithFSNotify(on bool) WatcherOption { return func(w *Watcher) { w.fsnotify = on } }

// WithErrorHandler is called with every failed load (the last good bundle stays current). Errors carry no key
// material, so they may be logged.
func WithErrorHandler(fn func(error)) WatcherOption { return func(w *Watcher) { w.onError = fn } }

// Watcher follows a mounted config directory. It reloads on every poll (and fsnotify event), and when the
// directory holds a valid bundle whose checksum differs from the current one it makes that bundle current and
// calls onChange. Any error (unreadable files, unknown schema version, checksum or fingerprint mismatch) leaves
// the current bundle in place and is reported by LastError until a later load succeeds.
type Watcher struct {
	dir      string
	onChange func(*Bundle)
	onError  func(error)
	interval time.Duration
	fsnotify bool

	mu      sync.Mutex // serialises reloads, so onChange calls never overlap
	current atomic.Pointer[Bundle]
	lastErr atomic.Pointer[errBox]
}

type errBox struct{ err error }

// NewWatcher returns a Watcher of dir. onChange may be nil; it is called synchronously, one call at a time, with
// each new valid bundle, and must not block for long.
func NewWatcher(dir string, onChange func(*Bundle), opts ...WatcherOption) *Watcher {
	w := &Watcher{dir: dir, onChange: onChange, interval: DefaultWatchInterval, fsnotify: true}
	for _, o := range opts {
		o(w)
	}
	return w
}

// Current returns the last good bundle, or nil before the first successful load.
func (w *Watcher) Current() *Bundle { return w.current.Load() }

// LastError returns the error of the latest load, or nil when it succeeded.
func (w *Watcher) LastError() error {
	if b := w.lastErr.Load(); b != nil {
		return b.err
	}
	return nil
}

// Reload loads the directory once. It reports whether a new bundle became current. Run calls it; callers may
// too, for example to require a valid config before serving.
func (w *Watcher) Reload() (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b, err := LoadDir(w.dir)
	if err != nil {
		w.lastErr.Store(&errBox{err})
		if w.onError != nil {
			w.onError(err)
		}
		return false, err
	}
	w.lastErr.Store(nil)
	if cur := w.current.Load(); cur != nil && cur.Config.Checksum == b.Config.Checksum {
		return false, nil
	}
	w.current.Store(b)
	if w.onChange != nil {
		w.onChange(b)
	}
	return true, nil
}

// Run loads the directory at once and then on every tick and fsnotify event until ctx ends. It returns nil
// when ctx ends; load errors are reported through LastError and the error handler, never by stopping.
func (w *Watcher) Run(ctx context.Context) error {
	_, _ = w.Reload()
	var events <-chan fsnotify.Event
	if w.fsnotify {
		// Watch the directory itself: the kubelet's swap renames ..data_tmp over ..data inside it.
		if fw, err := fsnotify.NewWatcher(); err == nil {
			defer func() { _ = fw.Close() }()
			if err := fw.Add(w.dir); err == nil {
				events = fw.Events
				go func() {
					// Drain errors so fsnotify never blocks; polling covers whatever it missed.
					for range fw.Errors {
					}
				}()
			}
		}
	}
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			_, _ = w.Reload()
		case _, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			_, _ = w.Reload()
		}
	}
}
