// Command devcluster runs a local Kubernetes control plane without Docker or a kubelet: etcd and kube-apiserver
// (built from the Go module proxy by hack/k8s-binaries.sh) started through envtest, which knows how to configure
// their certificates and flags, with llmroute's CRDs installed. It writes an admin kubeconfig and runs until
// SIGINT/SIGTERM. `make dev-up` starts it; pods never run (there is no kubelet), but every API object does.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

func main() {
	var assets, crds, kubeconfig string
	flag.StringVar(&assets, "assets", os.Getenv("KUBEBUILDER_ASSETS"), "directory with kube-apiserver and etcd")
	flag.StringVar(&crds, "crds", "config/crd/bases", "directory of CRDs to install")
	flag.StringVar(&kubeconfig, "kubeconfig-out", ".dev/kubeconfig", "where to write the admin kubeconfig")
	flag.Parse()
	if err := run(assets, crds, kubeconfig); err != nil {
		fmt.Fprintln(os.Stderr, "devcluster:", err)
		os.Exit(1)
	}
}

func run(assets, crds, kubeconfig string) error {
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{crds},
		ErrorIfCRDPathMissing: true,
	}
	if _, err := env.Start(); err != nil {
		return fmt.Errorf("start control plane: %w", err)
	}
	defer func() { _ = env.Stop() }()
	user, err := env.AddUser(envtest.User{Name: "dev-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("add admin user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(kubeconfig), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return err
	}
	fmt.Printf("devcluster: API server at %s, kubeconfig %s\n", env.Config.Host, kubeconfig)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	fmt.Println("devcluster: stopping")
	return nil
}
