// Package testenv starts a real kube-apiserver and etcd (envtest) with llmroute's CRDs for tests, and gives a
// kubeconfig so the real kubectl can talk to it.
//
// The binaries come from hack/k8s-binaries.sh, which builds them from the Go module proxy once per machine
// (setup-envtest cannot download here). KUBEBUILDER_ASSETS, when set, wins.
package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	llmroutev1alpha1 "github.com/llmroute/llmroute/api/v1alpha1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
)

// Env is a running API server with the CRDs installed.
type Env struct {
	Config     *rest.Config
	Client     client.Client
	Scheme     *k8sruntime.Scheme
	Kubeconfig string // path of a kubeconfig file with cluster-admin rights
	env        *envtest.Environment
}

var assetsOnce struct {
	sync.Once
	dir string
	err error
}

// RepoRoot is the repository's top directory, found from this source file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Assets returns the directory holding kube-apiserver and etcd, building them if needed.
func Assets() (string, error) {
	assetsOnce.Do(func() {
		if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
			assetsOnce.dir = d
			return
		}
		cmd := exec.Command(filepath.Join(RepoRoot(), "hack", "k8s-binaries.sh"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			assetsOnce.err = fmt.Errorf("build kube-apiserver and etcd with hack/k8s-binaries.sh: %w: %s", err, stderr.String())
			return
		}
		assetsOnce.dir = strings.TrimSpace(string(out))
	})
	return assetsOnce.dir, assetsOnce.err
}

// Start starts an API server for the test and stops it when the test ends.
func Start(t testing.TB) *Env {
	t.Helper()
	assets, err := Assets()
	if err != nil {
		t.Fatalf("envtest binaries: %v", err)
	}
	scheme := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := llmroutev1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("stop envtest: %v", err)
		}
	})
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	user, err := env.AddUser(envtest.User{Name: "test-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatalf("add envtest user: %v", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return &Env{Config: cfg, Client: c, Scheme: scheme, Kubeconfig: path, env: env}
}

// Kubectl runs the real kubectl against the test API server and returns stdout, stderr and the error.
func (e *Env) Kubectl(t testing.TB, stdin []byte, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", e.Kubeconfig}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// GVR of the llmroute kinds, for dynamic clients.
var (
	RoutePolicies = schema.GroupVersionResource{Group: "llmroute.dev", Version: "v1alpha1", Resource: "routepolicies"}
	ProviderKeys  = schema.GroupVersionResource{Group: "llmroute.dev", Version: "v1alpha1", Resource: "providerkeys"}
)
