package router

import (
	"context"
	"math/rand/v2"

	"github.com/llmroute/llmroute/internal/routerconfig"
)

func randomSeed() uint64 { return rand.Uint64() }

func (e *Engine) execute(ctx context.Context, snap *Snapshot, in *Inbound) *Outcome {
	panic("not implemented yet")
}

func (e *Engine) state() routerconfig.RouterState { return routerconfig.RouterState{Router: e.router, Time: e.now()} }
