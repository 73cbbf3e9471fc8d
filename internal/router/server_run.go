package router

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server timeouts. There is no WriteTimeout: it would cut long streams; each response sets its own write
// deadline through http.ResponseController instead.
const (
	ReadHeaderTimeout = 10 * time.Second
	IdleTimeout       = 120 * time.Second
)

// ListenOptions says where Start serves.
type ListenOptions struct {
	// API is the client API address (llmroute serve --listen).
	API string
	// Admin serves the ops endpoints plus the key admin API and /debug (--admin-listen); "" for none.
	Admin string
	// Ops serves only the ops endpoints (--ops-listen), for a cluster-reachable port; "" for none.
	Ops string
}

// Running is a started Server: its listeners and a graceful shutdown.
type Running struct {
	// APIAddr, AdminAddr and OpsAddr are the bound addresses ("" when not served).
	APIAddr, AdminAddr, OpsAddr string

	servers []*http.Server
	done    chan struct{}
	errMu   sync.Mutex
	err     error
}

// Start binds the listeners and serves until Shutdown. A failed bind closes whatever was already bound.
func (s *Server) Start(opts ListenOptions) (*Running, error) {
	run := &Running{done: make(chan struct{})}
	type spec struct {
		addr string
		h    http.Handler
		out  *string
	}
	specs := []spec{{opts.API, s.Handler(), &run.APIAddr}, {opts.Admin, s.AdminHandler(), &run.AdminAddr},
		{opts.Ops, s.OpsHandler(), &run.OpsAddr}}
	var lns []net.Listener
	for _, sp := range specs {
		if sp.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", sp.addr)
		if err != nil {
			for _, l := range lns {
				_ = l.Close()
			}
			return nil, fmt.Errorf("listen %s: %w", sp.addr, err)
		}
		lns = append(lns, ln)
		*sp.out = ln.Addr().String()
		run.servers = append(run.servers, &http.Server{Handler: sp.h, ReadHeaderTimeout: ReadHeaderTimeout,
			IdleTimeout: IdleTimeout, MaxHeaderBytes: 64 << 10})
	}
	var wg sync.WaitGroup
	for i, srv := range run.servers {
		wg.Add(1)
		go func(srv *http.Server, ln net.Listener) {
			defer wg.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				run.setErr(fmt.Errorf("serve %s: %w", ln.Addr(), err))
			}
		}(srv, lns[i])
	}
	go func() { wg.Wait(); close(run.done) }()
	return run, nil
}

func (r *Running) setErr(err error) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if r.err == nil {
		r.err = err
	}
}

// Done is closed when every listener has stopped serving.
func (r *Running) Done() <-chan struct{} { return r.done }

// Err returns the first serve error, nil if none.
func (r *Running) Err() error {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return r.err
}

// Shutdown stops accepting connections and waits for requests in flight, streams included, to finish. When
// ctx ends first it closes the remaining connections, which cancels their requests and so their upstream
// calls, and returns ctx's error.
func (r *Running) Shutdown(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(r.servers))
	for i, srv := range r.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Shutdown(ctx); err != nil {
				errs[i] = err
				_ = srv.Close()
			}
		}()
	}
	wg.Wait()
	<-r.done
	return errors.Join(errs...)
}
