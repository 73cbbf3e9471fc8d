package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/llmroute/llmroute/internal/faults"
	"github.com/llmroute/llmroute/internal/providers"
)

var (
	sseData = []byte("data: ")
	sseEnd  = []byte("\n\n")
	sseDone = []byte("data: [DONE]\n\n")
)

// writeStream relays an open upstream stream to the client as OpenAI server-sent events. The engine already
// read the first chunk, so failover is over: from here a failure ends the stream with an explicit error event
// and no [DONE], never as a silently truncated success. The cost is known only at the end, so it is sent as an
// HTTP trailer.
func (s *Server) writeStream(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, req *providers.ChatRequest, out *Outcome,
	route string, start time.Time, timer *upstreamTimer, redact []string) {
	stream := out.Stream
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	startEventStream(w)

	var buf []byte
	write := func(chunk *providers.StreamChunk) error {
		if !includeUsage {
			// Adapters always report usage (the router needs it for cost); a client that did not ask must not
			// get the extra chunk, which some SDKs choke on.
			if len(chunk.Choices) == 0 && chunk.Usage != nil {
				return nil
			}
			chunk.Usage = nil
		}
		b, err := json.Marshal(chunk)
		if err != nil {
			return fmt.Errorf("encode chunk: %w", err)
		}
		buf = append(append(append(buf[:0], sseData...), b...), sseEnd...)
		return s.sendEvents(w, rc, buf)
	}

	streamErr := write(out.FirstChunk)
	added := time.Since(start) - timer.total()
	if streamErr == nil {
		streamErr = relay(stream, write)
	}
	_ = stream.Close()
	usage := stream.Usage()
	out.Finish(usage, streamErr)
	w.Header().Set(HeaderCostUSD, formatCost(out.CostUSD))
	if streamErr == nil {
		_, _ = w.Write(sseDone)
		_ = rc.Flush()
	} else if ctx.Err() == nil {
		// The upstream failed (the client is still there): say so in the stream, in the OpenAI error shape, and
		// end without [DONE] so no SDK mistakes the truncated answer for a complete one.
		msg := "the upstream stream was interrupted after the response started; the answer is incomplete: " +
			faults.Sanitize(streamErr.Error(), redact)
		b, _ := json.Marshal(apiError{Error: apiErrorBody{Message: msg, Type: "api_error", Code: string(faults.ReasonStreamInterrupted)}})
		_, _ = w.Write(append(append(append(buf[:0], sseData...), b...), sseEnd...))
		_ = rc.Flush()
	}
	s.metrics.observe(route, out.Event, added, true)
}

// startEventStream sends the headers of a server-sent event stream whose cost follows as a trailer.
func startEventStream(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx would otherwise buffer the whole answer
	h.Set("Trailer", HeaderCostUSD)
	w.WriteHeader(http.StatusOK)
}

// sendEvents writes encoded events to the client under the per-write deadline and flushes them.
func (s *Server) sendEvents(w http.ResponseWriter, rc *http.ResponseController, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	_ = rc.SetWriteDeadline(time.Now().Add(s.streamWriteTimeout))
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write to client: %w", err)
	}
	return rc.Flush()
}

// relay hands every remaining chunk of stream to emit. It returns nil when the stream ended with its
// terminator, else the first read or emit error.
func relay(stream providers.StreamReader, emit func(*providers.StreamChunk) error) error {
	for {
		chunk, err := stream.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := emit(chunk); err != nil {
			return err
		}
	}
}
