package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/llmroute/llmroute/internal/manifests"
	"github.com/llmroute/llmroute/internal/routerconfig"
)

func init() {
	commands["compile"] = func(args []string) int {
		if err := compileCmd(args, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "llmroute compile:", err)
			return 1
		}
		return 0
	}
}

// compileCmd validates and compiles the config at --config exactly as `llmroute serve` loads it, and writes
// the bundle, keys included, to stdout for the process that started it (llmroute-router reads it from a
// pipe). It refuses to write to a terminal, where the keys would be shown.
func compileCmd(args []string, stdout io.Writer, stderr io.Writer) error {
	fs := flag.NewFlagSet("compile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "manifests (file or directory) or a compiled config directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *configPath == "" {
		return errors.New("--config is required")
	}
	if f, ok := stdout.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return errors.New("stdout is a terminal; the output holds API keys and is meant for a pipe (use `llmroute check` to validate)")
		}
	}
	b, err := manifests.Load(*configPath)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	if err := routerconfig.EncodeBundle(w, b); err != nil {
		return err
	}
	return w.Flush()
}
