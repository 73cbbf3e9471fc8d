package main_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/llmroute/llmroute/internal/manifests"
	"github.com/llmroute/llmroute/internal/router"
)

// TestLeanRouterLinksNoValidator keeps the point of this binary: the CRD validator (apiextensions-apiserver,
// CEL, kube-openapi) must not be linked into the data plane, where its code and init data stay resident.
func TestLeanRouterLinksNoValidator(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"k8s.io/apiextensions-apiserver", "github.com/google/cel-go", "k8s.io/kube-openapi/pkg/validation", "k8s.io/apiserver", "internal/manifests", "k8s.io/client-go"} {
			if strings.Contains(dep, banned) {
				t.Errorf("llmroute-router links %s", dep)
			}
		}
	}
}

// buildBinaries builds llmroute and llmroute-router side by side, as `make build` installs them.
func buildBinaries(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, pkg := range []string{"../llmroute", "."} {
		name := "llmroute-router"
		if pkg != "." {
			name = "llmroute"
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return dir
}

const canary = "sk-llmroute-canary-lean-5c1d9e"

const goodManifest = `apiVersion: v1
kind: Secret
metadata: {name: k}
stringData: {apiKey: ` + canary + `}
---
apiVersion: llmroute.dev/v1alpha1
kind: ProviderKey
metadata: {name: up}
spec: {provider: openai, secretRef: {name: k}, baseURL: "http://127.0.0.1:9", inCluster: true}
---
apiVersion: llmroute.dev/v1alpha1
kind: ProviderKey
metadata: {name: fromenv}
spec: {provider: anthropic, secretRef: {name: absent}}
---
apiVersion: llmroute.dev/v1alpha1
kind: RoutePolicy
metadata: {name: chat}
spec:
  targets:
  - {name: a, provider: openai, model: gpt-4o-mini, keyRef: {name: up}}
  - {name: b, provider: anthropic, model: claude-3-5-haiku-latest, keyRef: {name: fromenv}}
`

// A RoutePolicy without targets: rejected by the CRD schema.
const badManifest = `apiVersion: llmroute.dev/v1alpha1
kind: RoutePolicy
metadata: {name: chat}
spec: {targets: []}
`

func TestChildCompilerMatchesInProcess(t *testing.T) {
	bin := buildBinaries(t)
	compile := router.ChildCompiler(filepath.Join(bin, "llmroute"))
	dir := t.TempDir()
	path := filepath.Join(dir, "llmroute.yaml")
	for _, content := range []string{goodManifest, badManifest} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		want, wantErr := manifests.Load(dir)
		got, gotErr := compile(dir)
		if (wantErr == nil) != (gotErr == nil) {
			t.Fatalf("in-process err %v, child err %v", wantErr, gotErr)
		}
		if wantErr != nil {
			if gotErr.Error() != wantErr.Error() {
				t.Errorf("child error\n%s\nwant the in-process one\n%s", gotErr, wantErr)
			}
			continue
		}
		if !reflect.DeepEqual(got.Config, want.Config) {
			t.Errorf("child config differs:\n%+v\nwant\n%+v", got.Config, want.Config)
		}
		if k, ok := got.Key("up"); !ok || k.Reveal() != canary || len(got.Keys) != len(want.Keys) {
			t.Errorf("child keys: %d, up found %v", len(got.Keys), ok)
		}
	}
	if _, err := router.ChildCompiler("")(dir); !errors.Is(err, router.ErrNoCompiler) {
		t.Errorf("no compiler: %v", err)
	}
	if _, err := router.ChildCompiler(filepath.Join(bin, "missing"))(dir); err == nil || strings.Contains(err.Error(), canary) {
		t.Errorf("missing compiler: %v", err)
	}
}

// TestServeRunsLeanRouter starts `llmroute serve` as users do, with llmroute-router installed beside it, and
// checks that the serving process is the lean binary, that standalone manifests load and reload through the
// compile child, that a bad edit keeps the last good config and reports the validator's message, and that
// SIGTERM stops it cleanly.
func TestServeRunsLeanRouter(t *testing.T) {
	bin := buildBinaries(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "llmroute.yaml")
	if err := os.WriteFile(path, []byte(goodManifest), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "llmroute"), "serve", "--config", dir, "--listen", "127.0.0.1:0",
		"--admin-listen", "127.0.0.1:0", "--reload-interval", "20ms", "--shutdown-timeout", "5s")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	var logs strings.Builder
	lines := bufio.NewScanner(stderr)
	var started struct{ API, Admin string }
	for lines.Scan() {
		logs.WriteString(lines.Text() + "\n")
		var rec struct {
			Msg, API, Admin string
		}
		if json.Unmarshal(lines.Bytes(), &rec) == nil && rec.Msg == "llmroute serving" {
			started.API, started.Admin = rec.API, rec.Admin
			break
		}
	}
	if started.API == "" {
		t.Fatalf("router did not start:\n%s", logs.String())
	}
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		for lines.Scan() {
			logs.WriteString(lines.Text() + "\n")
		}
	}()
	go func() { _, _ = io.Copy(io.Discard, stdout) }()

	exe, err := os.Readlink("/proc/" + itoa(cmd.Process.Pid) + "/exe")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(exe) != "llmroute-router" {
		t.Errorf("serving process is %s, want the lean llmroute-router", exe)
	}
	if body := get(t, "http://"+started.API+"/v1/models"); !strings.Contains(body, `"chat"`) {
		t.Errorf("/v1/models: %s", body)
	}

	// A reload through the compile child: a second route appears.
	two := goodManifest + "---\napiVersion: llmroute.dev/v1alpha1\nkind: RoutePolicy\nmetadata: {name: second}\nspec:\n  targets: [{name: a, provider: openai, model: gpt-4o-mini, keyRef: {name: up}}]\n"
	if err := os.WriteFile(path, []byte(two), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second route", func() bool { return strings.Contains(get(t, "http://"+started.API+"/v1/models"), `"second"`) })

	// A bad edit: the last good config stays, /readyz carries the validator's own message.
	if err := os.WriteFile(path, []byte(badManifest), 0o600); err != nil {
		t.Fatal(err)
	}
	_, wantErr := manifests.Load(dir)
	if wantErr == nil {
		t.Fatal("bad manifest accepted in process")
	}
	waitFor(t, "the reload error on /readyz", func() bool {
		return containsString(getJSON(t, "http://"+started.Admin+"/readyz"), wantErr.Error())
	})
	if body := get(t, "http://"+started.API+"/v1/models"); !strings.Contains(body, `"second"`) {
		t.Errorf("last good config not kept: %s", body)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-logDone
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, logs.String())
	}
	if strings.Contains(logs.String(), canary) {
		t.Errorf("key in the router's logs")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func getJSON(t *testing.T, url string) any {
	var v any
	if err := json.Unmarshal([]byte(get(t, url)), &v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return v
}

// containsString reports whether any string inside the decoded JSON value v equals s.
func containsString(v any, s string) bool {
	switch x := v.(type) {
	case string:
		return x == s
	case map[string]any:
		for _, e := range x {
			if containsString(e, s) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if containsString(e, s) {
				return true
			}
		}
	}
	return false
}

// waitFor polls cond until it holds, for at most 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, not waiting for behaviour to happen
	}
}
