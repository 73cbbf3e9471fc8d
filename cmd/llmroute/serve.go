package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/llmroute/llmroute/internal/manifests"
	"github.com/llmroute/llmroute/internal/serve"
)

// leanRouterName is the data-plane binary built from cmd/llmroute-router, installed next to llmroute.
const leanRouterName = "llmroute-router"

// compilerEnv tells llmroute-router which llmroute binary compiles standalone manifests for it.
const compilerEnv = "LLMROUTE_COMPILER"

func init() {
	commands["serve"] = func(args []string) int {
		// The router runs for the pod's lifetime, so it runs as the lean binary when one is installed beside
		// this one: same flags, same behaviour, without the manifest validator's code and memory. Standalone
		// manifests are then compiled by a short-lived `llmroute compile` child per change.
		if err := execLeanRouter(args); err != nil {
			fmt.Fprintln(os.Stderr, "llmroute serve:", err)
			return 1
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		if err := serve.Run(ctx, args, os.Stdout, os.Stderr, manifests.Load); err != nil {
			fmt.Fprintln(os.Stderr, "llmroute serve:", err)
			return 1
		}
		return 0
	}
}

// execLeanRouter replaces this process with llmroute-router from this binary's directory. It returns nil
// without doing anything when there is no such binary (`go run`, a bare `go install ./cmd/llmroute`), and
// an error only when the binary exists but cannot be started.
func execLeanRouter(args []string) error {
	self, lean, err := serve.Sibling(leanRouterName)
	if err != nil || lean == "" {
		return err
	}
	env := append(os.Environ(), compilerEnv+"="+self)
	if err := syscall.Exec(lean, append([]string{lean}, args...), env); err != nil {
		return fmt.Errorf("start %s: %w", lean, err)
	}
	return nil // not reached: Exec does not return on success
}
