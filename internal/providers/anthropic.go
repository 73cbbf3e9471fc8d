package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// AnthropicVersion is the anthropic-version header value the adapter speaks.
const AnthropicVersion = "2023-06-01"

// DefaultAnthropicMaxTokens is sent when neither the request nor the endpoint sets an output limit: Anthropic
// requires max_tokens, and 4096 is accepted by every current Claude model.
const DefaultAnthropicMaxTokens = 4096

// AnthropicAdapter speaks the Anthropic Messages API.
//
// Request translation: system and developer messages (wherever they appear) are joined into the top-level
// system prompt; consecutive turns of the same role are merged, as Anthropic requires alternation; tool-role
// messages become user tool_result blocks; assistant tool_calls become tool_use blocks; images become base64
// (data: URLs) or url sources; function tools become {name, description, input_schema}; tool_choice
// auto/none/required/function becomes auto/none/any/tool; stop becomes stop_sequences; user becomes
// metadata.user_id; temperature is clamped to Anthropic's [0, 1]. max_tokens is the request's limit, else
// Endpoint.MaxTokens, else DefaultAnthropicMaxTokens, and never above Endpoint.MaxTokens.
//
// JSON mode is an instruction appended to the system prompt (with the schema for json_schema) rather than a
// forced tool: a forced tool would turn the answer into a tool call the client did not ask for, and Claude
// follows the instruction reliably. The output is therefore not schema-validated by the provider.
//
// Thinking: a request's Reasoning becomes thinking {type: enabled, budget_tokens} (the budget lowered below
// max_tokens when a target's cap makes max_tokens smaller; no thinking at all when that leaves less than 1024) or
// {type: adaptive}, with display. While thinking, temperature is left out (Anthropic accepts only 1, its
// default). Best-effort reasoning (a chat client's reasoning_effort) takes at most half of max_tokens, and is
// left out when the request's temperature, top_p or tool_choice rules thinking out. Assistant turns send their
// signed thinking and redacted_thinking blocks first, unchanged; unsigned blocks (reasoning another provider
// produced) are dropped, as Anthropic would reject them. Anthropic also
// rejects a thinking request whose last assistant turn calls tools without starting with a thinking block,
// which is what a conversation another provider served looks like: such a request is sent without thinking,
// as Anthropic's own error message advises, and so is every request that does not ask for thinking, with no
// thinking blocks in its history.
//
// Response translation: text blocks are concatenated into content; tool_use blocks become tool_calls with the
// input re-encoded as a JSON string; thinking and redacted_thinking blocks become Thinking (with their
// signatures) and their text ReasoningContent. stop_reason end_turn/stop_sequence/pause_turn → stop,
// max_tokens → length, tool_use → tool_calls, refusal → content_filter. Thinking tokens are part of Anthropic's
// output_tokens, so they are billed as output.
type AnthropicAdapter struct{}

type anthropicRequest struct {
	Model         string                `json:"model"`
	System        string                `json:"system,omitempty"`
	Messages      []anthropicMessage    `json:"messages"`
	MaxTokens     int                   `json:"max_tokens"`
	StopSequences []string              `json:"stop_sequences,omitempty"`
	Temperature   *float64              `json:"temperature,omitempty"`
	TopP          *float64              `json:"top_p,omitempty"`
	Stream        bool                  `json:"stream,omitempty"`
	Tools         []anthropicTool       `json:"tools,omitempty"`
	ToolChoice    *anthropicToolChoice  `json:"tool_choice,omitempty"`
	Metadata      *anthropicRequestMeta `json:"metadata,omitempty"`
	Thinking      *anthropicThinking    `json:"thinking,omitempty"`
}

// anthropicThinking is the thinking parameter: {type: enabled, budget_tokens} or {type: adaptive}.
type anthropicThinking struct {
	Type         string `json:"type"`
	BudgetTokens int    `json:"budget_tokens,omitempty"`
	Display      string `json:"display,omitempty"`
}

// anthropicMinThinkingBudget is Anthropic's smallest budget_tokens.
const anthropicMinThinkingBudget = 1024

// anthropicThinkingMinTopP is the smallest top_p Anthropic accepts together with thinking.
const anthropicThinkingMinTopP = 0.95

