// Command llmroute-router is the router's data plane alone: `llmroute serve` with the same flags, built
// without the manifest validator (CRD schemas, CEL), which would otherwise stay resident for the pod's
// lifetime. A compiled config directory, the operator's sidecar case, is read directly; standalone manifests
// are compiled by a short-lived `llmroute compile` child, found through $LLMROUTE_COMPILER (set by `llmroute
// serve`, which execs this binary when it is installed beside it), next to this binary, or on $PATH.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/llmroute/llmroute/internal/router"
	"github.com/llmroute/llmroute/internal/serve"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "serve" { // accept `llmroute-router serve ...` as `llmroute serve ...`
		args = args[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := serve.Run(ctx, args, os.Stdout, os.Stderr, router.ChildCompiler(compiler()))
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "llmroute serve:", err)
		os.Exit(1)
	}
}

// compiler finds the llmroute binary that compiles manifests, or "" when there is none.
func compiler() string {
	if c := os.Getenv("LLMROUTE_COMPILER"); c != "" {
		return c
	}
	if _, c, _ := serve.Sibling("llmroute"); c != "" {
		return c
	}
	if c, err := exec.LookPath("llmroute"); err == nil {
		return c
	}
	return ""
}
