package routerconfig

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// IsConfigDir reports whether path is a compiled config directory (one holding ConfigFile) rather than
// Kubernetes manifests.
func IsConfigDir(path string) bool {
	fi, err := os.Stat(filepath.Join(path, ConfigFile))
	return err == nil && !fi.IsDir()
}

// ManifestFiles lists the files path stands for: itself, or the YAML and JSON files directly in it (dotfiles
// skipped, so the kubelet's ..data entries and editors' swap files are never read), sorted.
func ManifestFiles(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("read config dir: %w", err)
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || e.IsDir() {
			continue
		}
		switch strings.ToLower(filepath.Ext(name)) {
		case ".yaml", ".yml", ".json":
			files = append(files, filepath.Join(path, name))
		}
	}
	slices.Sort(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("read config dir %s: no .yaml, .yml or .json files and no %s", path, ConfigFile)
	}
	return files, nil
}

// Fingerprint hashes the content of the files path stands for (or of the compiled config directory's
// payload), so a watcher can tell whether anything changed without parsing. It reads file content rather
// than trusting modification times, which editors and ConfigMap volumes do not always move.
func Fingerprint(path string) (string, error) {
	var files []string
	if IsConfigDir(path) {
		entries, err := os.ReadDir(path)
		if err != nil {
			return "", fmt.Errorf("read config dir: %w", err)
		}
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), ".") {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
		slices.Sort(files)
	} else {
		var err error
		if files, err = ManifestFiles(path); err != nil {
			return "", err
		}
	}
	h := sha256.New()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("read %s: %w", f, err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(f), len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
