// Package serve is the command line of the router's data plane, shared by `llmroute serve` and the lean
// llmroute-router binary so that both take the same flags and behave the same.
package serve

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/llmroute/llmroute/internal/keys"
	"github.com/llmroute/llmroute/internal/router"
)

// Run parses the flags of `llmroute serve` from args and runs the router until ctx ends (SIGTERM), then drains
// requests in flight within --shutdown-timeout. Decision events go to stdout as JSON lines (or
// --decision-log), logs to stderr. compile turns standalone manifests into a bundle (see
// router.ManifestCompiler); a compiled config directory does not need it.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, compile router.ManifestCompiler) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "RoutePolicy/ProviderKey/Secret manifests (file or directory), or a compiled config directory holding config.json")
	listen := fs.String("listen", "127.0.0.1:8080", "address of the OpenAI-compatible API")
	adminListen := fs.String("admin-listen", "127.0.0.1:9901", "address of the ops endpoints plus the key admin API and /debug; keep it on loopback")
	opsListen := fs.String("ops-listen", "", "optional address serving only /healthz, /readyz, /metrics and /v1/state (for a cluster-reachable port)")
	envFile := fs.String("env-file", "", "a .env file keys may come from (re-read when it changes)")
	decisionLog := fs.String("decision-log", "", "write decision events as JSON lines to this file instead of stdout")
	shutdownTimeout := fs.Duration("shutdown-timeout", 30*time.Second, "how long SIGTERM waits for requests and streams in flight")
	reloadInterval := fs.Duration("reload-interval", router.DefaultReloadInterval, "how often the config is checked for changes")
	maxBody := fs.Int64("max-body-bytes", router.DefaultMaxBodyBytes, "largest accepted request body")
	name := fs.String("name", os.Getenv("HOSTNAME"), "router name reported on /v1/state")
	maxInFlight := fs.Int("max-in-flight", router.DefaultMaxInFlight, "client requests served at once (streams included); more get 503 router_overloaded; 0 for no limit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *configPath == "" {
		return errors.New("--config is required")
	}
	if host, _, err := net.SplitHostPort(*adminListen); err == nil {
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			// Key endpoints still refuse non-loopback peers, but say it loudly: this is rarely intended.
			fmt.Fprintf(stderr, "warning: --admin-listen %s is not a loopback address; key endpoints accept loopback clients only\n", *adminListen)
		}
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	decisions := stdout
	if *decisionLog != "" {
		f, err := os.OpenFile(*decisionLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("open decision log: %w", err)
		}
		defer func() { _ = f.Close() }()
		decisions = f
	}
	opts := router.ServerOptions{Logger: log, DecisionLog: decisions, MaxBodyBytes: *maxBody, Router: *name,
		MaxInFlight: *maxInFlight}
	if *maxInFlight <= 0 {
		opts.MaxInFlight = -1 // the flag's 0 means no limit; the option's 0 means the default
	}
	if *envFile != "" {
		opts.DotEnv = keys.NewDotEnv(*envFile)
	}
	srv := router.NewServer(opts)
	defer srv.Close() // writes the decision events still queued, after the drain below and before the file closes
	rl := router.NewReloader(*configPath, srv, *reloadInterval, compile)
	// Refuse to start without a valid config: a router that answers 503 to everything is worse than one that
	// fails its rollout.
	if _, err := rl.Reload(); err != nil {
		return fmt.Errorf("initial config: %w", err)
	}
	if srv.Snapshot() == nil {
		return fmt.Errorf("initial config from %s did not load", *configPath)
	}
	run, err := srv.Start(router.ListenOptions{API: *listen, Admin: *adminListen, Ops: *opsListen})
	if err != nil {
		return err
	}
	log.Info("llmroute serving", "api", run.APIAddr, "admin", run.AdminAddr, "ops", run.OpsAddr, "config", *configPath)

	reloadCtx, stopReload := context.WithCancel(context.Background())
	reloadDone := make(chan struct{})
	go func() { defer close(reloadDone); _ = rl.Run(reloadCtx) }()
	defer func() { stopReload(); <-reloadDone }()

	select {
	case <-ctx.Done():
	case <-run.Done():
		return fmt.Errorf("listener stopped: %w", run.Err())
	}
	log.Info("shutting down: draining requests in flight", "timeout", shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	if err := run.Shutdown(sctx); err != nil {
		// The remaining connections were closed; their clients saw an error. Still a clean exit: SIGTERM asked.
		log.Warn("drain did not finish in time; closed remaining connections", "error", err.Error())
	}
	log.Info("stopped")
	return nil
}