type anthropicRequestMeta struct {
	UserID string `json:"user_id"`
}

type anthropicMessage struct {
	Role    string           `json:"role"`
	Content []anthropicBlock `json:"content"`
}

type anthropicBlock struct {
	Type      string                `json:"type"`
	Text      string                `json:"text,omitempty"`
	Source    *anthropicImageSource `json:"source,omitempty"`
	ID        string                `json:"id,omitempty"`
	Name      string                `json:"name,omitempty"`
	Input     json.RawMessage       `json:"input,omitempty"`
	ToolUseID string                `json:"tool_use_id,omitempty"`
	Content   string                `json:"content,omitempty"`
	// Thinking is a thinking block's text: a pointer because the field is required even when empty (display
	// omitted).
	Thinking  *string `json:"thinking,omitempty"`
	Signature string  `json:"signature,omitempty"`
	Data      string  `json:"data,omitempty"`
}

type anthropicImageSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type anthropicTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type anthropicToolChoice struct {
	Type string `json:"type"`
	Name string `json:"name,omitempty"`
}

type anthropicResponse struct {
	ID         string             `json:"id"`
	Type       string             `json:"type"`
	Role       string             `json:"role"`
	Model      string             `json:"model"`
	Content    []anthropicContent `json:"content"`
	StopReason string             `json:"stop_reason"`
	// StopSequence names the stop sequence that matched when StopReason is stop_sequence.
	StopSequence *string        `json:"stop_sequence"`
	Usage        anthropicUsage `json:"usage"`
}

type anthropicContent struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	Thinking  string          `json:"thinking"`
	Signature string          `json:"signature"`
	Data      string          `json:"data"`
}

