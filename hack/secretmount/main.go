// Command secretmount stands in for the kubelet where no kubelet runs (the dev cluster and the e2e suite): it
// watches one Secret and keeps a directory laid out exactly as the kubelet mounts a Secret volume, with the same
// atomic `..data` symlink swap, so the router's config watcher sees what it would see in a pod.
//
// The real kubelet refreshes mounted Secrets on its sync period plus cache TTL (up to about a minute by
// default); this tool refreshes every --interval, so measured propagation times exclude that delay.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/llmroute/llmroute/internal/routerconfig"
	"github.com/llmroute/llmroute/internal/routerconfig/kubeletdir"
)

func main() {
	var (
		kubeconfig, namespace, name, dir string
		interval                         time.Duration
	)
	flag.StringVar(&kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the API server")
	flag.StringVar(&namespace, "namespace", "default", "namespace of the Secret")
	flag.StringVar(&name, "name", routerconfig.ConfigSecretName, "name of the Secret")
	flag.StringVar(&dir, "dir", "", "directory to keep in the kubelet's Secret volume layout")
	flag.DurationVar(&interval, "interval", 200*time.Millisecond, "how often to read the Secret")
	flag.Parse()
	if dir == "" {
		fmt.Fprintln(os.Stderr, "secretmount: --dir is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, kubeconfig, namespace, name, dir, interval); err != nil {
		fmt.Fprintln(os.Stderr, "secretmount:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, kubeconfig, namespace, name, dir string, interval time.Duration) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	lastRV := ""
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		s, err := cs.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			// Like a pod whose optional Secret volume does not exist yet: nothing to mount until it does.
		case err != nil:
			// Only the API error is printed; it never holds the Secret's data.
			fmt.Fprintf(os.Stderr, "secretmount: get %s/%s: %v\n", namespace, name, err)
		case s.ResourceVersion != lastRV:
			if err := kubeletdir.WriteKubeletDir(dir, s.Data); err != nil {
				return fmt.Errorf("write %s: %w", dir, err)
			}
			lastRV = s.ResourceVersion
			fmt.Fprintf(os.Stderr, "secretmount: %s/%s resourceVersion %s written to %s\n", namespace, name, lastRV, dir)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
