package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/llmroute/llmroute/internal/catalog"
	"github.com/llmroute/llmroute/internal/keys"
	"github.com/llmroute/llmroute/internal/manifests"
	"github.com/llmroute/llmroute/internal/router"
	"github.com/llmroute/llmroute/internal/routerconfig"
)

func init() {
	commands["check"] = func(args []string) int {
		if err := check(args, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "llmroute check:", err)
			return 1
		}
		return 0
	}
}

// check validates a config the way serve would load it: manifests against the CRD schema and CEL rules (with
// the API server's messages), then the compile step (key references, providers, prices). Every problem is
// printed, one per line.
func check(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "manifests (file or directory) or a compiled config directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *configPath == "" {
		return errors.New("--config is required")
	}
	var (
		b      *routerconfig.Bundle
		detail *manifests.Manifests
		err    error
	)
	if routerconfig.IsConfigDir(*configPath) {
		b, err = manifests.Load(*configPath)
	} else if detail, err = manifests.LoadDetail(*configPath); err == nil {
		b = detail.Bundle
	}
	if err != nil {
		printProblems(stdout, err)
		return errors.New("config is invalid")
	}
	if _, err := router.NewSnapshot(b, catalog.Default()); err != nil {
		printProblems(stdout, err)
		return errors.New("config does not compile")
	}
	if detail != nil {
		for _, ig := range detail.Ignored {
			fmt.Fprintf(stdout, "note: %s is not used by the router\n", ig)
		}
		for _, name := range detail.MissingSecrets {
			pk, _ := b.ProviderKey(name)
			fmt.Fprintf(stdout, "note: ProviderKey %s has no Secret in the manifests; its key must come from PUT /admin/keys/%s or %s or the --env-file\n",
				name, name, strings.Join(keys.EnvNames(b.Config.Namespace+"/"+name, string(pk.Provider)), ", "))
		}
	}
	fmt.Fprintf(stdout, "ok: %d routes, %d provider keys (namespace %s)\n", len(b.Config.Routes), len(b.Config.ProviderKeys), b.Config.Namespace)
	return nil
}

// printProblems prints each joined error on its own line.
func printProblems(w io.Writer, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.TrimSpace(line) != "" {
			fmt.Fprintln(w, "error:", line)
		}
	}
}
