package providers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
)

// TokenCounter is implemented by the adapters whose provider counts a request's input tokens without
// generating anything: Anthropic's POST /v1/messages/count_tokens, Gemini's models.countTokens and OpenAI's
// POST /v1/responses/input_tokens (OpenAIAdapter counts for the openai provider only: see tokenCounter). The router
// serves count_tokens only through such targets, because a local estimate would misreport a number clients
// size their prompts by.
type TokenCounter interface {
	// CountTokens returns the input tokens req would take on the endpoint's model. Failures are those of Do:
	// *UpstreamError for a non-2xx answer, ErrMalformedResponse for an answer that is not a count.
	CountTokens(ctx context.Context, hc *http.Client, ep Endpoint, req *ChatRequest) (int, error)
}

// DecodeAnthropicCountTokens translates a POST /v1/messages/count_tokens body (model, messages, system, tools,
// tool_choice, thinking) into a ChatRequest with CountTokens set. It is DecodeAnthropicRequest but for
// max_tokens, which count_tokens does not take: the request is given max_tokens 1, so the planner bounds its
// output at one token (and the router plans no input for it) rather than refusing the free call under a cap.
// A stream is refused: there is nothing to stream. A thinking budget is validated but not compared with that
// max_tokens, as Anthropic's count_tokens takes thinking without one. betas are as for DecodeAnthropicRequest.
func DecodeAnthropicCountTokens(data []byte, betas []string) (*ChatRequest, error) {
	if raw, ok := rewriteObject(data, []fieldEdit{{"max_tokens", []byte("1")}}); ok {
		data = raw
	} // else data is no JSON object and DecodeAnthropicRequest says so
	req, err := decodeAnthropicRequest(data, betas, true)
	if err != nil {
		return nil, err
	}
	if req.Stream {
		return nil, errors.New("stream: count_tokens answers with a count, it cannot stream")
	}
	req.CountTokens = true
	return req, nil
}

// anthropicCountRequest is the count_tokens body: the fields of a Messages request that make up its input.
type anthropicCountRequest struct {
	Model      string               `json:"model"`
	System     string               `json:"system,omitempty"`
	Messages   []anthropicMessage   `json:"messages"`
	Tools      []anthropicTool      `json:"tools,omitempty"`
	ToolChoice *anthropicToolChoice `json:"tool_choice,omitempty"`
	Thinking   *anthropicThinking   `json:"thinking,omitempty"`
}

// CountTokens implements TokenCounter. The request is translated exactly as for Do, so the count is that of
// the messages Do would send to this target; thinking keeps the client's budget, which count_tokens does not
// bound by a max_tokens.
func (a *AnthropicAdapter) CountTokens(ctx context.Context, hc *http.Client, ep Endpoint, req *ChatRequest) (int, error) {
	areq, err := toAnthropic(ep, req)
	if err != nil {
		return 0, err
	}
	creq := &anthropicCountRequest{Model: areq.Model, System: areq.System, Messages: areq.Messages,
		Tools: areq.Tools, ToolChoice: areq.ToolChoice,
		Thinking: anthropicThinkingOf(thinkingFor(ep, req), math.MaxInt32, req.Messages)}
	resp, err := a.send(ctx, hc, ep, "/messages/count_tokens", creq, req.AnthropicBeta) //nolint:bodyclose // readInputTokens closes it
	if err != nil {
		return 0, err
	}
	return readInputTokens(ProviderAnthropic, "count_tokens", resp)
}

// readInputTokens decodes the {"input_tokens": N} answer of call (Anthropic's count_tokens, OpenAI's
// input_tokens): a missing or negative count is an answer that is not a count, never 0.
func readInputTokens(provider, call string, resp *http.Response) (int, error) {
	var out struct {
		InputTokens *int `json:"input_tokens"`
	}
	if err := readJSON(provider, resp, &out); err != nil {
		return 0, err
	}
	if out.InputTokens == nil || *out.InputTokens < 0 {
		return 0, malformed(provider, call+" answer without a non-negative input_tokens")
	}
	return *out.InputTokens, nil
}

// geminiCountRequest is a countTokens body. Its generateContentRequest form (rather than bare contents) is the
// one that also counts the system instruction, tools and tool config; the API requires the model in it.
type geminiCountRequest struct {
	GenerateContentRequest geminiCountContent `json:"generateContentRequest"`
}

type geminiCountContent struct {
	Model string `json:"model"`
	*geminiRequest
}

// CountTokens implements TokenCounter with Gemini's models.countTokens. The request is translated exactly as
// for Do, less the generationConfig (output length, sampling and thinking settings, which are no input), so
// the count is that of the contents, system instruction and tools Do would send to this model: Gemini's own
// tokenizer's count, which is what this target would bill.
func (a *GeminiAdapter) CountTokens(ctx context.Context, hc *http.Client, ep Endpoint, req *ChatRequest) (int, error) {
	greq, model, err := toGemini(ep, req)
	if err != nil {
		return 0, err
	}
	greq.GenerationConfig = nil
	creq := &geminiCountRequest{GenerateContentRequest: geminiCountContent{Model: "models/" + model, geminiRequest: greq}}
	resp, err := a.send(ctx, hc, ep, model, ":countTokens", creq)
	if err != nil {
		return 0, err
	}
	var out struct {
		TotalTokens *int `json:"totalTokens"`
	}
	if err := readJSON(ProviderGemini, resp, &out); err != nil {
		return 0, err
	}
	// A count of 0 would be omitted from the proto3 JSON answer, but countTokens is only asked about requests
	// with at least one message, so a missing totalTokens is an answer that is not a count.
	if out.TotalTokens == nil || *out.TotalTokens < 0 {
		return 0, malformed(ProviderGemini, "countTokens answer without a non-negative totalTokens")
	}
	return *out.TotalTokens, nil
}

// CanCountTokens reports, as nil, that provider's adapter (from adapter, as the engine looks it up) counts
// tokens; otherwise an error wrapping ErrUnsupportedRequest that says why not, for the decision event.
func CanCountTokens(adapter func(provider string) (Adapter, error), provider string) error {
	ad, err := adapter(provider)
	if err != nil {
		return err
	}
	if _, ok := tokenCounter(ad); !ok {
		return errNoTokenCounting(provider)
	}
	return nil
}

// tokenCounter returns ad's TokenCounter, if its provider counts tokens. The OpenAI adapter serves every
// OpenAI-compatible provider, and only OpenAI itself has a counting API.
func tokenCounter(ad Adapter) (TokenCounter, bool) {
	if oa, ok := ad.(*OpenAIAdapter); ok && oa.name() != ProviderOpenAI {
		return nil, false
	}
	tc, ok := ad.(TokenCounter)
	return tc, ok
}

// CountTokensWith counts req's input tokens through ad, or fails with an error wrapping ErrUnsupportedRequest
// when ad's provider cannot count them.
func CountTokensWith(ctx context.Context, ad Adapter, provider string, hc *http.Client, ep Endpoint, req *ChatRequest) (int, error) {
	tc, ok := tokenCounter(ad)
	if !ok {
		return 0, errNoTokenCounting(provider)
	}
	return tc.CountTokens(ctx, hc, ep, req)
}

func errNoTokenCounting(provider string) error {
	return fmt.Errorf("%s: %w: count_tokens needs an Anthropic, Gemini or OpenAI target; %s has no token counting API", provider, ErrUnsupportedRequest, provider)
}
