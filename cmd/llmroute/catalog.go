package main

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/llmroute/llmroute/internal/catalog"
)

func init() {
	commands["catalog"] = func([]string) int { return runCatalog(os.Stdout) }
}

// runCatalog lists the embedded model catalog with its provenance, so a price shown anywhere can be traced.
func runCatalog(w io.Writer) int {
	c := catalog.Default()
	src := c.Source()
	fmt.Fprintf(w, "source: %s commit %s snapshot %s (license %s); prices in USD per million tokens\n",
		src.Repository, src.Commit, src.SnapshotDate, src.License)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROVIDER\tMODEL\tINPUT\tOUTPUT\tCACHE_READ\tCONTEXT\tMAX_OUTPUT\tSTATUS")
	for _, m := range c.Models() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Provider, m.Model, price(m.Price.Input), price(m.Price.Output),
			price(m.Price.CacheRead), count(m.ContextTokens), count(m.MaxOutputTokens), m.Status)
	}
	if err := tw.Flush(); err != nil {
		return 1
	}
	return 0
}

func price(p *float64) string {
	if p == nil {
		return "unknown"
	}
	return fmt.Sprintf("%g", *p)
}

func count(n int) string {
	if n == 0 {
		return "unknown"
	}
	return fmt.Sprint(n)
}