type anthropicUsage struct {
	InputTokens              int `json:"input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
}

// normalize counts cache reads and cache writes into InputTokens, because Anthropic's input_tokens excludes
// both while OpenAI's prompt_tokens (the shape the router reports) includes cached tokens.
func (u anthropicUsage) normalize() Usage {
	return Usage{
		InputTokens:       u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens,
		OutputTokens:      u.OutputTokens,
		CachedInputTokens: u.CacheReadInputTokens,
	}
}

// Do implements Adapter.
func (a *AnthropicAdapter) Do(ctx context.Context, hc *http.Client, ep Endpoint, req *ChatRequest) (*ChatResponse, Usage, error) {
	areq, err := toAnthropic(ep, req)
	if err != nil {
		return nil, Usage{}, err
	}
	resp, err := a.send(ctx, hc, ep, "/messages", areq, req.AnthropicBeta)
	if err != nil {
		return nil, Usage{}, err
	}
	var ar anthropicResponse
	if err := readJSON(ProviderAnthropic, resp, &ar); err != nil {
		return nil, Usage{}, err
	}
	if ar.Type != "message" {
		return nil, Usage{}, malformed(ProviderAnthropic, fmt.Sprintf("object type %q, want message", ar.Type))
	}
	usage := ar.Usage.normalize()
	msg := ResponseMessage{Role: RoleAssistant}
	var text, reasoning strings.Builder
	hasText := false
	for _, c := range ar.Content {
		switch c.Type {
		case "text":
			text.WriteString(c.Text)
			hasText = true
		case "thinking":
			msg.Thinking = append(msg.Thinking, ThinkingBlock{Text: c.Thinking, Signature: c.Signature})
			reasoning.WriteString(c.Thinking)
		case "redacted_thinking":
			msg.Thinking = append(msg.Thinking, ThinkingBlock{RedactedData: c.Data})
		case "tool_use":
			msg.ToolCalls = append(msg.ToolCalls, ToolCall{
				ID: c.ID, Type: "function",
				Function: FunctionCall{Name: c.Name, Arguments: compactArgs(c.Input)},
			})
		}
	}
	if hasText || len(msg.ToolCalls) == 0 {
		msg.Content = ptr(text.String())
	}
	if reasoning.Len() > 0 {
		msg.ReasoningContent = ptr(reasoning.String())
	}
	return &ChatResponse{
		ID: ar.ID, Object: ObjectChatCompletion, Created: nowUnix(), Model: ar.Model,
		Choices: []Choice{{Index: 0, Message: msg, FinishReason: anthropicFinish(ar.StopReason),
			StopSequence: matchedStop(ar.StopReason, ar.StopSequence)}},
		Usage: usage.OpenAI(),
	}, usage, nil
}

// Stream implements Adapter.
func (a *AnthropicAdapter) Stream(ctx context.Context, hc *http.Client, ep Endpoint, req *ChatRequest) (StreamReader, error) {
	areq, err := toAnthropic(ep, req)
	if err != nil {
		return nil, err
	}
	areq.Stream = true
	resp, err := a.send(ctx, hc, ep, "/messages", areq, req.AnthropicBeta) //nolint:bodyclose // the returned stream reader owns the body and closes it
	if err != nil {
		return nil, err
	}
	return &anthropicStream{body: resp.Body, sse: newSSEReader(resp.Body), created: nowUnix(), tools: map[int]int{}}, nil
}

// send posts body to path under the endpoint's base URL ("/messages", "/messages/count_tokens") with the key,
// the API version and the client's beta flags.
func (a *AnthropicAdapter) send(ctx context.Context, hc *http.Client, ep Endpoint, path string, body any, beta []string) (*http.Response, error) {
	url := baseURL(ep, ProviderAnthropic) + path
	return send(ctx, hc, ProviderAnthropic, url, body, ep.Key, func(h http.Header) {
		h.Set("x-api-key", ep.Key.Reveal())
		h.Set("anthropic-version", AnthropicVersion)
		if len(beta) > 0 {
			h.Set("anthropic-beta", strings.Join(beta, ","))
		}
	})
}

// maxAnthropicBetas bounds how many anthropic-beta flags a request may carry; Anthropic has a few dozen in all.
const maxAnthropicBetas = 32

// ParseAnthropicBeta reads the anthropic-beta header values of a Messages API request: each value is a
// comma-separated list of flags such as prompt-caching-2024-07-31. It returns the flags in order, without
// duplicates, or an error naming what is wrong (the flags are public feature names, so quoting one is safe).
// A flag is lower-case letters, digits, '.', '_' and '-', at most 100 bytes: anything else could never name a
// beta, and letting it through would fail at the transport (an invalid header value) and be taken for an
// unreachable provider.
func ParseAnthropicBeta(values []string) ([]string, error) {
	var out []string
	for _, v := range values {
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			if !validBetaFlag(f) {
				return nil, fmt.Errorf("anthropic-beta: %q is not a beta flag name (lower-case letters, digits, '.', '_' and '-', at most 100 characters)", sanitize(f, 100))
			}
			if slices.Contains(out, f) {
				continue
			}
			if len(out) == maxAnthropicBetas {
				// Checked as the list grows, so a 64 KiB header of distinct flags costs no quadratic scan.
				return nil, fmt.Errorf("anthropic-beta: more than %d flags", maxAnthropicBetas)
			}
			out = append(out, f)
		}
	}
	return out, nil
}

func validBetaFlag(f string) bool {
	if len(f) > 100 {
		return false
	}
	for i := 0; i < len(f); i++ {
		switch c := f[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

func anthropicFinish(reason string) string {
	switch reason {
	case "max_tokens", "model_context_window_exceeded":
		return FinishLength
	case "tool_use":
		return FinishToolCalls
	case "refusal":
		return FinishContentFilter
	}
	return FinishStop // end_turn, stop_sequence, pause_turn
}

// matchedStop returns the stop sequence that ended an answer, "" unless the stop reason says one did.
func matchedStop(reason string, seq *string) string {
	if reason != "stop_sequence" || seq == nil {
		return ""
	}
	return *seq
}

// compactArgs re-encodes a tool input object as the compact JSON string OpenAI uses for arguments.
func compactArgs(raw json.RawMessage) string {
	if len(bytes.TrimSpace(raw)) == 0 {
		return "{}"
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// jsonModeInstruction is the system instruction that stands in for response_format on providers without a
// native JSON mode.
func jsonModeInstruction(rf *ResponseFormat) string {
	if rf == nil || (rf.Type != FormatJSONObject && rf.Type != FormatJSONSchema) {
		return ""
	}
	s := "Respond with a single valid JSON object and nothing else: no Markdown code fences, no text before or after it."
	if rf.Type == FormatJSONSchema && rf.JSONSchema != nil && len(rf.JSONSchema.Schema) > 0 {
		s += " The JSON object must conform to this JSON Schema:\n" + string(rf.JSONSchema.Schema)
	}
	return s
}

func toAnthropic(ep Endpoint, req *ChatRequest) (*anthropicRequest, error) {
	out := &anthropicRequest{Model: req.Model, StopSequences: req.Stop, TopP: req.TopP}
	if ep.Model != "" {
		out.Model = ep.Model
	}
	out.MaxTokens = anthropicMaxTokensFor(ep, req)
	if req.Temperature != nil {
		out.Temperature = ptr(min(max(*req.Temperature, 0), 1))
	}
	if req.User != "" {
		out.Metadata = &anthropicRequestMeta{UserID: req.User}
	}
	out.Thinking = anthropicThinkingFor(ep, req)
	if out.Thinking != nil {
		out.Temperature = nil // Anthropic accepts only its default, 1, while thinking
	}
	var system []string
	for i, m := range req.Messages {
		var role string
		var blocks []anthropicBlock
		switch m.Role {
		case RoleSystem, RoleDeveloper:
			if t := m.Content.PlainText(); t != "" {
				system = append(system, t)
			}
			continue
		case RoleUser:
			role = "user"
			bs, err := anthropicContentBlocks(m.Content)
			if err != nil {
				return nil, fmt.Errorf("anthropic: message %d: %w", i, err)
			}
			blocks = bs
		case RoleAssistant:
			role = "assistant"
			if out.Thinking != nil {
				blocks = anthropicThinkingBlocks(m.Thinking)
			}
			if t := m.Content.PlainText(); t != "" {
				blocks = append(blocks, anthropicBlock{Type: "text", Text: t})
			}
			for _, tc := range m.ToolCalls {
				blocks = append(blocks, anthropicBlock{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name,
					Input: toolInput(tc.Function.Arguments)})
			}
		case RoleTool:
			role = "user"
			blocks = []anthropicBlock{{Type: "tool_result", ToolUseID: m.ToolCallID, Content: m.Content.PlainText()}}
		default:
			return nil, fmt.Errorf("anthropic: message %d: %w: role %q", i, ErrUnsupportedRequest, m.Role)
		}
		if len(blocks) == 0 {
			continue // Anthropic rejects empty content
		}
		if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == role {
			out.Messages[n-1].Content = append(out.Messages[n-1].Content, blocks...)
			continue
		}
		out.Messages = append(out.Messages, anthropicMessage{Role: role, Content: blocks})
	}
	if s := jsonModeInstruction(req.ResponseFormat); s != "" {
		system = append(system, s)
	}
	out.System = strings.Join(system, "\n\n")
	for _, t := range req.Tools {
		if t.Type != "" && t.Type != "function" {
			return nil, fmt.Errorf("anthropic: %w: tool type %q", ErrUnsupportedRequest, t.Type)
		}
		schema := t.Function.Parameters
		if len(bytes.TrimSpace(schema)) == 0 || bytes.Equal(bytes.TrimSpace(schema), []byte("null")) {
			schema = json.RawMessage(`{"type":"object","properties":{}}`) // input_schema is required
		}
		out.Tools = append(out.Tools, anthropicTool{Name: t.Function.Name, Description: t.Function.Description, InputSchema: schema})
	}
	if tc := req.ToolChoice; tc != nil && len(out.Tools) > 0 {
		switch tc.Mode {
		case ToolChoiceAuto:
			out.ToolChoice = &anthropicToolChoice{Type: "auto"}
		case ToolChoiceNone:
			out.ToolChoice = &anthropicToolChoice{Type: "none"}
		case ToolChoiceRequired:
			out.ToolChoice = &anthropicToolChoice{Type: "any"}
		case ToolChoiceFunction:
			out.ToolChoice = &anthropicToolChoice{Type: "tool", Name: tc.Function}
		}
	}
	return out, nil
}

// anthropicMaxTokensFor is the max_tokens sent for req on ep: Anthropic requires one.
func anthropicMaxTokensFor(ep Endpoint, req *ChatRequest) int {
	if n := capTokens(req.EffectiveMaxTokens(), ep.MaxTokens); n > 0 {
		return n
	}
	return DefaultAnthropicMaxTokens
}

// anthropicThinkingFor is the thinking parameter toAnthropic sends for req on ep, nil for none. ReasoningDropped
// asks it too, so that telling whether the reasoning was dropped does not translate the whole request again.
func anthropicThinkingFor(ep Endpoint, req *ChatRequest) *anthropicThinking {
	return anthropicThinkingOf(anthropicReasoningFor(ep, req), anthropicMaxTokensFor(ep, req), req.Messages)
}

// anthropicThinkingOf returns the thinking parameter for r, or nil to send none: when r is nil, when a budget
// cannot fit below maxTokens with Anthropic's minimum of 1024, or when the last assistant turn calls tools (or
// is a prefill) without a block Anthropic signed. Anthropic rejects the last case ("a final assistant message must start with
// a thinking block ... To avoid this requirement, disable thinking"); it is what a conversation looks like
// after another provider served the tool call, so the turn goes without thinking rather than failing.
func anthropicThinkingOf(r *Reasoning, maxTokens int, msgs []Message) *anthropicThinking {
	if r == nil {
		return nil
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role != RoleAssistant {
			continue
		}
		prefill := i == len(msgs)-1
		if (prefill || len(msgs[i].ToolCalls) > 0) && !slices.ContainsFunc(msgs[i].Thinking, ThinkingBlock.anthropicSigned) {
			return nil
		}
		break
	}
	if r.Adaptive {
		return &anthropicThinking{Type: "adaptive", Display: r.Display}
	}
	// An interleaved budget is the whole turn's, not this answer's: Anthropic takes it above max_tokens.
	budget := r.BudgetTokens
	if !r.Interleaved {
		budget = min(fitBestEffort(r, maxTokens), maxTokens-1)
	}
	if budget < anthropicMinThinkingBudget {
		return nil
	}
	return &anthropicThinking{Type: "enabled", BudgetTokens: budget, Display: r.Display}
}

// anthropicReasoningFor is thinkingFor, less best-effort reasoning (a chat client's reasoning_effort) that
// Anthropic would refuse together with the request's other parameters: a temperature other than 1, a top_p
// below 0.95, or a tool_choice that forces a tool. The client set those explicitly and the effort is a hint,
// so the request goes without thinking rather than failing or losing its sampling settings.
func anthropicReasoningFor(ep Endpoint, req *ChatRequest) *Reasoning {
	r := thinkingFor(ep, req)
	if r == nil || !r.BestEffort {
		return r
	}
	forced := req.ToolChoice != nil && len(req.Tools) > 0 &&
		(req.ToolChoice.Mode == ToolChoiceRequired || req.ToolChoice.Mode == ToolChoiceFunction)
	if (req.Temperature != nil && *req.Temperature != 1) || (req.TopP != nil && *req.TopP < anthropicThinkingMinTopP) || forced {
		return nil
	}
	return r
}

// anthropicThinkingBlocks returns the blocks of a turn's thinking that Anthropic accepts back: those it signed
// and redacted ones, unchanged and in order.
func anthropicThinkingBlocks(thinking []ThinkingBlock) []anthropicBlock {
	var blocks []anthropicBlock
	for _, b := range thinking {
		switch {
		case b.RedactedData != "":
			blocks = append(blocks, anthropicBlock{Type: "redacted_thinking", Data: b.RedactedData})
		case b.Signature != "":
			blocks = append(blocks, anthropicBlock{Type: "thinking", Thinking: ptr(b.Text), Signature: b.Signature})
		}
	}
	return blocks
}

// toolInput turns OpenAI's arguments string into the object Anthropic wants; anything that is not a JSON object
// (an empty string from a model that called without arguments) becomes {}.
func toolInput(args string) json.RawMessage {
	raw := json.RawMessage(strings.TrimSpace(args))
	if len(raw) > 0 && raw[0] == '{' && json.Valid(raw) {
		return raw
	}
	return json.RawMessage("{}")
}

func anthropicContentBlocks(c *Content) ([]anthropicBlock, error) {
	if c == nil {
		return nil, nil
	}
	if c.Parts == nil {
		if c.Text == "" {
			return nil, nil
		}
		return []anthropicBlock{{Type: "text", Text: c.Text}}, nil
	}
	var blocks []anthropicBlock
	for _, p := range c.Parts {
		switch p.Type {
		case PartText:
			if p.Text != "" {
				blocks = append(blocks, anthropicBlock{Type: "text", Text: p.Text})
			}
		case PartImageURL:
			if p.ImageURL == nil {
				return nil, fmt.Errorf("%w: image_url part without url", ErrUnsupportedRequest)
			}
			src, err := anthropicImage(p.ImageURL.URL)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, anthropicBlock{Type: "image", Source: src})
		default:
			return nil, fmt.Errorf("%w: content part type %q", ErrUnsupportedRequest, p.Type)
		}
	}
	return blocks, nil
}

func anthropicImage(u string) (*anthropicImageSource, error) {
	if strings.HasPrefix(u, "data:") {
		mediaType, data, err := parseDataURL(u)
		if err != nil {
			return nil, err
		}
		return &anthropicImageSource{Type: "base64", MediaType: mediaType, Data: data}, nil
	}
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return &anthropicImageSource{Type: "url", URL: u}, nil
	}
	return nil, fmt.Errorf("%w: image URL scheme (want data:, http: or https:)", ErrUnsupportedRequest)
}

// parseDataURL splits data:<media type>;base64,<data>. Only base64 data URLs are accepted: both Anthropic and
// Gemini take base64 payloads.
func parseDataURL(u string) (mediaType, data string, err error) {
	meta, payload, ok := strings.Cut(strings.TrimPrefix(u, "data:"), ",")
	if !ok || !strings.HasSuffix(meta, ";base64") {
		return "", "", fmt.Errorf("%w: image data URL must be base64-encoded", ErrUnsupportedRequest)
	}
	mediaType = strings.TrimSuffix(meta, ";base64")
	if mediaType == "" {
		return "", "", fmt.Errorf("%w: image data URL without media type", ErrUnsupportedRequest)
	}
	return mediaType, payload, nil
}

// anthropicStream translates Anthropic's SSE event sequence into OpenAI chunks.
type anthropicStream struct {
	body    io.ReadCloser
	sse     *sseReader
	id      string
	model   string
	created int64
	usage   anthropicUsage
	// tools maps Anthropic content block indexes (which count text blocks too) to OpenAI tool_call indexes
	// (which count only tool calls).
	tools   map[int]int
	stopped bool // message_stop seen and the usage chunk returned
}

type anthropicEvent struct {
	Type         string             `json:"type"`
	Message      *anthropicResponse `json:"message"`
	Index        int                `json:"index"`
	ContentBlock *anthropicContent  `json:"content_block"`
	Delta        *struct {
		Type         string  `json:"type"`
		Text         string  `json:"text"`
		PartialJSON  string  `json:"partial_json"`
		Thinking     string  `json:"thinking"`
		Signature    string  `json:"signature"`
		StopReason   string  `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
	} `json:"delta"`
	Usage *anthropicUsage `json:"usage"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

func (s *anthropicStream) chunk(d Delta, finish *string) *StreamChunk {
	return &StreamChunk{ID: s.id, Object: ObjectChatCompletionChunk, Created: s.created, Model: s.model,
		Choices: []ChunkChoice{{Index: 0, Delta: d, FinishReason: finish}}}
}

func (s *anthropicStream) Next() (*StreamChunk, error) {
	if s.stopped {
		return nil, io.EOF
	}
	for {
		ev, err := s.sse.next()
		if err != nil {
			return nil, interrupted(ProviderAnthropic, err)
		}
		if len(bytes.TrimSpace(ev.Data)) == 0 {
			continue
		}
		var e anthropicEvent
		if err := unmarshalJSON(ev.Data, &e); err != nil {
			return nil, malformedErr(ProviderAnthropic, err)
		}
		switch e.Type {
		case "message_start":
			if e.Message != nil {
				s.id, s.model = e.Message.ID, e.Message.Model
				s.mergeUsage(e.Message.Usage)
			}
			return s.chunk(Delta{Role: RoleAssistant, Content: ptr("")}, nil), nil
		case "content_block_start":
			cb := e.ContentBlock
			if cb == nil {
				continue
			}
			switch cb.Type {
			case "tool_use":
				idx := len(s.tools)
				s.tools[e.Index] = idx
				return s.chunk(Delta{ToolCalls: []ToolCall{{Index: ptr(idx), ID: cb.ID, Type: "function",
					Function: FunctionCall{Name: cb.Name, Arguments: ""}}}}, nil), nil
			case "text":
				if cb.Text != "" {
					return s.chunk(Delta{Content: ptr(cb.Text)}, nil), nil
				}
			case "thinking":
				if cb.Thinking != "" {
					return s.chunk(Delta{ReasoningContent: ptr(cb.Thinking)}, nil), nil
				}
			case "redacted_thinking":
				if cb.Data != "" {
					return s.chunk(Delta{RedactedThinking: cb.Data}, nil), nil
				}
			}
		case "content_block_delta":
			if e.Delta == nil {
				continue
			}
			switch e.Delta.Type {
			case "text_delta":
				return s.chunk(Delta{Content: ptr(e.Delta.Text)}, nil), nil
			case "input_json_delta":
				idx, ok := s.tools[e.Index]
				if !ok || e.Delta.PartialJSON == "" {
					continue
				}
				return s.chunk(Delta{ToolCalls: []ToolCall{{Index: ptr(idx),
					Function: FunctionCall{Arguments: e.Delta.PartialJSON}}}}, nil), nil
			case "thinking_delta":
				if e.Delta.Thinking != "" {
					return s.chunk(Delta{ReasoningContent: ptr(e.Delta.Thinking)}, nil), nil
				}
			case "signature_delta":
				if e.Delta.Signature != "" {
					return s.chunk(Delta{ThinkingSignature: e.Delta.Signature}, nil), nil
				}
			}
			// citations_delta: nothing in the neutral shape carries it.
		case "message_delta":
			if e.Usage != nil {
				s.mergeUsage(*e.Usage)
			}
			if e.Delta != nil && e.Delta.StopReason != "" {
				c := s.chunk(Delta{}, ptr(anthropicFinish(e.Delta.StopReason)))
				c.Choices[0].StopSequence = matchedStop(e.Delta.StopReason, e.Delta.StopSequence)
				return c, nil
			}
		case "message_stop":
			s.stopped = true
			return &StreamChunk{ID: s.id, Object: ObjectChatCompletionChunk, Created: s.created, Model: s.model,
				Choices: []ChunkChoice{}, Usage: s.usage.normalize().OpenAI()}, nil
		case "error":
			if e.Error == nil {
				return nil, errStreamEvent(ProviderAnthropic, "error", "")
			}
			return nil, errStreamEvent(ProviderAnthropic, e.Error.Type, e.Error.Message)
		}
		// ping, content_block_stop and unknown future events carry nothing to forward.
	}
}

// mergeUsage takes every non-zero field: message_start carries the input side, message_delta the cumulative
// output (and, on newer API versions, cumulative input figures too).
func (s *anthropicStream) mergeUsage(u anthropicUsage) {
	if u.InputTokens > 0 {
		s.usage.InputTokens = u.InputTokens
	}
	if u.OutputTokens > 0 {
		s.usage.OutputTokens = u.OutputTokens
	}
	if u.CacheReadInputTokens > 0 {
		s.usage.CacheReadInputTokens = u.CacheReadInputTokens
	}
	if u.CacheCreationInputTokens > 0 {
		s.usage.CacheCreationInputTokens = u.CacheCreationInputTokens
	}
}

func (s *anthropicStream) Usage() Usage { return s.usage.normalize() }

func (s *anthropicStream) Close() error { return s.body.Close() }

var (
	_ Adapter      = (*AnthropicAdapter)(nil)
	_ StreamReader = (*anthropicStream)(nil)
)
