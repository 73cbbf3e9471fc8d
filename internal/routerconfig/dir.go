package routerconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// dataDirName is the kubelet's symlink to the current payload of a mounted Secret volume.
const dataDirName = "..data"

// LoadDir reads and parses a config directory. For a kubelet-mounted Secret it resolves `..data` once and
// reads the files of that payload directory, so a swap during the read cannot mix two versions; if the payload
// vanishes mid-read (the kubelet deletes the old one after a swap) it retries on the new one. A plain
// directory of files (local runs, `llmroute serve --config-dir`) works too. Dotfiles are ignored.
func LoadDir(dir string) (*Bundle, error) {
	data, _, err := readDir(dir)
	if err != nil {
		return nil, err
	}
	b, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	return b, nil
}

// readDir returns the files of dir and the payload directory they came from ("" for a plain directory).
func readDir(dir string) (map[string][]byte, string, error) {
	var lastErr error
	for range 3 {
		payload, err := os.Readlink(filepath.Join(dir, dataDirName))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			data, err := readFiles(dir)
			if err != nil {
				return nil, "", fmt.Errorf("load %s: %w", dir, err)
			}
			return data, "", nil
		case err != nil:
			return nil, "", fmt.Errorf("load %s: resolve %s: %w", dir, dataDirName, err)
		}
		if !filepath.IsAbs(payload) {
			payload = filepath.Join(dir, payload)
		}
		data, err := readFiles(payload)
		if err == nil {
			return data, payload, nil
		}
		lastErr = err
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	return nil, "", fmt.Errorf("load %s: %w", dir, lastErr)
}

func readFiles(dir string) (map[string][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	data := make(map[string][]byte, len(entries))
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		// Stat follows symlinks: in a plain directory a file may itself be a link.
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		if st.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		data[name] = b
	}
	return data, nil
}
