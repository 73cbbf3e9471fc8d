package serve

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Sibling finds the executable called name in the directory of the running binary (symlinks resolved), as
// `llmroute serve` looks for llmroute-router and llmroute-router for the llmroute that compiles its manifests.
// It returns self, the running binary's resolved path, and sibling, "" when there is no such executable (or
// the running binary cannot be located, as under some `go run`s). err is set only when the file exists but
// cannot be inspected, so the caller can tell a broken install from an absent one.
func Sibling(name string) (self, sibling string, err error) {
	self, err = os.Executable()
	if err != nil {
		return "", "", nil
	}
	return siblingOf(self, name)
}

// siblingOf is Sibling for the binary at self.
func siblingOf(self, name string) (string, string, error) {
	if resolved, err := filepath.EvalSymlinks(self); err == nil {
		self = resolved
	}
	path := filepath.Join(filepath.Dir(self), name)
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return self, "", nil
	case err != nil:
		return self, "", fmt.Errorf("%s: %w", path, err)
	case fi.IsDir() || fi.Mode()&0o111 == 0:
		return self, "", nil
	}
	return self, path, nil
}
