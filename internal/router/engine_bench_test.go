package router

import (
	"testing"

	"github.com/llmroute/llmroute/internal/decision"
)

// BenchmarkExecute measures the engine's path for one successful non-streaming request: plan, breaker, key,
// adapter encode/decode and the decision event, with the fake provider called in memory (no sockets).
func BenchmarkExecute(b *testing.B) {
	h := newHarness(b, baseSpec(), harnessOpt{memory: true}, cheapDeepSeek, stableHaiku, fastGroq)
	h.eng.sink = decision.NewRing(1024)
	req := chat("What is the status of invoice 4711?", 64)
	b.ReportAllocs()
	for b.Loop() {
		o := h.eng.Execute(b.Context(), h.snap, &Inbound{RequestID: "bench", Route: "assistant", Req: req})
		if o.Err != nil {
			b.Fatal(o.Err)
		}
	}
}
