// Command llmroute is the router: serve the OpenAI-compatible API, check a config, simulate routing against fake
// providers, list the model catalog, and explain a decision.
package main

import (
	"fmt"
	"os"
	"sort"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// commands holds every subcommand by name. Each command registers itself from its own file's init, so that
// adding one never touches this file.
var commands = map[string]func(args []string) int{}

func init() {
	commands["version"] = func([]string) int {
		fmt.Println("llmroute", version)
		return 0
	}
}

func usage() {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(os.Stderr, "usage: llmroute <command> [flags]")
	fmt.Fprintln(os.Stderr, "commands:")
	for _, n := range names {
		fmt.Fprintln(os.Stderr, "  "+n)
	}
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		os.Exit(2)
	}
	run, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "llmroute: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	os.Exit(run(os.Args[2:]))
}
