package routerconfig_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/llmroute/llmroute/internal/keys"
	"github.com/llmroute/llmroute/internal/routerconfig"
	"github.com/llmroute/llmroute/internal/routerconfig/kubeletdir"
)

func render(t *testing.T, b *routerconfig.Bundle) map[string][]byte {
	t.Helper()
	d, err := routerconfig.Render(b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval of the check, not a wait for behaviour
	}
}

func TestWriteKubeletDirLayout(t *testing.T) {
	dir := t.TempDir()
	if err := kubeletdir.WriteKubeletDir(dir, map[string][]byte{"a": []byte("1"), "b": []byte("2")}); err != nil {
		t.Fatal(err)
	}
	first, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil {
		t.Fatal(err)
	}
	if err := kubeletdir.WriteKubeletDir(dir, map[string][]byte{"a": []byte("3"), "c": []byte("4")}); err != nil {
		t.Fatal(err)
	}
	second, _ := os.Readlink(filepath.Join(dir, "..data"))
	if second == first {
		t.Fatalf("..data still points at %s", first)
	}
	if _, err := os.Stat(filepath.Join(dir, first)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old payload dir %s not removed: %v", first, err)
	}
	for name, want := range map[string]string{"a": "3", "c": "4"} {
		link, err := os.Readlink(filepath.Join(dir, name))
		if err != nil || link != filepath.Join("..data", name) {
			t.Errorf("%s -> %q, %v; want a symlink through ..data", name, link, err)
		}
		got, _ := os.ReadFile(filepath.Join(dir, name))
		if string(got) != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "b")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("vanished entry b still linked: %v", err)
	}
}

