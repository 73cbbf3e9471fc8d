package keys

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// swapConfig is a ConfigSource whose snapshot is replaced atomically, like the router's.
type swapConfig struct {
	p atomic.Pointer[map[string]Secret]
}

func (c *swapConfig) set(m map[string]Secret) { c.p.Store(&m) }
func (c *swapConfig) Key(name string) (Secret, bool) {
	m := c.p.Load()
	if m == nil {
		return Secret{}, false
	}
	s, ok := (*m)[name]
	return s, ok
}

// fakeEnv is a concurrency-safe environment.
type fakeEnv struct {
	mu sync.Mutex
	m  map[string]string
}

func (e *fakeEnv) set(k, v string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		e.m = map[string]string{}
	}
	e.m[k] = v
}
func (e *fakeEnv) unset(k string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, k)
}
func (e *fakeEnv) lookup(k string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.m[k]
	return v, ok
}

const pk = "payments/groq-key"

type fixture struct {
	r      *Resolver
	store  *MemoryStore
	config *swapConfig
	env    *fakeEnv
	dotenv string
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{store: NewMemoryStore(), config: &swapConfig{}, env: &fakeEnv{},
		dotenv: filepath.Join(t.TempDir(), ".env")}
	f.r = &Resolver{Store: f.store, Config: f.config, Env: f.env.lookup, DotEnv: NewDotEnv(f.dotenv)}
	return f
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// source puts key k into one source of the fixture.
func (f *fixture) put(t *testing.T, src Source, k string, override **Secret) {
	switch src {
	case SourceRequest:
		s := NewSecret(k)
		*override = &s
	case SourceStore:
		f.store.Set(pk, NewSecret(k))
	case SourceConfig:
		f.config.set(map[string]Secret{pk: NewSecret(k)})
	case SourceEnv:
		f.env.set("GROQ_API_KEY", k)
	case SourceDotEnv:
		writeFile(t, f.dotenv, "GROQ_API_KEY="+k+"\n")
	}
}

func TestPrecedenceAdjacentPairs(t *testing.T) {
	order := []Source{SourceRequest, SourceStore, SourceConfig, SourceEnv, SourceDotEnv}
	for i := 0; i+1 < len(order); i++ {
		hi, lo := order[i], order[i+1]
		t.Run(string(hi)+">"+string(lo), func(t *testing.T) {
			f := newFixture(t)
			var override *Secret
			f.put(t, lo, "key-"+string(lo), &override)
			f.put(t, hi, "key-"+string(hi), &override)
			req := Request{ProviderKey: pk, Provider: "groq", Override: override, AllowOverride: true}
			got, err := f.r.Resolve(req)
			if err != nil {
				t.Fatal(err)
			}
			if got.Source != hi || got.Secret.Reveal() != "key-"+string(hi) {
				t.Fatalf("got source %s, want %s", got.Source, hi)
			}
			// Remove the higher source (where possible): the lower one must answer.
			if hi == SourceRequest {
				req.Override = nil
			}
			switch hi {
			case SourceStore:
				f.store.Delete(pk)
			case SourceConfig:
				f.config.set(nil)
			case SourceEnv:
				f.env.unset("GROQ_API_KEY")
			}
			got, err = f.r.Resolve(req)
			if err != nil || got.Source != lo {
				t.Fatalf("without %s: got %+v, %v; want source %s", hi, got, err, lo)
			}
		})
	}
}

func TestResolvedID(t *testing.T) {
	f := newFixture(t)
	key := "sk-test-0123456789"
	fp := Fingerprint(key)
	tests := []struct {
		name  string
		setup func()
		req   Request
		want  string
	}{
		{"store", func() { f.store.Set(pk, NewSecret(key)) }, Request{ProviderKey: pk, Provider: "groq"}, pk + "#" + fp},
		{"env by provider", func() { f.store.Delete(pk); f.env.set("GROQ_API_KEY", key) }, Request{ProviderKey: pk, Provider: "groq"}, "GROQ_API_KEY#" + fp},
		{"env by ProviderKey first", func() { f.env.set("LLMROUTE_KEY_PAYMENTS_GROQ_KEY", key) }, Request{ProviderKey: pk, Provider: "groq"}, "LLMROUTE_KEY_PAYMENTS_GROQ_KEY#" + fp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.setup()
			got, err := f.r.Resolve(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != tt.want {
				t.Fatalf("ID %q, want %q", got.ID, tt.want)
			}
			if strings.Contains(got.ID, key) {
				t.Fatal("ID holds the key")
			}
		})
	}
	s := NewSecret(key)
	got, err := f.r.Resolve(Request{ProviderKey: pk, Override: &s, AllowOverride: true})
	if err != nil || got.ID != OverrideName+"#"+fp || got.Source != SourceRequest {
		t.Fatalf("override: %+v %v", got, err)
	}
}

func TestEnvNames(t *testing.T) {
	tests := []struct {
		pk, provider string
		want         []string
	}{
		{"payments/groq-key", "groq", []string{"LLMROUTE_KEY_PAYMENTS_GROQ_KEY", "GROQ_API_KEY"}},
		{"a.b", "openai", []string{"LLMROUTE_KEY_A_B", "OPENAI_API_KEY"}},
		{"k", "anthropic", []string{"LLMROUTE_KEY_K", "ANTHROPIC_API_KEY"}},
		{"k", "gemini", []string{"LLMROUTE_KEY_K", "GEMINI_API_KEY"}},
		{"k", "mistral", []string{"LLMROUTE_KEY_K", "MISTRAL_API_KEY"}},
		{"k", "deepseek", []string{"LLMROUTE_KEY_K", "DEEPSEEK_API_KEY"}},
		{"k", "xai", []string{"LLMROUTE_KEY_K", "XAI_API_KEY"}},
		{"local", "openaiCompatible", []string{"LLMROUTE_KEY_LOCAL"}},
		{"", "groq", []string{"GROQ_API_KEY"}},
	}
	for _, tt := range tests {
		if got := EnvNames(tt.pk, tt.provider); strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("EnvNames(%q, %q) = %v, want %v", tt.pk, tt.provider, got, tt.want)
		}
	}
}

