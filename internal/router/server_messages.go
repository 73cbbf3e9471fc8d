package router

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/llmroute/llmroute/internal/decision"
	"github.com/llmroute/llmroute/internal/faults"
	"github.com/llmroute/llmroute/internal/providers"
)

// headerAnthropicRequestID repeats the request id under the name Anthropic uses, so the Anthropic SDKs show it
// in their errors.
const headerAnthropicRequestID = "request-id"

// anthropicAPIError is the Anthropic error body. Code carries the llmroute reason code, as code does in the
// OpenAI shape; Anthropic's SDKs ignore the extra field.
type anthropicAPIError struct {
	Type      string                `json:"type"`
	Error     anthropicAPIErrorBody `json:"error"`
	RequestID string                `json:"request_id,omitempty"`
}

type anthropicAPIErrorBody struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Code    string `json:"code"`
}

// anthropicErrorType maps an HTTP status to the Anthropic error type SDKs switch on. The statuses are the ones
// chat completions answers with, and so are the type names but for two that Anthropic names differently.
func anthropicErrorType(status int) string {
	switch status {
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusServiceUnavailable, 529:
		// No target could answer (all down, excluded or out of attempts): Anthropic's retryable "try later".
		return "overloaded_error"
	}
	return errorType(status)
}

func anthropicErrorJSON(typ string, code faults.Reason, msg, requestID string) []byte {
	body, _ := json.Marshal(anthropicAPIError{Type: "error", RequestID: requestID,
		Error: anthropicAPIErrorBody{Type: typ, Message: msg, Code: string(code)}})
	return body
}

// writeAnthropicError answers with the Anthropic error shape; code is the llmroute reason code and msg must be
// sanitized already.
func writeAnthropicError(w http.ResponseWriter, status int, code faults.Reason, msg string) {
	writeErrorBody(w, status, anthropicErrorJSON(anthropicErrorType(status), code, msg, w.Header().Get(HeaderRequestID)))
}

// handleMessages serves POST /v1/messages, Anthropic's Messages API. The request is translated into the same
// neutral request chat completions decodes (providers.DecodeAnthropicRequest documents what is translated,
// ignored and refused), so routing, failover, keys, the decision event and the metrics are exactly those of
// handleChat; only the wire shapes of the answer, the stream and the errors differ.
func (s *Server) handleMessages(w http.ResponseWriter, r *http.Request) {
	s.serveMessages(w, r, providers.DecodeAnthropicRequest)
}

// handleCountTokens serves POST /v1/messages/count_tokens: the route's targets are tried in plan order like a
// Messages request (breakers, keys, failover and the decision event included), but only those whose provider
// counts tokens (providers.TokenCounter: Anthropic) can serve it; the others are skipped as missing the
// capability. The answer is the provider's count, {"input_tokens": N}, never a local estimate.
func (s *Server) handleCountTokens(w http.ResponseWriter, r *http.Request) {
	s.serveMessages(w, r, providers.DecodeAnthropicCountTokens)
}

