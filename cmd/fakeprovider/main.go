// Command fakeprovider serves llmroute's fake LLM providers as a process, for the dev cluster and the e2e suite:
// each --provider flag starts one loopback server speaking that provider's wire format, and a control listener
// lets a person or a test break and heal them at runtime:
//
//	fakeprovider --control 127.0.0.1:18000 --provider deepseek=openai@127.0.0.1:18001 --provider anthropic=anthropic@127.0.0.1:18002
//	curl -X PUT 127.0.0.1:18000/faults/deepseek -d '{"Status":503}'   # break it
//	curl -X PUT 127.0.0.1:18000/faults/deepseek -d '{}'               # heal it
//	curl 127.0.0.1:18000/stats                                        # requests per provider
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/llmroute/llmroute/internal/fakeprovider"
)

type providerFlags []string

func (p *providerFlags) String() string     { return strings.Join(*p, ",") }
func (p *providerFlags) Set(v string) error { *p = append(*p, v); return nil }

func main() {
	var (
		control   string
		providers providerFlags
		key       string
	)
	flag.StringVar(&control, "control", "127.0.0.1:18000", "address of the control API (faults, stats)")
	flag.Var(&providers, "provider", "NAME=WIRE@ADDR, WIRE one of openai, anthropic, gemini, groq (openai under /openai/v1); repeatable")
	flag.StringVar(&key, "key", "", "API key the providers expect (empty: any non-empty key)")
	flag.Parse()
	if err := run(control, providers, key); err != nil {
		fmt.Fprintln(os.Stderr, "fakeprovider:", err)
		os.Exit(1)
	}
}

func run(control string, specs []string, key string) error {
	if len(specs) == 0 {
		return errors.New("at least one --provider NAME=WIRE@ADDR is required")
	}
	servers := map[string]*fakeprovider.Server{}
	var order []string
	for _, spec := range specs {
		name, rest, ok := strings.Cut(spec, "=")
		wire, addr, ok2 := strings.Cut(rest, "@")
		if !ok || !ok2 || name == "" {
			return fmt.Errorf("--provider %q: want NAME=WIRE@ADDR", spec)
		}
		opts := fakeprovider.Options{Provider: wire, Addr: addr, Key: key}
		if wire == "groq" {
			opts.Provider, opts.PathPrefix = fakeprovider.OpenAI, "/openai/v1"
		}
		s, err := fakeprovider.Start(opts)
		if err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		defer s.Close()
		servers[name] = s
		order = append(order, name)
		fmt.Printf("fakeprovider %s (%s) at %s\n", name, wire, s.URL())
	}

	mux := http.NewServeMux()
	mux.HandleFunc("PUT /faults/{name}", func(w http.ResponseWriter, r *http.Request) {
		s, ok := servers[r.PathValue("name")]
		if !ok {
			http.Error(w, "no such provider", http.StatusNotFound)
			return
		}
		var f fakeprovider.Fault
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&f); err != nil {
			http.Error(w, "fault: "+err.Error(), http.StatusBadRequest)
			return
		}
		s.SetFault(f)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		out := map[string]map[string]int64{}
		for _, name := range order {
			s := servers[name]
			out[name] = map[string]int64{"requests": s.Requests(), "calls": s.Calls(), "in_flight": s.InFlight()}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	ln, err := net.Listen("tcp", control)
	if err != nil {
		return fmt.Errorf("control listener: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	fmt.Printf("fakeprovider control at http://%s\n", ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