func TestOverride(t *testing.T) {
	f := newFixture(t)
	f.store.Set(pk, NewSecret("store-key"))
	over := NewSecret("sk-CANARY-override-0001")
	_, err := f.r.Resolve(Request{ProviderKey: pk, Provider: "groq", Override: &over})
	if !errors.Is(err, ErrOverrideNotAllowed) {
		t.Fatalf("err = %v, want ErrOverrideNotAllowed", err)
	}
	if strings.Contains(err.Error(), "CANARY") {
		t.Fatal("error holds the key")
	}
	empty := NewSecret("  ")
	got, err := f.r.Resolve(Request{ProviderKey: pk, Provider: "groq", Override: &empty})
	if err != nil || got.Source != SourceStore {
		t.Fatalf("an empty override must be no override: %+v %v", got, err)
	}
}

func TestNoKey(t *testing.T) {
	f := newFixture(t)
	f.env.set("GROQ_API_KEY", "   ") // empty after trimming: not a key
	_, err := f.r.Resolve(Request{ProviderKey: pk, Provider: "groq"})
	if !errors.Is(err, ErrNoKey) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"store", "config", "LLMROUTE_KEY_PAYMENTS_GROQ_KEY", "GROQ_API_KEY", "dotenv"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	// A broken .env is reported alongside, without its content.
	writeFile(t, f.dotenv, "sk-CANARY-pasted-without-name\n")
	_, err = f.r.Resolve(Request{ProviderKey: pk, Provider: "groq"})
	if !errors.Is(err, ErrNoKey) || !errors.Is(err, ErrDotEnvSyntax) || strings.Contains(err.Error(), "CANARY") {
		t.Fatalf("err = %v", err)
	}
	// Nil sources are skipped; the default environment is the process's.
	t.Setenv("LLMROUTE_KEY_SOLO", "from-process-env")
	got, err := (&Resolver{}).Resolve(Request{ProviderKey: "solo"})
	if err != nil || got.Source != SourceEnv || got.Secret.Reveal() != "from-process-env" {
		t.Fatalf("zero Resolver: %+v %v", got, err)
	}
}