// serveMessages serves a Messages API request whose body decode translates.
func (s *Server) serveMessages(w http.ResponseWriter, r *http.Request, decode func([]byte, []string) (*providers.ChatRequest, error)) {
	start := time.Now()
	s.metrics.inflight.Inc()
	defer s.metrics.inflight.Dec()
	id := decision.NewRequestID()
	w.Header().Set(HeaderRequestID, id)
	w.Header().Set(headerAnthropicRequestID, id)
	rc := http.NewResponseController(w)

	buf, err := s.readBody(w, r, rc)
	if err != nil {
		status, msg := s.bodyError(err)
		writeAnthropicError(w, status, faults.ReasonBadRequest, msg)
		return
	}
	// Beta flags go on to Anthropic targets, so what the client enabled (a longer output, a tool version)
	// still holds there; other targets have no such flags and ignore them. Interleaved thinking also changes
	// what the request may ask, so the flags are read before the body.
	betas, err := providers.ParseAnthropicBeta(r.Header.Values("anthropic-beta"))
	var req *providers.ChatRequest
	if err == nil {
		req, err = decode(buf.Bytes(), betas)
	}
	s.putBuf(buf)
	if err != nil {
		// Decoder messages name fields and JSON kinds, never values; Sanitize still bounds and cleans them.
		writeAnthropicError(w, http.StatusBadRequest, faults.ReasonBadRequest, faults.Sanitize(err.Error(), nil))
		return
	}
	snap := s.snap.Load()
	if snap == nil {
		writeAnthropicError(w, http.StatusServiceUnavailable, faults.ReasonNoEligibleTarget, "the router has no config loaded yet")
		return
	}
	// An answer Anthropic's shape cannot carry (tool arguments that are not a JSON object) is a malformed answer
	// from that target: the engine fails over instead of succeeding with something this client never gets.
	// The encoding of the answer the engine accepts is kept, so it is not encoded twice.
	var encoded []byte
	check := func(resp *providers.ChatResponse) error {
		b, err := providers.MarshalAnthropicMessage(resp, id, req.Model, req.Reasoning != nil)
		encoded = b
		return err
	}
	out, route, redact, timer := s.dispatch(w, r, rc, snap, id, req, check)
	if e := out.Err; e != nil {
		w.Header().Set(HeaderCostUSD, formatCost(out.CostUSD))
		writeAnthropicError(w, e.HTTPStatus, e.Reason, e.clientMessage(redact))
		s.metrics.observe(route, out.Event, 0, false)
		return
	}
	if out.Stream != nil {
		s.writeMessagesStream(r.Context(), w, rc, out, req, route, id, start, timer, redact)
		return
	}
	w.Header().Set(HeaderCostUSD, formatCost(out.CostUSD))
	if req.CountTokens {
		s.writeAnswer(w, rc, append(strconv.AppendInt([]byte(`{"input_tokens":`), int64(out.InputTokens), 10), '}'), route, out, start, timer)
		return
	}
	body := encoded
	if body == nil {
		body, err = providers.MarshalAnthropicMessage(out.Response, id, req.Model, req.Reasoning != nil)
	}
	if err != nil {
		// Unreachable while check vets every answer; kept so a future path cannot drop a call silently.
		s.log.Warn("answer not expressible as an Anthropic message", "request_id", id, "route", route,
			"error", faults.Sanitize(err.Error(), redact))
		writeAnthropicError(w, http.StatusBadGateway, faults.ReasonMalformedResponse,
			"the provider's answer cannot be expressed as an Anthropic message: "+faults.Sanitize(err.Error(), redact))
		s.metrics.observe(route, out.Event, 0, false)
		return
	}
	s.writeAnswer(w, rc, body, route, out, start, timer)
}

// writeMessagesStream relays an open upstream stream as Anthropic server-sent events, following writeStream:
// failover is over once the engine read the first chunk, so a later failure (upstream, client write, or an
// answer Anthropic's shape cannot carry) ends the stream with an explicit error event and no message_stop,
// and the decision event records stream_interrupted. The cost is sent as an HTTP trailer.
func (s *Server) writeMessagesStream(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, out *Outcome,
	req *providers.ChatRequest, route, requestID string, start time.Time, timer *upstreamTimer, redact []string) {
	stream := out.Stream
	startEventStream(w)

	send := func(b []byte) error { return s.sendEvents(w, rc, b) }

	enc := providers.NewAnthropicStreamEncoder(requestID, req.Model, req.Reasoning != nil)
	// The usage known after the first chunk (an Anthropic upstream's input tokens) goes into message_start.
	buf, streamErr := enc.Start(nil, out.FirstChunk, stream.Usage())
	if streamErr == nil {
		streamErr = send(buf)
	}
	added := time.Since(start) - timer.total()
	if streamErr == nil {
		streamErr = relay(stream, func(chunk *providers.StreamChunk) error {
			var err error
			if buf, err = enc.Chunk(buf[:0], chunk); err != nil {
				return err
			}
			return send(buf)
		})
	}
	_ = stream.Close()
	usage := stream.Usage()
	if streamErr == nil {
		buf, streamErr = enc.Finish(buf[:0], usage)
	}
	out.Finish(usage, streamErr)
	w.Header().Set(HeaderCostUSD, formatCost(out.CostUSD))
	if streamErr == nil {
		_ = send(buf)
	} else if ctx.Err() == nil {
		// The client is still there: tell it, in Anthropic's error event, that the answer is incomplete. The
		// reason code leads the message because SDKs surface only type and message.
		msg := string(faults.ReasonStreamInterrupted) + ": the upstream stream was interrupted after the response " +
			"started; the answer is incomplete: " + faults.Sanitize(streamErr.Error(), redact)
		ev := append([]byte("event: error\ndata: "), anthropicErrorJSON("api_error", faults.ReasonStreamInterrupted, msg, requestID)...)
		_ = send(append(ev, "\n\n"...))
	}
	s.metrics.observe(route, out.Event, added, true)
}
