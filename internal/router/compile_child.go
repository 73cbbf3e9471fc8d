package router

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/llmroute/llmroute/internal/routerconfig"
)

// ChildCompileTimeout bounds one `llmroute compile` run of a ChildCompiler.
const ChildCompileTimeout = 30 * time.Second

// ErrNoCompiler is returned by a ChildCompiler that was given no llmroute binary.
var ErrNoCompiler = errors.New("standalone manifests need the llmroute binary to validate them, and none was found")

// ChildCompiler compiles manifests by running `exe compile --config PATH`, a short-lived process of the full
// llmroute binary, and reading the bundle from its stdout pipe. The lean router binary uses it so that its own
// process never loads the CRD schemas and CEL programs that validation needs (about 10 MB of resident memory
// for the lifetime of the router); a compile costs one process start per config change, not per request. The
// error is the child's own message (the API server's wording for a manifest mistake), which never quotes a key.
func ChildCompiler(exe string) ManifestCompiler {
	return func(path string) (*routerconfig.Bundle, error) {
		if exe == "" {
			return nil, ErrNoCompiler
		}
		ctx, cancel := context.WithTimeout(context.Background(), ChildCompileTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, exe, "compile", "--config", path)
		var stdout bytes.Buffer
		stderr := &cappedBuffer{max: 64 << 10}
		cmd.Stdout, cmd.Stderr = &stdout, stderr
		err := cmd.Run()
		if err != nil {
			msg := strings.TrimSpace(stderr.String())
			msg = strings.TrimPrefix(msg, "llmroute compile: ")
			if ctx.Err() != nil {
				return nil, fmt.Errorf("compile %s: %s did not finish within %s", path, exe, ChildCompileTimeout)
			}
			if msg == "" {
				return nil, fmt.Errorf("compile %s: %s: %w", path, exe, err)
			}
			return nil, errors.New(msg)
		}
		b, err := routerconfig.DecodeBundle(&stdout)
		clear(stdout.Bytes()) // the buffer held key material
		if err != nil {
			return nil, fmt.Errorf("compile %s: %s wrote an unreadable bundle: %w", path, exe, err)
		}
		return b, nil
	}
}

// cappedBuffer keeps the first max bytes written to it and drops the rest, so a runaway child cannot grow the
// router's memory through its stderr.
type cappedBuffer struct {
	buf bytes.Buffer
	max int
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *cappedBuffer) String() string { return c.buf.String() }
