package router

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/llmroute/llmroute/internal/faults"
	"github.com/llmroute/llmroute/internal/keys"
	"github.com/llmroute/llmroute/internal/routerconfig"
)

// maxKeyBody bounds a PUT /admin/keys body: an API key is well under a kilobyte.
const maxKeyBody = 16 << 10

// readyProbeName is looked up in the .env file to make it parse; no key is expected under it.
const readyProbeName = "LLMROUTE_READY_PROBE"

// ReadyStatus is the body of /readyz.
type ReadyStatus struct {
	// Ready is true once a config is in use and the key sources read without error.
	Ready bool `json:"ready"`
	// Config describes the config in use and the latest load.
	Config ConfigStatus `json:"config"`
	// Keys says whether the key sources are usable: "ok", or what is wrong (never a key).
	Keys string `json:"keys"`
	// StoredKeys is the number of keys set through the admin API.
	StoredKeys int `json:"stored_keys"`
}

// Ready reports readiness: a config is loaded and the .env file, if any, parses. A later failed reload does
// not make the router unready: it keeps serving the last good config, and the failure shows in the detail.
func (s *Server) Ready() ReadyStatus {
	st := ReadyStatus{Config: s.ConfigStatus(), Keys: "ok", StoredKeys: len(s.store.Names())}
	keysOK := true
	if s.dotenv != nil {
		if _, _, err := s.dotenv.Lookup(readyProbeName); err != nil {
			keysOK = false
			st.Keys = faults.Sanitize(err.Error(), nil)
		}
	}
	st.Ready = s.snap.Load() != nil && keysOK
	return st
}

// OpsHandler serves what the cluster may reach (nothing secret): /healthz, /readyz, /metrics and /v1/state.
func (s *Server) OpsHandler() http.Handler {
	mux := http.NewServeMux()
	s.addOps(mux)
	return mux
}

func (s *Server) addOps(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		st := s.Ready()
		code := http.StatusOK
		if !st.Ready {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, st)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET "+routerconfig.StatePath, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.engine.State())
	})
}

// AdminHandler serves the ops endpoints plus what only a local operator may use: the key store
// (PUT/DELETE/GET /admin/keys) and the recent decision events (/debug/decisions). Key endpoints refuse any
// client that is not on a loopback address, even if the listener was bound more widely by mistake.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	s.addOps(mux)
	mux.HandleFunc("PUT /admin/keys/{name...}", loopbackOnly(s.putKey))
	mux.HandleFunc("DELETE /admin/keys/{name...}", loopbackOnly(s.deleteKey))
	mux.HandleFunc("GET /admin/keys", loopbackOnly(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string][]string{"names": s.store.Names()})
	}))
	mux.HandleFunc("GET /debug/decisions", loopbackOnly(func(w http.ResponseWriter, r *http.Request) {
		n := 100
		if v, err := strconv.Atoi(r.URL.Query().Get("n")); err == nil && v > 0 {
			n = v
		}
		writeJSON(w, http.StatusOK, s.ring.Recent(n))
	}))
	mux.HandleFunc("GET /debug/decisions/{id}", loopbackOnly(func(w http.ResponseWriter, r *http.Request) {
		ev, ok := s.ring.Get(r.PathValue("id"))
		if !ok {
			writeError(w, http.StatusNotFound, "not_found_error", faults.ReasonBadRequest,
				"no decision event for this request id (the ring keeps the latest events only)")
			return
		}
		writeJSON(w, http.StatusOK, ev)
	}))
	// Go's profiler, for "why is this sidecar using CPU": profiles hold stacks and sizes, never memory
	// contents, so no key can leave through them; loopback only all the same.
	mux.HandleFunc("GET /debug/pprof/", loopbackOnly(pprof.Index))
	mux.HandleFunc("GET /debug/pprof/profile", loopbackOnly(pprof.Profile))
	mux.HandleFunc("GET /debug/pprof/trace", loopbackOnly(pprof.Trace))
	mux.HandleFunc("GET /debug/pprof/symbol", loopbackOnly(pprof.Symbol))
	return mux
}

// loopbackOnly refuses requests whose peer is not a loopback address.
func loopbackOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		ip := net.ParseIP(host)
		if err != nil || ip == nil || !ip.IsLoopback() {
			writeError(w, http.StatusForbidden, "permission_error", faults.ReasonBadRequest,
				"the admin API only accepts clients on a loopback address")
			return
		}
		h(w, r)
	}
}

// storeName maps the name in an admin URL to the store's: the resolver asks for "namespace/name", and a bare
// name means the current config's namespace, the one a standalone user has in mind.
func (s *Server) storeName(name string) string {
	if strings.Contains(name, "/") {
		return name
	}
	if snap := s.snap.Load(); snap != nil && snap.Bundle != nil && snap.Bundle.Config.Namespace != "" {
		return snap.Bundle.Config.Namespace + "/" + name
	}
	return name
}

// putKey stores a key: the body is the key itself, or {"key": "..."}. The answer names the key by fingerprint
// only.
func (s *Server) putKey(w http.ResponseWriter, r *http.Request) {
	name := s.storeName(r.PathValue("name"))
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxKeyBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "invalid_request_error", faults.ReasonBadRequest, "key body too large")
		return
	}
	value := string(raw)
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '{' {
		var body struct {
			Key string `json:"key"`
		}
		if err := json.Unmarshal(t, &body); err != nil {
			// The decoder error could quote part of the body, which is the key: do not pass it on.
			writeError(w, http.StatusBadRequest, "invalid_request_error", faults.ReasonBadRequest, `body must be the key or {"key": "..."}`)
			return
		}
		value = body.Key
	}
	k := keys.NewSecret(value)
	if k.Empty() {
		writeError(w, http.StatusBadRequest, "invalid_request_error", faults.ReasonBadRequest, "empty key")
		return
	}
	s.store.Set(name, k)
	s.log.Info("key stored through the admin API", "provider_key", name, "fingerprint", k.Fingerprint())
	writeJSON(w, http.StatusOK, map[string]string{"name": name, "fingerprint": k.Fingerprint(), "source": string(keys.SourceStore)})
}

// deleteKey removes a stored key, so lower-precedence sources apply again.
func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request) {
	name := s.storeName(r.PathValue("name"))
	s.store.Delete(name)
	s.log.Info("key removed through the admin API", "provider_key", name)
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "api_error", faults.ReasonBadRequest, "encode response")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
