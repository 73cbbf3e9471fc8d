package keys

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ErrDotEnvSyntax is wrapped by errors about a malformed .env line. Such errors give the file and line number
// only: the line may well be a key pasted without a name.
var ErrDotEnvSyntax = errors.New("invalid .env syntax")

// DotEnv reads KEY=VALUE pairs from a .env file. It re-reads the file whenever its identity, modification time
// or size changes, so a key rotated by rewriting or atomically replacing the file applies to the next request.
// A missing file has no keys. It is safe for concurrent use and prints as its path only.
//
// Syntax: one assignment per line; blank lines and lines starting with # are ignored; an optional "export "
// prefix; the value may be in single quotes (taken literally) or double quotes (with \n, \", \\ escapes);
// an unquoted value ends at " #", which starts a comment.
type DotEnv struct {
	path string

	mu    sync.Mutex
	info  os.FileInfo // of the parsed file; nil before the first read or when the file is missing
	mod   time.Time
	size  int64
	vals  map[string]Secret
	parse error // the parse error of the current file, returned until it changes
}

// NewDotEnv returns a DotEnv over path. The file is first read on the first Lookup.
func NewDotEnv(path string) *DotEnv { return &DotEnv{path: path} }

// Path returns the file's path.
func (d *DotEnv) Path() string { return d.path }

// Lookup returns the value of name in the file as it is now.
func (d *DotEnv) Lookup(name string) (Secret, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.refresh(); err != nil {
		return Secret{}, false, err
	}
	s, ok := d.vals[name]
	return s, ok, nil
}

func (d *DotEnv) refresh() error {
	fi, err := os.Stat(d.path)
	if errors.Is(err, fs.ErrNotExist) {
		d.info, d.vals, d.parse = nil, nil, nil
		return nil
	}
	if err != nil {
		return fmt.Errorf("read .env: %w", err)
	}
	if d.info != nil && os.SameFile(d.info, fi) && fi.ModTime().Equal(d.mod) && fi.Size() == d.size {
		return d.parse
	}
	data, err := os.ReadFile(d.path)
	if err != nil {
		return fmt.Errorf("read .env: %w", err)
	}
	d.info, d.mod, d.size = fi, fi.ModTime(), fi.Size()
	d.vals, d.parse = parseDotEnv(filepath.Base(d.path), data)
	if d.parse != nil {
		// No partial result: a half-parsed file could hand out a key from the wrong line.
		d.vals = nil
	}
	return d.parse
}

// Format prints the path only.
func (d *DotEnv) Format(f fmt.State, _ rune) { _, _ = fmt.Fprintf(f, "DotEnv(%s)", d.path) }

// LogValue implements slog.LogValuer with the path only.
func (d *DotEnv) LogValue() slog.Value { return slog.StringValue(fmt.Sprint(d)) }

func parseDotEnv(file string, data []byte) (map[string]Secret, error) {
	vals := map[string]Secret{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: missing '=': %w", file, n, ErrDotEnvSyntax)
		}
		name = strings.TrimSpace(name)
		if !validEnvName(name) {
			return nil, fmt.Errorf("%s:%d: invalid variable name: %w", file, n, ErrDotEnvSyntax)
		}
		v, err := parseValue(strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w: %w", file, n, err, ErrDotEnvSyntax)
		}
		vals[name] = NewSecret(v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", file, n+1, err)
	}
	return vals, nil
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case (c >= '0' && c <= '9') || c == '.':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// parseValue returns errors that describe the problem, never the value.
func parseValue(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	switch q := v[0]; q {
	case '\'':
		end := strings.IndexByte(v[1:], '\'')
		if end < 0 {
			return "", errors.New("unterminated single quote")
		}
		return v[1 : 1+end], trailing(v[2+end:])
	case '"':
		var b strings.Builder
		for i := 1; i < len(v); i++ {
			c := v[i]
			switch {
			case c == '\\' && i+1 < len(v):
				i++
				switch v[i] {
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				default:
					b.WriteByte(v[i])
				}
			case c == '"':
				return b.String(), trailing(v[i+1:])
			default:
				b.WriteByte(c)
			}
		}
		return "", errors.New("unterminated double quote")
	}
	if i := strings.Index(v, " #"); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v), nil
}

// trailing allows only whitespace and a comment after a closing quote.
func trailing(rest string) error {
	rest = strings.TrimSpace(rest)
	if rest == "" || strings.HasPrefix(rest, "#") {
		return nil
	}
	return errors.New("unexpected text after closing quote")
}
