package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/llmroute/llmroute/internal/simulate"
)

func init() {
	commands["simulate"] = func(args []string) int { return runSimulate(context.Background(), args, os.Stdout, os.Stderr) }
}

// runSimulate implements `llmroute simulate [--list] [--json] SCENARIO`.
func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	list := fs.Bool("list", false, "list the scenarios")
	jsonOnly := fs.Bool("json", false, "print only the decision events as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *list {
		for _, s := range simulate.Scenarios() {
			fmt.Fprintf(stdout, "%-22s %s\n", s.Name, s.Description)
		}
		return 0
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: llmroute simulate [--json] SCENARIO (or --list)")
		return 2
	}
	if _, err := simulate.Run(ctx, fs.Arg(0), stdout, simulate.Options{JSON: *jsonOnly}); err != nil {
		fmt.Fprintln(stderr, "llmroute simulate:", err)
		return 1
	}
	return 0
}
