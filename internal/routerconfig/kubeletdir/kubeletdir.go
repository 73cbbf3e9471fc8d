// Package kubeletdir writes a directory exactly as the kubelet lays out a mounted Secret or ConfigMap, so tests
// of the router, the config watcher and the operator's end-to-end suite exercise the real update sequence.
//
// The kubelet's AtomicWriter (k8s.io/kubernetes/pkg/volume/util/atomic_writer.go) keeps the payload in a
// timestamped directory `..2026_11_25_10_00_00.123456789`, points the symlink `..data` at it, and exposes each
// file as a symlink `name -> ..data/name`. An update writes a new timestamped directory, creates `..data_tmp`
// pointing at it, renames `..data_tmp` over `..data` (the one atomic step), adds symlinks for new names, removes
// symlinks for vanished ones, and deletes the old timestamped directory.
package kubeletdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const (
	// DataDirName is the symlink that points at the current timestamped payload directory.
	DataDirName = "..data"
	// newDataDirName is the temporary symlink renamed over DataDirName.
	newDataDirName = "..data_tmp"
)

// WriteKubeletDir replaces the payload of dir with data, the way the kubelet updates a Secret volume. Readers
// that resolve `..data` once and read through it see either the old or the new payload, never a mix. Keys
// must be plain file names (Secret keys cannot contain '/').
func WriteKubeletDir(dir string, data map[string][]byte) error {
	for name := range data {
		if name == "" || strings.HasPrefix(name, "..") || strings.ContainsRune(name, os.PathSeparator) {
			return fmt.Errorf("write kubelet dir: invalid file name %q", name)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write kubelet dir: %w", err)
	}
	oldTS, err := os.Readlink(filepath.Join(dir, DataDirName))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("write kubelet dir: read %s: %w", DataDirName, err)
	}
	var oldNames map[string]bool
	if oldTS != "" {
		oldNames, err = names(filepath.Join(dir, oldTS))
		if err != nil {
			return fmt.Errorf("write kubelet dir: list old payload: %w", err)
		}
	}

	// Same naming as the kubelet: "..<UTC timestamp>.<random>" so the dir sorts and is hidden.
	tsDir, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return fmt.Errorf("write kubelet dir: create payload dir: %w", err)
	}
	if err := os.Chmod(tsDir, 0o755); err != nil {
		return fmt.Errorf("write kubelet dir: %w", err)
	}
	for name, content := range data {
		if err := os.WriteFile(filepath.Join(tsDir, name), content, 0o644); err != nil {
			return fmt.Errorf("write kubelet dir: write %s: %w", name, err)
		}
	}
	tsName := filepath.Base(tsDir)
	tmpLink := filepath.Join(dir, newDataDirName)
	_ = os.Remove(tmpLink) // a crashed earlier write may have left it
	if err := os.Symlink(tsName, tmpLink); err != nil {
		return fmt.Errorf("write kubelet dir: create %s: %w", newDataDirName, err)
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, DataDirName)); err != nil {
		return fmt.Errorf("write kubelet dir: swap %s: %w", DataDirName, err)
	}
	for name := range data {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); err == nil {
			continue // already a symlink through ..data: it follows the swap
		}
		if err := os.Symlink(filepath.Join(DataDirName, name), link); err != nil {
			return fmt.Errorf("write kubelet dir: link %s: %w", name, err)
		}
	}
	for name := range oldNames {
		if _, still := data[name]; !still {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("write kubelet dir: unlink %s: %w", name, err)
			}
		}
	}
	if oldTS != "" && oldTS != tsName {
		if err := os.RemoveAll(filepath.Join(dir, oldTS)); err != nil {
			return fmt.Errorf("write kubelet dir: remove old payload: %w", err)
		}
	}
	return nil
}

func names(dir string) (map[string]bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(entries))
	for _, e := range entries {
		out[e.Name()] = true
	}
	return out, nil
}