func TestLoadDir(t *testing.T) {
	b := bundleFromManifests(t, "testdata/basic.yaml")
	data := render(t, b)

	t.Run("kubelet layout", func(t *testing.T) {
		dir := t.TempDir()
		if err := kubeletdir.WriteKubeletDir(dir, data); err != nil {
			t.Fatal(err)
		}
		got, err := routerconfig.LoadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got.Config.Checksum != b.Config.Checksum {
			t.Errorf("checksum %s, want %s", got.Config.Checksum, b.Config.Checksum)
		}
	})
	t.Run("plain directory, dotfiles ignored", func(t *testing.T) {
		dir := t.TempDir()
		for name, content := range data {
			if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		// A stray dotfile with garbage must not matter.
		if err := os.WriteFile(filepath.Join(dir, ".config.json.swp"), []byte("garbage"), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := routerconfig.LoadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if k, ok := got.Key("groq"); !ok || k.Fingerprint() != keys.Fingerprint("gsk-test-not-a-real-key-0001") {
			t.Errorf("groq key not loaded")
		}
	})
	t.Run("empty directory", func(t *testing.T) {
		if _, err := routerconfig.LoadDir(t.TempDir()); !errors.Is(err, routerconfig.ErrInvalidConfig) {
			t.Errorf("LoadDir(empty) = %v, want ErrInvalidConfig", err)
		}
	})
}

func TestWatcherReload(t *testing.T) {
	dir := t.TempDir()
	b1 := bundleFromManifests(t, "testdata/basic.yaml")
	d1 := render(t, b1)
	if err := kubeletdir.WriteKubeletDir(dir, d1); err != nil {
		t.Fatal(err)
	}
	var got []string
	w := routerconfig.NewWatcher(dir, func(b *routerconfig.Bundle) { got = append(got, b.Config.Checksum) })

	changed, err := w.Reload()
	if !changed || err != nil {
		t.Fatalf("first Reload = %v, %v", changed, err)
	}
	// Same payload again (and a rewrite with identical content): no change reported.
	if err := kubeletdir.WriteKubeletDir(dir, d1); err != nil {
		t.Fatal(err)
	}
	if changed, err := w.Reload(); changed || err != nil {
		t.Fatalf("Reload of identical content = %v, %v", changed, err)
	}

	// Rotation: the swap is detected by checksum.
	b2 := bundleFromManifests(t, "testdata/basic.yaml")
	b2.Keys["groq"] = keys.NewSecret("gsk-rotated")
	d2 := render(t, b2)
	if err := kubeletdir.WriteKubeletDir(dir, d2); err != nil {
		t.Fatal(err)
	}
	if changed, err := w.Reload(); !changed || err != nil {
		t.Fatalf("Reload after rotation = %v, %v", changed, err)
	}
	if k, _ := w.Current().Key("groq"); !k.Equal(keys.NewSecret("gsk-rotated")) {
		t.Errorf("current key is not the rotated one")
	}

	// Invalid swaps keep the last good bundle, report the error, and do not call onChange.
	for _, tc := range []struct {
		name    string
		data    map[string][]byte
		wantErr error
	}{
		{"unknown schema version", func() map[string][]byte {
			d := maps.Clone(d2)
			d[routerconfig.ConfigFile] = bytes.Replace(d[routerconfig.ConfigFile], []byte("router-config/v1"), []byte("router-config/v2"), 1)
			return d
		}(), routerconfig.ErrUnknownSchemaVersion},
		{"key does not match fingerprint", func() map[string][]byte {
			d := maps.Clone(d2)
			d["key.groq"] = []byte("gsk-half-written")
			return d
		}(), routerconfig.ErrFingerprintMismatch},
		{"config.json missing", map[string][]byte{"key.groq": []byte("x")}, routerconfig.ErrInvalidConfig},
	} {
		if err := kubeletdir.WriteKubeletDir(dir, tc.data); err != nil {
			t.Fatal(err)
		}
		changed, err := w.Reload()
		if changed || !errors.Is(err, tc.wantErr) || !errors.Is(w.LastError(), tc.wantErr) {
			t.Errorf("%s: Reload = %v, %v; LastError %v; want %v", tc.name, changed, err, w.LastError(), tc.wantErr)
		}
		if w.Current().Config.Checksum != b2.Config.Checksum {
			t.Errorf("%s: current bundle replaced by an invalid one", tc.name)
		}
	}

	// Back to a valid config: the error clears and the change is reported.
	if err := kubeletdir.WriteKubeletDir(dir, d1); err != nil {
		t.Fatal(err)
	}
	if changed, err := w.Reload(); !changed || err != nil || w.LastError() != nil {
		t.Fatalf("Reload after recovery = %v, %v (LastError %v)", changed, err, w.LastError())
	}
	want := []string{b1.Config.Checksum, b2.Config.Checksum, b1.Config.Checksum}
	if len(got) != len(want) {
		t.Fatalf("onChange calls %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("onChange call %d with %s, want %s", i, got[i], want[i])
		}
	}
}

func TestWatcherRunFollowsSwaps(t *testing.T) {
	for _, fsn := range []bool{true, false} {
		name := "polling"
		if fsn {
			name = "fsnotify"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			b1 := bundleFromManifests(t, "testdata/basic.yaml")
			if err := kubeletdir.WriteKubeletDir(dir, render(t, b1)); err != nil {
				t.Fatal(err)
			}
			var (
				mu   sync.Mutex
				seen []string
			)
			// With fsnotify on, a long interval shows that events (not the ticker) drive the reload.
			interval := 20 * time.Millisecond
			if fsn {
				interval = time.Hour
			}
			var errs sync.Map
			w := routerconfig.NewWatcher(dir, func(b *routerconfig.Bundle) {
				mu.Lock()
				defer mu.Unlock()
				seen = append(seen, b.Config.Checksum)
			}, routerconfig.WithInterval(interval), routerconfig.WithFSNotify(fsn),
				routerconfig.WithErrorHandler(func(err error) { errs.Store(err.Error(), true) }))
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run: %v", err)
				}
			}()
			eventually(t, "the initial load", func() bool { return w.Current() != nil })

			// A bad swap: rejected, the old bundle stays.
			bad := render(t, b1)
			bad[routerconfig.ConfigFile] = bytes.Replace(bad[routerconfig.ConfigFile], []byte("router-config/v1"), []byte("router-config/v9"), 1)
			if err := kubeletdir.WriteKubeletDir(dir, bad); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the unknown version to be rejected", func() bool {
				return errors.Is(w.LastError(), routerconfig.ErrUnknownSchemaVersion)
			})
			if w.Current().Config.Checksum != b1.Config.Checksum {
				t.Fatalf("bad swap replaced the current bundle")
			}

			b2 := bundleFromManifests(t, "testdata/basic.yaml")
			b2.Keys["anthropic"] = keys.NewSecret("sk-ant-rotated")
			if err := kubeletdir.WriteKubeletDir(dir, render(t, b2)); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the rotated bundle", func() bool {
				c := w.Current()
				return c != nil && c.Config.Checksum == b2.Config.Checksum && w.LastError() == nil
			})
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != 2 || seen[0] != b1.Config.Checksum || seen[1] != b2.Config.Checksum {
				t.Errorf("onChange saw %v, want [%s %s]", seen, b1.Config.Checksum, b2.Config.Checksum)
			}
		})
	}
}