func TestRotationWithoutRestart(t *testing.T) {
	tests := []struct {
		src    Source
		rotate func(t *testing.T, f *fixture, key string)
	}{
		{SourceStore, func(t *testing.T, f *fixture, k string) { f.store.Set(pk, NewSecret(k)) }},
		{SourceConfig, func(t *testing.T, f *fixture, k string) { f.config.set(map[string]Secret{pk: NewSecret(k)}) }},
		{SourceEnv, func(t *testing.T, f *fixture, k string) { f.env.set("GROQ_API_KEY", k) }},
		{SourceDotEnv, func(t *testing.T, f *fixture, k string) { writeFile(t, f.dotenv, "GROQ_API_KEY="+k+"\n") }},
	}
	for _, tt := range tests {
		t.Run(string(tt.src), func(t *testing.T) {
			f := newFixture(t)
			req := Request{ProviderKey: pk, Provider: "groq"}
			var last string
			for i, k := range []string{"first-key", "second-key-longer", "third-key"} {
				tt.rotate(t, f, k)
				got, err := f.r.Resolve(req)
				if err != nil || got.Source != tt.src || got.Secret.Reveal() != k {
					t.Fatalf("rotation %d: got %+v, %v", i, got, err)
				}
				if got.ID == last {
					t.Fatal("fingerprint did not change with the key")
				}
				last = got.ID
			}
		})
	}
}

func TestDotEnvRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".env")
	d := NewDotEnv(path)
	lookup := func() string {
		t.Helper()
		s, ok, err := d.Lookup("K")
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return "<none>"
		}
		return s.Reveal()
	}
	if got := lookup(); got != "<none>" {
		t.Fatalf("missing file: %q", got)
	}
	writeFile(t, path, "K=aaaa\n")
	if got := lookup(); got != "aaaa" {
		t.Fatalf("got %q", got)
	}
	// Same size, rewritten in place: the modification time tells.
	writeFile(t, path, "K=bbbb\n")
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if got := lookup(); got != "bbbb" {
		t.Fatalf("in-place rewrite: got %q", got)
	}
	// Atomic replace by rename, with the same size and modification time: the file identity tells.
	tmp := filepath.Join(dir, ".env.tmp")
	writeFile(t, tmp, "K=cccc\n")
	if err := os.Chtimes(tmp, later, later); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if got := lookup(); got != "cccc" {
		t.Fatalf("rename replace: got %q", got)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if got := lookup(); got != "<none>" {
		t.Fatalf("removed file: got %q", got)
	}
}

func TestDotEnvParse(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    map[string]string
		wantErr string
	}{
		{"plain", "A=1\nB=two\n", map[string]string{"A": "1", "B": "two"}, ""},
		{"comments and blanks", "# c\n\nA=1 # trailing\n  # indented\n", map[string]string{"A": "1"}, ""},
		{"export", "export A=x\n", map[string]string{"A": "x"}, ""},
		{"double quotes", `A="a b # not comment" # c` + "\n" + `B="q\"\\n\n"`, map[string]string{"A": "a b # not comment", "B": "q\"\\n"}, ""},
		{"single quotes literal", `A='x\ny'`, map[string]string{"A": `x\ny`}, ""},
		{"spaces around =", "A = v \n", map[string]string{"A": "v"}, ""},
		{"value with =", "A=b=c\n", map[string]string{"A": "b=c"}, ""},
		{"empty value", "A=\n", map[string]string{"A": ""}, ""},
		{"crlf", "A=1\r\nB=2\r\n", map[string]string{"A": "1", "B": "2"}, ""},
		{"missing =", "A=1\nsk-CANARY-raw\n", nil, ".env:2: missing '='"},
		{"bad name", "1A=sk-CANARY-x\n", nil, ".env:1: invalid variable name"},
		{"unterminated", "A=\"sk-CANARY-x\n", nil, ".env:1: unterminated double quote"},
		{"unterminated single", "A='sk-CANARY-x\n", nil, ".env:1: unterminated single quote"},
		{"junk after quote", "A=\"x\"sk-CANARY\n", nil, ".env:1: unexpected text after closing quote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDotEnv(".env", []byte(tt.content))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrDotEnvSyntax) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "CANARY") {
					t.Fatalf("parse error holds a value: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d vars, want %d", len(got), len(tt.want))
			}
			for k, v := range tt.want {
				if got[k].Reveal() != strings.TrimSpace(v) {
					t.Errorf("%s = %q, want %q", k, got[k].Reveal(), v)
				}
			}
		})
	}
}

func TestMemoryStoreConcurrent(t *testing.T) {
	s := &MemoryStore{}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			name := "k" + string(rune('a'+i%5))
			s.Set(name, NewSecret("v"))
			s.Get(name)
			s.Names()
			if i%3 == 0 {
				s.Delete(name)
			}
		})
	}
	wg.Wait()
	s.Set("b", NewSecret("1"))
	s.Set("a", NewSecret("2"))
	if names := s.Names(); len(names) < 2 || !strings.Contains(strings.Join(names, ","), "a,b") {
		t.Fatalf("names %v", names)
	}
}
