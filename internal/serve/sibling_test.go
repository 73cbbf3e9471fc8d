package serve

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSiblingOf(t *testing.T) {
	bin := t.TempDir()
	self := filepath.Join(bin, "llmroute")
	write := func(path string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(self, 0o755)
	write(filepath.Join(bin, "router"), 0o755)
	write(filepath.Join(bin, "notes"), 0o644)
	if err := os.Mkdir(filepath.Join(bin, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Called through a symlink elsewhere, as /usr/local/bin/llmroute -> /opt/llmroute/bin/llmroute: the
	// sibling is looked for beside the real binary.
	link := filepath.Join(t.TempDir(), "llmroute")
	if err := os.Symlink(self, link); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ name, want string }{
		{"router", filepath.Join(bin, "router")},
		{"absent", ""},
		{"notes", ""}, // not executable
		{"dir", ""},
	} {
		gotSelf, got, err := siblingOf(link, tc.name)
		if err != nil || got != tc.want || gotSelf != self {
			t.Errorf("siblingOf(%q): self %q, sibling %q, err %v; want self %q, sibling %q", tc.name, gotSelf, got, err, self, tc.want)
		}
	}

	// A sibling that exists but cannot be inspected is a broken install, reported rather than skipped.
	locked := filepath.Join(bin, "locked")
	if err := os.Mkdir(locked, 0o755); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(locked, "llmroute"), 0o755)
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(locked, 0o755) })
	if os.Geteuid() == 0 {
		return // root stats through a mode-0 directory
	}
	if _, got, err := siblingOf(filepath.Join(locked, "llmroute"), "router"); err == nil {
		t.Errorf("sibling in an unreadable directory: got %q and no error", got)
	}
}
