// Command operator runs llmroute's controllers: it compiles RoutePolicies and ProviderKeys into each namespace's
// llmroute-config Secret and aggregates router health into RoutePolicy status.
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/controller"
	"github.com/llmroute/llmroute/internal/webhook"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "operator:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		metricsAddr, probeAddr, leaderNS string
		leaderElect                      bool
		pollInterval, staleAfter         time.Duration
		adminPort                        int
		staticRouters                    stringList
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "address of the metrics endpoint (0 disables it)")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	flag.BoolVar(&leaderElect, "leader-elect", false, "elect a leader, so that only one replica reconciles and polls routers")
	flag.StringVar(&leaderNS, "leader-election-namespace", "", "namespace of the leader election Lease (default: the pod's namespace)")
	flag.DurationVar(&pollInterval, "poll-interval", controller.DefaultPollInterval, "how often the leader polls each router's state endpoint")
	flag.DurationVar(&staleAfter, "stale-after", controller.DefaultStaleAfter, "age after which a router's report no longer counts (targets turn Unknown)")
	flag.IntVar(&adminPort, "router-admin-port", controller.DefaultAdminPort, "router ops port serving /v1/state (a pod annotation "+controller.AnnotationAdminPort+" overrides it)")
	flag.Var(&staticRouters, "static-router", "address (host:port) of a router's ops port to poll besides injected pods, for routers that run outside pods (dev-up, e2e); repeatable")
	var webhookCfg webhook.Config
	webhookCfg.BindFlags(flag.CommandLine)
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	// One flag for both ends: the port the sidecar serves on and the port the health poller expects.
	webhookCfg.Injection.AdminPort = int32(adminPort)
	if err := webhookCfg.Complete(); err != nil {
		return fmt.Errorf("webhook flags: %w", err)
	}
	// Built before the manager: the webhook server, with its certificate source, is part of the manager's options.
	hook := webhook.New(webhookCfg)

	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	logger := ctrl.Log.WithName("setup")

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return fmt.Errorf("register core types: %w", err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return fmt.Errorf("register llmroute types: %w", err)
	}

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:  probeAddr,
		LeaderElection:          leaderElect,
		LeaderElectionID:        "llmroute-operator.llmroute.dev",
		LeaderElectionNamespace: leaderNS,
		// Hand leadership over at once on shutdown instead of making the next leader wait out the lease.
		LeaderElectionReleaseOnCancel: true,
		Cache:                         controller.CacheOptions(),
		Client:                        controller.ClientOptions(),
		WebhookServer:                 hook.Server(),
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	ctx := ctrl.SetupSignalHandler()
	if _, err := controller.Setup(ctx, mgr, controller.Options{
		PollInterval:  pollInterval,
		StaleAfter:    staleAfter,
		AdminPort:     adminPort,
		StaticRouters: staticRouters,
	}); err != nil {
		return err
	}
	if err := hook.Setup(mgr); err != nil {
		return fmt.Errorf("set up sidecar-injection webhook: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("add healthz: %w", err)
	}
	// Ready once the informers have synced: before that, reconciles would act on an empty cache.
	if err := mgr.AddReadyzCheck("readyz", func(req *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(req.Context()) {
			return fmt.Errorf("informer caches not synced")
		}
		return nil
	}); err != nil {
		return fmt.Errorf("add readyz: %w", err)
	}
	logger.Info("starting operator", "leaderElect", leaderElect, "pollInterval", pollInterval.String(),
		"routerAdminPort", adminPort)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("run manager: %w", err)
	}
	return nil
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
