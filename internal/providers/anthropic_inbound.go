package providers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// This file is the inbound side of the Anthropic Messages API: the router serves POST /v1/messages by
// translating the client's request into the neutral (OpenAI-shaped) ChatRequest every adapter takes, and the
// neutral answer back into an Anthropic message or event stream. The outbound adapter (anthropic.go) does the
// opposite translation for Anthropic targets; the wire types they share are defined there.
//
// What is translated:
//   - model names the route, as for chat completions; system (a string or text blocks) becomes system messages,
//     one per block; messages with string or block content: text, image (base64 → data: URL, url → URL),
//     assistant tool_use → tool_calls, user tool_result → tool-role messages placed before the rest of that
//     user turn (string or text-block content; is_error prefixes the text with "Error: ", the only way to keep
//     the signal in the OpenAI shape); assistant thinking (with its signature) and redacted_thinking blocks →
//     Message.Thinking, which only Anthropic targets take back (signed blocks only; see ThinkingBlock).
//   - thinking {type: enabled, budget_tokens} or {type: adaptive}, with display → Reasoning, validated as
//     Anthropic validates it (budget_tokens >= 1024 and < max_tokens, or any size with the interleaved-thinking
//     beta flag, which makes it the budget of a whole assistant turn across its tool calls; temperature only 1,
//     top_p >= 0.95, no top_k, no forced tool use, no prefill that does not start with thinking), so a request
//     that Anthropic would refuse is refused whichever target serves it.
//   - tools {name, description, input_schema, strict} → function tools; tool_choice auto/any/tool/none →
//     auto/required/function/none; disable_parallel_tool_use → parallel_tool_calls false (honoured by
//     OpenAI-compatible targets only); max_tokens (required, >= 1), stop_sequences, temperature and top_p (both
//     within [0, 1], as Anthropic requires), metadata.user_id → user, stream (with usage requested, so the cost
//     of a stream is known), output_config.format json_schema → response_format json_schema.
//
// A final assistant turn (prefill) is passed on as the last message: Anthropic targets continue it, other
// providers answer after it, as the OpenAI shape has no notion of continuing a turn.
//
// Fields ignored because they are hints whose absence cannot make an answer wrong: top_k (no equivalent in the
// neutral request; a sampling detail), service_tier, speed, output_config.effort, diagnostics, and cache_control
// wherever it appears (prompt caching is the provider's business; cached tokens are still reported in usage).
//
// Fields rejected with invalid_request_error because ignoring them would silently change what the client gets:
// thinking types other than enabled, adaptive and disabled, inference_geo (data residency cannot be promised
// across targets), container, mcp_servers,
// context_management, server tools (web search, code execution, ...), document, search_result and server-tool
// content blocks, images inside tool results, and any field this list does not know, as Anthropic's own API
// rejects unknown fields.

// anthropicInboundRequest is a Messages API request as a client sends it.
type anthropicInboundRequest struct {
	Model         string                      `json:"model"`
	Messages      []anthropicInboundMessage   `json:"messages"`
	System        json.RawMessage             `json:"system"`
	MaxTokens     *int                        `json:"max_tokens"`
	StopSequences []string                    `json:"stop_sequences"`
	Stream        bool                        `json:"stream"`
	Temperature   *float64                    `json:"temperature"`
	TopP          *float64                    `json:"top_p"`
	Tools         []anthropicInboundTool      `json:"tools"`
	ToolChoice    *anthropicInboundToolChoice `json:"tool_choice"`
	Metadata      *anthropicRequestMeta       `json:"metadata"`
	// TopK is only checked for presence: it is ignored, but Anthropic refuses it with thinking.
	TopK         json.RawMessage           `json:"top_k"`
	Thinking     *anthropicInboundThinking `json:"thinking"`
	OutputConfig *struct {
		Format *struct {
			Type   string          `json:"type"`
			Schema json.RawMessage `json:"schema"`
		} `json:"format"`
	} `json:"output_config"`
}

// anthropicInboundFields are the top-level fields the decoder translates or deliberately ignores; anything else
// is refused (see anthropicRejectedFields for the reasons given for known ones).
var anthropicInboundFields = []string{"model", "messages", "system", "max_tokens", "stop_sequences", "stream",
	"temperature", "top_p", "tools", "tool_choice", "metadata", "thinking", "output_config",
	"top_k", "service_tier", "speed", "diagnostics", "cache_control"}

// anthropicRejectedFields explains the refusal of Messages API fields the router knows but cannot honour.
var anthropicRejectedFields = map[string]string{
	"inference_geo":      "the route, not the request, decides which providers and regions serve it",
	"container":          "code execution containers are an Anthropic server feature",
	"mcp_servers":        "MCP connectors are an Anthropic server feature",
	"context_management": "context editing is an Anthropic server feature",
}

// anthropicInboundThinking is the thinking parameter: {type: enabled, budget_tokens, display},
// {type: adaptive, display} or {type: disabled}.
type anthropicInboundThinking struct {
	Type         string `json:"type"`
	BudgetTokens *int   `json:"budget_tokens"`
	Display      string `json:"display"`
}

type anthropicInboundMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// anthropicInboundBlock is any content block a client may send; which fields are set depends on Type.
type anthropicInboundBlock struct {
	Type      string                `json:"type"`
	Text      string                `json:"text"`
	Source    *anthropicImageSource `json:"source"`
	ID        string                `json:"id"`
	Name      string                `json:"name"`
	Input     json.RawMessage       `json:"input"`
	ToolUseID string                `json:"tool_use_id"`
	Content   json.RawMessage       `json:"content"`
	IsError   bool                  `json:"is_error"`
	Thinking  string                `json:"thinking"`
	Signature string                `json:"signature"`
	Data      string                `json:"data"`
}

type anthropicInboundTool struct {
	anthropicTool
	// Type is empty or "custom" for a client tool; anything else names a server tool.
	Type   string `json:"type"`
	Strict *bool  `json:"strict"`
}

type anthropicInboundToolChoice struct {
	anthropicToolChoice
	DisableParallelToolUse bool `json:"disable_parallel_tool_use"`
}

// DecodeAnthropicRequest translates an Anthropic Messages API request body into a ChatRequest whose Model is the
// route the client named. Errors describe the offending field for the client (they quote no values beyond field
// and type names) and mean the request is invalid: the caller answers 400 invalid_request_error. betas are the
// request's anthropic-beta flags (ParseAnthropicBeta): they go on to Anthropic targets, and
// AnthropicBetaInterleavedThinking changes the thinking rules (see Reasoning.Interleaved).
func DecodeAnthropicRequest(data []byte, betas []string) (*ChatRequest, error) {
	return decodeAnthropicRequest(data, betas, false)
}

// decodeAnthropicRequest is DecodeAnthropicRequest; counting marks a count_tokens body, whose max_tokens bounds
// nothing the client sent, so the thinking budget is not compared with it.
func decodeAnthropicRequest(data []byte, betas []string, counting bool) (*ChatRequest, error) {
	if i := skipSpace(data, 0); i >= len(data) || data[i] != '{' {
		return nil, errors.New("invalid JSON body: the request body must be a JSON object")
	}
	var in anthropicInboundRequest
	extra, err := decodeWithExtra(data, &in, anthropicInboundFields, false)
	if err != nil {
		return nil, fmt.Errorf("invalid JSON body: %w", jsonError(err))
	}
	if err := refuseFields(extra); err != nil {
		return nil, err
	}
	if in.Model == "" {
		return nil, errors.New("model is required: it names the route (RoutePolicy) to use")
	}
	if in.MaxTokens == nil {
		return nil, errors.New("max_tokens is required: the maximum number of tokens to generate, an integer >= 1")
	}
	if *in.MaxTokens < 1 {
		return nil, fmt.Errorf("max_tokens must be at least 1, got %d", *in.MaxTokens)
	}
	if t := in.Temperature; t != nil && (*t < 0 || *t > 1) {
		return nil, errors.New("temperature must be between 0 and 1")
	}
	if p := in.TopP; p != nil && (*p < 0 || *p > 1) {
		return nil, errors.New("top_p must be between 0 and 1")
	}
	if len(in.Messages) == 0 {
		return nil, errors.New("messages: at least one message is required")
	}
	reasoning, err := anthropicReasoning(&in, slices.Contains(betas, AnthropicBetaInterleavedThinking), counting)
	if err != nil {
		return nil, err
	}

	out := &ChatRequest{Model: in.Model, MaxTokens: in.MaxTokens, Temperature: in.Temperature, TopP: in.TopP,
		Stop: in.StopSequences, Stream: in.Stream, Reasoning: reasoning, AnthropicBeta: betas}
	if in.Stream {
		// The router needs the usage of a stream for its cost; the adapters ask upstream for it anyway, and
		// saying so here keeps the request honest about what the answer carries.
		out.StreamOptions = &StreamOptions{IncludeUsage: true}
	}
	if in.Metadata != nil && in.Metadata.UserID != "" {
		out.User = in.Metadata.UserID
	}
	if out.Messages, err = anthropicSystem(in.System); err != nil {
		return nil, err
	}
	system := len(out.Messages)
	for i, m := range in.Messages {
		msgs, err := fromAnthropicMessage(m)
		if err != nil {
			return nil, fmt.Errorf("messages[%d]: %w", i, err)
		}
		out.Messages = append(out.Messages, msgs...)
	}
	if len(out.Messages) == system {
		return nil, errors.New("messages: nothing to send once thinking and empty assistant turns are dropped")
	}
	if err := fromAnthropicTools(out, in.Tools, in.ToolChoice); err != nil {
		return nil, err
	}
	if oc := in.OutputConfig; oc != nil && oc.Format != nil {
		if oc.Format.Type != "json_schema" || len(bytes.TrimSpace(oc.Format.Schema)) == 0 {
			return nil, errors.New(`output_config.format: only {"type":"json_schema","schema":{...}} is supported`)
		}
		out.ResponseFormat = &ResponseFormat{Type: FormatJSONSchema,
			JSONSchema: &JSONSchema{Name: "output", Schema: oc.Format.Schema}}
	}
	return out, nil
}

// anthropicThinkingDocs is where Anthropic's own errors about thinking send the reader.
const anthropicThinkingDocs = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"

// anthropicReasoning validates the thinking parameter, and the fields Anthropic does not allow with it, as
// Anthropic does, so a request is refused (or not) the same whichever target the route picks; the messages
// follow Anthropic's. It returns nil for no thinking. With interleaved (the client sent the interleaved-thinking
// beta flag) budget_tokens may exceed max_tokens, as Anthropic then allows; counting (count_tokens, which takes
// no max_tokens) does not compare them either.
func anthropicReasoning(in *anthropicInboundRequest, interleaved, counting bool) (*Reasoning, error) {
	th := in.Thinking
	if th == nil || th.Type == "disabled" {
		return nil, nil
	}
	r := &Reasoning{Display: th.Display}
	switch th.Type {
	case "enabled":
		if th.BudgetTokens == nil {
			return nil, errors.New("thinking.enabled.budget_tokens: Field required")
		}
		if *th.BudgetTokens < anthropicMinThinkingBudget {
			return nil, fmt.Errorf("thinking.enabled.budget_tokens: Input should be greater than or equal to %d, got %d",
				anthropicMinThinkingBudget, *th.BudgetTokens)
		}
		if *th.BudgetTokens >= *in.MaxTokens && !interleaved && !counting {
			return nil, fmt.Errorf("`max_tokens` must be greater than `thinking.budget_tokens` (got max_tokens %d, "+
				"budget_tokens %d). Please consult our documentation at %s#max-tokens-and-context-window-size",
				*in.MaxTokens, *th.BudgetTokens, anthropicThinkingDocs)
		}
		r.BudgetTokens, r.Interleaved = *th.BudgetTokens, interleaved
	case "adaptive":
		if th.BudgetTokens != nil {
			return nil, errors.New("thinking.adaptive.budget_tokens: Extra inputs are not permitted " +
				`(adaptive thinking has no budget; use {"type":"enabled","budget_tokens":N} for one)`)
		}
		r.Adaptive = true
	case "":
		return nil, errors.New(`thinking.type: Field required (one of "enabled", "adaptive", "disabled")`)
	default:
		return nil, fmt.Errorf(`thinking.type: Input tag %s does not match any of the expected tags: `+
			`"enabled", "adaptive", "disabled"`, strconv.Quote(truncateName(th.Type)))
	}
	switch th.Display {
	case "", ThinkingDisplaySummarized, ThinkingDisplayOmitted:
	default:
		return nil, fmt.Errorf(`thinking.%s.display: Input should be "summarized" or "omitted", got %s`,
			th.Type, strconv.Quote(truncateName(th.Display)))
	}
	compat := anthropicThinkingDocs + "#feature-compatibility"
	switch {
	case in.Temperature != nil && *in.Temperature != 1:
		return nil, fmt.Errorf("`temperature` may only be set to 1 when thinking is enabled. Please consult our "+
			"documentation at %s", compat)
	case in.TopP != nil && *in.TopP < anthropicThinkingMinTopP:
		return nil, fmt.Errorf("`top_p` must be greater than or equal to %v or unset when thinking is enabled. "+
			"Please consult our documentation at %s", anthropicThinkingMinTopP, compat)
	case len(in.TopK) > 0 && string(bytes.TrimSpace(in.TopK)) != "null":
		return nil, fmt.Errorf("`top_k` must be unset when thinking is enabled. Please consult our documentation at %s", compat)
	case in.ToolChoice != nil && (in.ToolChoice.Type == "any" || in.ToolChoice.Type == "tool"):
		return nil, fmt.Errorf("Thinking may not be enabled when tool_choice forces tool use. Please consult our "+ //nolint:staticcheck // Anthropic's wording
			"documentation at %s", compat)
	}
	if last := in.Messages[len(in.Messages)-1]; last.Role == RoleAssistant {
		// A prefill: Anthropic continues it only when it starts with the turn's thinking.
		if blocks, err := anthropicBlocks(last.Content); err == nil && (len(blocks) == 0 ||
			(blocks[0].Type != "thinking" && blocks[0].Type != "redacted_thinking")) {
			return nil, fmt.Errorf("messages.%d.content.0.type: Expected `thinking` or `redacted_thinking`. When "+
				"`thinking` is enabled, a final `assistant` message must start with a thinking block. To avoid this "+
				"requirement, disable `thinking`. Please consult our documentation at %s", len(in.Messages)-1,
				anthropicThinkingDocs)
		}
	}
	return r, nil
}

// refuseFields turns the first (in name order, so the message is stable) field the decoder does not handle into
// an error; fields sent as null count as absent.
func refuseFields(extra map[string]json.RawMessage) error {
	names := make([]string, 0, len(extra))
	for k, v := range extra {
		if string(bytes.TrimSpace(v)) != "null" {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	name := names[0]
	if why, ok := anthropicRejectedFields[name]; ok {
		return fmt.Errorf("%s is not supported: %s", name, why)
	}
	return fmt.Errorf("unknown or unsupported field %s", strconv.Quote(truncateName(name)))
}

// jsonError rewords a type mismatch in the client's JSON by field path and JSON kinds, instead of the Go type
// names encoding/json reports; other errors (syntax) are already in the client's terms.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return err
	}
	want := "a different type"
	if te.Type != nil {
		switch k := te.Type.Kind(); k {
		case reflect.Slice, reflect.Array:
			want = "an array"
		case reflect.Struct, reflect.Map:
			want = "an object"
		case reflect.String:
			want = "a string"
		case reflect.Bool:
			want = "a boolean"
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			want = "an integer"
		case reflect.Float32, reflect.Float64:
			want = "a number"
		}
	}
	field := te.Field
	if field == "" {
		field = "value"
	}
	return fmt.Errorf("%s: expected %s, got %s", truncateName(field), want, te.Value)
}

// truncateName bounds a client-chosen field name quoted in an error.
func truncateName(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// anthropicSystem turns the system prompt into system messages, one per text block, so adapters that join
// system messages keep the blocks apart.
func anthropicSystem(raw json.RawMessage) ([]Message, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	blocks, err := anthropicBlocks(raw)
	if err != nil {
		return nil, fmt.Errorf("system: %w", err)
	}
	var msgs []Message
	for i, b := range blocks {
		if b.Type != "text" {
			return nil, fmt.Errorf("system[%d]: only text blocks are allowed, got %s", i, strconv.Quote(truncateName(b.Type)))
		}
		if b.Text != "" {
			msgs = append(msgs, Message{Role: RoleSystem, Content: TextContent(b.Text)})
		}
	}
	return msgs, nil
}

// anthropicBlocks decodes content that is a string (one text block) or an array of blocks.
func anthropicBlocks(raw json.RawMessage) ([]anthropicInboundBlock, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil, errors.New("content is required")
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("content: %w", jsonError(err))
		}
		return []anthropicInboundBlock{{Type: "text", Text: s}}, nil
	case raw[0] == '[':
		var blocks []anthropicInboundBlock
		if err := json.Unmarshal(raw, &blocks); err != nil {
			return nil, fmt.Errorf("content: %w", jsonError(err))
		}
		return blocks, nil
	}
	return nil, errors.New("content must be a string or an array of content blocks")
}

// fromAnthropicMessage translates one Anthropic turn into one or more OpenAI messages.
func fromAnthropicMessage(m anthropicInboundMessage) ([]Message, error) {
	blocks, err := anthropicBlocks(m.Content)
	if err != nil {
		return nil, err
	}
	switch m.Role {
	case RoleUser:
		return fromAnthropicUser(blocks)
	case RoleAssistant:
		msg, err := fromAnthropicAssistant(blocks)
		if err != nil || msg == nil {
			return nil, err
		}
		return []Message{*msg}, nil
	}
	return nil, fmt.Errorf("role must be \"user\" or \"assistant\", got %s", strconv.Quote(truncateName(m.Role)))
}

// fromAnthropicUser returns the turn's tool results as tool-role messages, first (OpenAI wants them right after
// the assistant's tool calls, and Anthropic wants them first in the turn anyway), then the rest as one user
// message.
func fromAnthropicUser(blocks []anthropicInboundBlock) ([]Message, error) {
	var msgs []Message
	var parts []ContentPart
	for i, b := range blocks {
		switch b.Type {
		case "text":
			parts = append(parts, ContentPart{Type: PartText, Text: b.Text})
		case "image":
			u, err := anthropicImageURL(b.Source)
			if err != nil {
				return nil, fmt.Errorf("content[%d]: %w", i, err)
			}
			parts = append(parts, ContentPart{Type: PartImageURL, ImageURL: &ImageURL{URL: u}})
		case "tool_result":
			if b.ToolUseID == "" {
				return nil, fmt.Errorf("content[%d]: tool_result needs tool_use_id", i)
			}
			text, err := toolResultText(b.Content)
			if err != nil {
				return nil, fmt.Errorf("content[%d]: %w", i, err)
			}
			if b.IsError {
				text = strings.TrimSpace("Error: " + text)
			}
			msgs = append(msgs, Message{Role: RoleTool, ToolCallID: b.ToolUseID, Content: TextContent(text)})
		default:
			return nil, fmt.Errorf("content[%d]: %w", i, unsupportedBlock(b.Type, "user"))
		}
	}
	if c := partsContent(parts); c != nil {
		msgs = append(msgs, Message{Role: RoleUser, Content: c})
	}
	return msgs, nil
}

// fromAnthropicAssistant returns the assistant turn, or nil when nothing in it can be carried over.
func fromAnthropicAssistant(blocks []anthropicInboundBlock) (*Message, error) {
	msg := &Message{Role: RoleAssistant}
	var parts []ContentPart
	for i, b := range blocks {
		switch b.Type {
		case "text":
			parts = append(parts, ContentPart{Type: PartText, Text: b.Text})
		case "tool_use":
			if b.ID == "" || b.Name == "" {
				return nil, fmt.Errorf("content[%d]: tool_use needs id and name", i)
			}
			args, err := toolArguments(b.Input)
			if err != nil {
				return nil, fmt.Errorf("content[%d]: tool_use input: %w", i, err)
			}
			msg.ToolCalls = append(msg.ToolCalls, ToolCall{ID: b.ID, Type: "function",
				Function: FunctionCall{Name: b.Name, Arguments: args}})
		case "thinking":
			msg.Thinking = append(msg.Thinking, ThinkingBlock{Text: b.Thinking, Signature: b.Signature})
		case "redacted_thinking":
			if b.Data == "" {
				return nil, fmt.Errorf("content[%d]: redacted_thinking needs data", i)
			}
			msg.Thinking = append(msg.Thinking, ThinkingBlock{RedactedData: b.Data})
		default:
			return nil, fmt.Errorf("content[%d]: %w", i, unsupportedBlock(b.Type, "assistant"))
		}
	}
	msg.Content = partsContent(parts)
	if msg.Content == nil && len(msg.ToolCalls) == 0 {
		// Thinking alone (an answer cut by max_tokens while thinking) is no turn any target can take back.
		return nil, nil
	}
	return msg, nil
}

func unsupportedBlock(typ, role string) error {
	return fmt.Errorf("content block type %s is not supported in %s messages (supported: %s)",
		strconv.Quote(truncateName(typ)), role, map[string]string{
			"user":      "text, image, tool_result",
			"assistant": "text, tool_use, thinking, redacted_thinking",
		}[role])
}

// partsContent keeps a single text block as plain string content, which every OpenAI-compatible provider
// accepts, and anything else as parts; nil when there is nothing.
func partsContent(parts []ContentPart) *Content {
	switch {
	case len(parts) == 0:
		return nil
	case len(parts) == 1 && parts[0].Type == PartText:
		return TextContent(parts[0].Text)
	}
	return &Content{Parts: parts}
}

// anthropicImageURL turns an image source into the URL form of the neutral request.
func anthropicImageURL(src *anthropicImageSource) (string, error) {
	if src == nil {
		return "", errors.New("image needs a source")
	}
	switch src.Type {
	case "base64":
		if src.MediaType == "" || src.Data == "" {
			return "", errors.New("base64 image source needs media_type and data")
		}
		return "data:" + src.MediaType + ";base64," + src.Data, nil
	case "url":
		if !strings.HasPrefix(src.URL, "https://") && !strings.HasPrefix(src.URL, "http://") {
			return "", errors.New("url image source needs an http(s) url")
		}
		return src.URL, nil
	}
	return "", fmt.Errorf("image source type %s is not supported (supported: base64, url)", strconv.Quote(truncateName(src.Type)))
}

// toolResultText returns a tool result's content, a string or text blocks joined by newlines.
func toolResultText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	blocks, err := anthropicBlocks(raw)
	if err != nil {
		return "", fmt.Errorf("tool_result %w", err)
	}
	texts := make([]string, 0, len(blocks))
	for _, b := range blocks {
		if b.Type != "text" {
			return "", fmt.Errorf("tool_result content block type %s is not supported (only text: tool messages "+
				"carry no images in the OpenAI shape)", strconv.Quote(truncateName(b.Type)))
		}
		texts = append(texts, b.Text)
	}
	return strings.Join(texts, "\n"), nil
}

// toolArguments encodes a tool_use input object as OpenAI's compact arguments string.
func toolArguments(input json.RawMessage) (string, error) {
	input = bytes.TrimSpace(input)
	if len(input) == 0 || string(input) == "null" {
		return "{}", nil
	}
	if input[0] != '{' {
		return "", errors.New("must be a JSON object")
	}
	return compactArgs(input), nil
}

// fromAnthropicTools translates tools and tool_choice. A tool_choice without tools is dropped, as the outbound
// adapters do: OpenAI rejects one.
func fromAnthropicTools(out *ChatRequest, tools []anthropicInboundTool, choice *anthropicInboundToolChoice) error {
	for i, t := range tools {
		if t.Type != "" && t.Type != "custom" {
			return fmt.Errorf("tools[%d]: tool type %s is not supported: only client tools (name, description, "+
				"input_schema) can be routed to every provider", i, strconv.Quote(truncateName(t.Type)))
		}
		if t.Name == "" {
			return fmt.Errorf("tools[%d]: name is required", i)
		}
		if s := bytes.TrimSpace(t.InputSchema); len(s) == 0 || s[0] != '{' {
			return fmt.Errorf("tools[%d]: input_schema is required and must be a JSON Schema object", i)
		}
		out.Tools = append(out.Tools, Tool{Type: "function", Function: FunctionDef{Name: t.Name,
			Description: t.Description, Parameters: t.InputSchema, Strict: t.Strict}})
	}
	if choice == nil {
		return nil
	}
	var tc ToolChoice
	switch choice.Type {
	case "auto":
		tc.Mode = ToolChoiceAuto
	case "any":
		tc.Mode = ToolChoiceRequired
	case "none":
		tc.Mode = ToolChoiceNone
	case "tool":
		if choice.Name == "" {
			return errors.New(`tool_choice: type "tool" needs a name`)
		}
		tc = ToolChoice{Mode: ToolChoiceFunction, Function: choice.Name}
	default:
		return fmt.Errorf("tool_choice: type must be auto, any, tool or none, got %s", strconv.Quote(truncateName(choice.Type)))
	}
	if len(out.Tools) == 0 {
		return nil
	}
	out.ToolChoice = &tc
	if choice.DisableParallelToolUse && tc.Mode != ToolChoiceNone {
		out.Extra = map[string]json.RawMessage{"parallel_tool_calls": json.RawMessage("false")}
	}
	return nil
}

// Anthropic stop reasons.
const (
	anthropicEndTurn      = "end_turn"
	anthropicStopSequence = "stop_sequence"
	anthropicMaxTokens    = "max_tokens"
	anthropicToolUse      = "tool_use"
	anthropicRefusal      = "refusal"
)

// anthropicStopReason maps a finish reason back onto Anthropic's stop reasons. A provider that ends with
// "stop" while calling tools (some OpenAI-compatible ones do) still means tool_use: Anthropic clients run tools
// only on that stop reason.
func anthropicStopReason(finish, stopSeq string, calledTools bool) (reason string, seq *string) {
	switch finish {
	case FinishLength:
		return anthropicMaxTokens, nil
	case FinishToolCalls, "function_call":
		return anthropicToolUse, nil
	case FinishContentFilter:
		return anthropicRefusal, nil
	}
	if calledTools {
		return anthropicToolUse, nil
	}
	if stopSeq != "" {
		return anthropicStopSequence, &stopSeq
	}
	return anthropicEndTurn, nil
}

// anthropicOutMessage is the Anthropic message the router answers with.
type anthropicOutMessage struct {
	ID           string              `json:"id"`
	Type         string              `json:"type"`
	Role         string              `json:"role"`
	Model        string              `json:"model"`
	Content      []anthropicOutBlock `json:"content"`
	StopReason   *string             `json:"stop_reason"`
	StopSequence *string             `json:"stop_sequence"`
	Usage        anthropicUsage      `json:"usage"`
}

// anthropicOutBlock is a thinking, redacted_thinking, text or tool_use content block of an answer.
type anthropicOutBlock struct {
	Type  string          `json:"type"`
	Text  *string         `json:"text,omitempty"`
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
	// Thinking and Signature are both always present in a thinking block, empty or not.
	Thinking  *string `json:"thinking,omitempty"`
	Signature *string `json:"signature,omitempty"`
	Data      string  `json:"data,omitempty"`
}

// anthropicThinkingOut returns the answer block of one thinking block. Reasoning from a provider that signs
// nothing gets an empty signature: the client may send the block back, and the router drops unsigned blocks
// on the way to an Anthropic target, which would reject them.
func anthropicThinkingOut(b ThinkingBlock) anthropicOutBlock {
	if b.RedactedData != "" {
		return anthropicOutBlock{Type: "redacted_thinking", Data: b.RedactedData}
	}
	return anthropicOutBlock{Type: "thinking", Thinking: ptr(b.Text), Signature: ptr(b.Signature)}
}

// anthropicUsageOf splits normalized usage back into Anthropic's fields: input_tokens excludes cache reads.
// Cache writes cannot be told apart once normalized, so they count as input_tokens and
// cache_creation_input_tokens is 0; the total is exact.
func anthropicUsageOf(u Usage) anthropicUsage {
	cached := min(max(u.CachedInputTokens, 0), max(u.InputTokens, 0))
	return anthropicUsage{InputTokens: max(u.InputTokens-cached, 0), OutputTokens: u.OutputTokens,
		CacheReadInputTokens: cached}
}

// anthropicMessageID returns an id in Anthropic's msg_ form: the provider's id, prefixed when it lacks the
// prefix, else the router's request id.
func anthropicMessageID(id, fallback string) string {
	if id == "" {
		id = fallback
	}
	if strings.HasPrefix(id, "msg_") {
		return id
	}
	return "msg_" + id
}

// toolUseInput turns an OpenAI arguments string into the input object of a tool_use block. Arguments that are
// not a JSON object cannot be expressed in Anthropic's shape; they are an error (the caller answers 502), never
// dropped or replaced.
func toolUseInput(tc ToolCall) (json.RawMessage, error) {
	args := bytes.TrimSpace([]byte(tc.Function.Arguments))
	if len(args) == 0 {
		return json.RawMessage("{}"), nil
	}
	if args[0] != '{' || !json.Valid(args) {
		return nil, fmt.Errorf("%w: tool call %s has arguments that are not a JSON object, which Anthropic's "+
			"tool_use input must be", ErrMalformedResponse, strconv.Quote(truncateName(tc.Function.Name)))
	}
	return json.RawMessage(args), nil
}

// MarshalAnthropicMessage encodes a chat response as an Anthropic Messages API message. requestID stands in
// for a missing response id and model for a missing model. thinking says the request asked for thinking: the
// answer's reasoning then comes first as thinking blocks (signed when Anthropic answered); without it, as with
// Anthropic, there are none. It fails (wrapping ErrMalformedResponse) when the response has no choice or a tool
// call's arguments are not a JSON object.
func MarshalAnthropicMessage(resp *ChatResponse, requestID, model string, thinking bool) ([]byte, error) {
	if resp == nil || len(resp.Choices) == 0 {
		return nil, fmt.Errorf("%w: the response has no choices", ErrMalformedResponse)
	}
	ch := resp.Choices[0]
	msg := anthropicOutMessage{ID: anthropicMessageID(resp.ID, requestID), Type: "message", Role: RoleAssistant,
		Model: resp.Model, Content: []anthropicOutBlock{}, Usage: anthropicUsageOf(resp.Usage.Normalize())}
	if msg.Model == "" {
		msg.Model = model
	}
	if thinking {
		for _, b := range ch.Message.ThinkingBlocks() {
			msg.Content = append(msg.Content, anthropicThinkingOut(b))
		}
	}
	text := ""
	if ch.Message.Content != nil {
		text = *ch.Message.Content
	}
	if text == "" && ch.Message.Refusal != nil {
		text = *ch.Message.Refusal
	}
	if text != "" {
		msg.Content = append(msg.Content, anthropicOutBlock{Type: "text", Text: &text})
	}
	for i, tc := range ch.Message.ToolCalls {
		input, err := toolUseInput(tc)
		if err != nil {
			return nil, err
		}
		msg.Content = append(msg.Content, anthropicOutBlock{Type: anthropicToolUse, ID: toolUseID(tc.ID, msg.ID, i),
			Name: tc.Function.Name, Input: input})
	}
	reason, seq := anthropicStopReason(ch.FinishReason, ch.StopSequence, len(ch.Message.ToolCalls) > 0)
	msg.StopReason, msg.StopSequence = &reason, seq
	b, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
	}
	return b, nil
}

// toolUseID returns the call's id, or one made up from the message id when the provider sent none: Anthropic
// clients need an id to send the result back.
func toolUseID(id, msgID string, n int) string {
	if id != "" {
		return id
	}
	return "toolu_" + strings.TrimPrefix(msgID, "msg_") + "_" + strconv.Itoa(n)
}

// AnthropicStreamEncoder writes a stream of chat chunks as the Anthropic Messages event sequence: message_start,
// then for each content block content_block_start, content_block_delta (thinking_delta and signature_delta,
// text_delta, or input_json_delta) and content_block_stop, then message_delta (stop reason and usage) and
// message_stop. Blocks are sequential: a block is stopped when the next one starts; a thinking block's signature
// ends it, so the next reasoning fragment starts another. Reasoning is encoded only when the request asked for
// thinking. Use Start with the first chunk, Chunk for each further one, and Finish after the upstream's
// terminator; each appends complete server-sent events to a buffer.
type AnthropicStreamEncoder struct {
	id, model string
	thinking  bool // the request asked for thinking
	blocks    int  // blocks started so far; the open one, if any, is blocks-1
	open      bool
	openTool  *streamTool // the open block's tool call; nil for a text or thinking block
	// openThinking says the open block is a thinking block; signed, that its signature was sent.
	openThinking, signed bool
	tools                map[int]*streamTool
	finish               string
	stopSeq              string
}

type streamTool struct {
	block int
	name  string
	args  bytes.Buffer
	done  bool
}

// NewAnthropicStreamEncoder returns an encoder; requestID and model stand in for a stream without id or model,
// and thinking says the request asked for thinking (see MarshalAnthropicMessage).
func NewAnthropicStreamEncoder(requestID, model string, thinking bool) *AnthropicStreamEncoder {
	return &AnthropicStreamEncoder{id: requestID, model: model, thinking: thinking, tools: map[int]*streamTool{}}
}

// Start appends message_start, with the usage known so far (input tokens, when the provider sends them first),
// and the events of the first chunk.
func (e *AnthropicStreamEncoder) Start(buf []byte, first *StreamChunk, u Usage) ([]byte, error) {
	if first != nil {
		e.id = anthropicMessageID(first.ID, e.id)
		if first.Model != "" {
			e.model = first.Model
		}
	} else {
		e.id = anthropicMessageID("", e.id)
	}
	start := struct {
		Type    string              `json:"type"`
		Message anthropicOutMessage `json:"message"`
	}{Type: "message_start", Message: anthropicOutMessage{ID: e.id, Type: "message", Role: RoleAssistant,
		Model: e.model, Content: []anthropicOutBlock{}, Usage: anthropicUsageOf(Usage{InputTokens: u.InputTokens,
			CachedInputTokens: u.CachedInputTokens})}}
	buf, err := appendEvent(buf, "message_start", start)
	if err != nil || first == nil {
		return buf, err
	}
	return e.Chunk(buf, first)
}

// Chunk appends the events of one chunk. Usage-only chunks add nothing: the usage goes into message_delta.
func (e *AnthropicStreamEncoder) Chunk(buf []byte, c *StreamChunk) ([]byte, error) {
	if c == nil {
		return buf, nil
	}
	var err error
	for i := range c.Choices {
		ch := &c.Choices[i]
		if ch.Index != 0 {
			continue // the Messages API has one answer; the router never asks for more
		}
		if e.thinking {
			if buf, err = e.reasoning(buf, &ch.Delta); err != nil {
				return buf, err
			}
		}
		if d := ch.Delta.Content; d != nil && *d != "" {
			if buf, err = e.text(buf, *d); err != nil {
				return buf, err
			}
		}
		for j := range ch.Delta.ToolCalls {
			if buf, err = e.toolCall(buf, &ch.Delta.ToolCalls[j], j); err != nil {
				return buf, err
			}
		}
		if ch.FinishReason != nil {
			e.finish, e.stopSeq = *ch.FinishReason, ch.StopSequence
		}
	}
	return buf, nil
}

// reasoning appends the thinking of one delta: a redacted block, reasoning text (into the open thinking block
// unless it is signed, else a new one), and a signature (ending the open thinking block, or a block of its own
// when the thinking text is omitted).
func (e *AnthropicStreamEncoder) reasoning(buf []byte, d *Delta) ([]byte, error) {
	var err error
	if d.RedactedThinking != "" {
		if buf, err = e.stop(buf); err != nil {
			return buf, err
		}
		if buf, err = e.startBlock(buf, anthropicOutBlock{Type: "redacted_thinking", Data: d.RedactedThinking}, nil); err != nil {
			return buf, err
		}
		if buf, err = e.stop(buf); err != nil {
			return buf, err
		}
	}
	if t := d.ReasoningContent; t != nil && *t != "" {
		if buf, err = e.thinkingBlock(buf); err != nil {
			return buf, err
		}
		buf, err = appendEvent(buf, "content_block_delta", blockDelta{Type: "content_block_delta", Index: e.blocks - 1,
			Delta: deltaBody{Type: "thinking_delta", Thinking: t}})
		if err != nil {
			return buf, err
		}
	}
	if sig := d.ThinkingSignature; sig != "" {
		if buf, err = e.thinkingBlock(buf); err != nil {
			return buf, err
		}
		e.signed = true
		return appendEvent(buf, "content_block_delta", blockDelta{Type: "content_block_delta", Index: e.blocks - 1,
			Delta: deltaBody{Type: "signature_delta", Signature: &sig}})
	}
	return buf, nil
}

// thinkingBlock makes sure an unsigned thinking block is open.
func (e *AnthropicStreamEncoder) thinkingBlock(buf []byte) ([]byte, error) {
	if e.open && e.openThinking && !e.signed {
		return buf, nil
	}
	buf, err := e.stop(buf)
	if err != nil {
		return buf, err
	}
	return e.startBlock(buf, anthropicOutBlock{Type: "thinking", Thinking: ptr(""), Signature: ptr("")}, nil)
}

func (e *AnthropicStreamEncoder) text(buf []byte, s string) ([]byte, error) {
	var err error
	if !e.open || e.openTool != nil || e.openThinking {
		if buf, err = e.stop(buf); err != nil {
			return buf, err
		}
		buf, err = e.startBlock(buf, anthropicOutBlock{Type: "text", Text: ptr("")}, nil)
		if err != nil {
			return buf, err
		}
	}
	return appendEvent(buf, "content_block_delta", blockDelta{Type: "content_block_delta", Index: e.blocks - 1,
		Delta: deltaBody{Type: "text_delta", Text: &s}})
}

// toolCall handles one tool-call fragment: the first fragment of a call (by its stream index) starts a tool_use
// block, and argument fragments become input_json_delta events. Fragments of a call whose block was already
// stopped cannot be placed in a sequential stream: that is an error, not a silent drop.
func (e *AnthropicStreamEncoder) toolCall(buf []byte, tc *ToolCall, pos int) ([]byte, error) {
	idx := pos
	if tc.Index != nil {
		idx = *tc.Index
	}
	var err error
	t, ok := e.tools[idx]
	if !ok {
		if buf, err = e.stop(buf); err != nil {
			return buf, err
		}
		t = &streamTool{block: e.blocks, name: tc.Function.Name}
		e.tools[idx] = t
		buf, err = e.startBlock(buf, anthropicOutBlock{Type: anthropicToolUse, ID: toolUseID(tc.ID, e.id, len(e.tools)-1),
			Name: tc.Function.Name, Input: json.RawMessage("{}")}, t)
		if err != nil {
			return buf, err
		}
	}
	if tc.Function.Arguments == "" {
		return buf, nil
	}
	if t.done {
		return buf, fmt.Errorf("%w: arguments of tool call %s arrived after the next content block started",
			ErrMalformedResponse, strconv.Quote(truncateName(t.name)))
	}
	t.args.WriteString(tc.Function.Arguments)
	return appendEvent(buf, "content_block_delta", blockDelta{Type: "content_block_delta", Index: t.block,
		Delta: deltaBody{Type: "input_json_delta", PartialJSON: &tc.Function.Arguments}})
}

func (e *AnthropicStreamEncoder) startBlock(buf []byte, b anthropicOutBlock, t *streamTool) ([]byte, error) {
	e.open, e.openTool = true, t
	e.openThinking, e.signed = b.Type == "thinking", false
	e.blocks++
	return appendEvent(buf, "content_block_start", struct {
		Type         string            `json:"type"`
		Index        int               `json:"index"`
		ContentBlock anthropicOutBlock `json:"content_block"`
	}{"content_block_start", e.blocks - 1, b})
}

// stop stops the open block. A tool call's streamed arguments must add up to a JSON object (or nothing).
func (e *AnthropicStreamEncoder) stop(buf []byte) ([]byte, error) {
	if !e.open {
		return buf, nil
	}
	if t := e.openTool; t != nil {
		t.done = true
		if _, err := toolUseInput(ToolCall{Function: FunctionCall{Name: t.name, Arguments: t.args.String()}}); err != nil {
			return buf, err
		}
	}
	e.open, e.openTool, e.openThinking = false, nil, false
	return appendEvent(buf, "content_block_stop", struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
	}{"content_block_stop", e.blocks - 1})
}

// Finish appends the end of a complete stream: the open block's stop, message_delta with the stop reason and
// the final usage, and message_stop.
func (e *AnthropicStreamEncoder) Finish(buf []byte, u Usage) ([]byte, error) {
	buf, err := e.stop(buf)
	if err != nil {
		return buf, err
	}
	reason, seq := anthropicStopReason(e.finish, e.stopSeq, len(e.tools) > 0)
	au := anthropicUsageOf(u)
	md := struct {
		Type  string `json:"type"`
		Delta struct {
			StopReason   string  `json:"stop_reason"`
			StopSequence *string `json:"stop_sequence"`
		} `json:"delta"`
		Usage anthropicUsage `json:"usage"`
	}{Type: "message_delta", Usage: au}
	md.Delta.StopReason, md.Delta.StopSequence = reason, seq
	if buf, err = appendEvent(buf, "message_delta", md); err != nil {
		return buf, err
	}
	return appendEvent(buf, "message_stop", struct {
		Type string `json:"type"`
	}{"message_stop"})
}

type blockDelta struct {
	Type  string    `json:"type"`
	Index int       `json:"index"`
	Delta deltaBody `json:"delta"`
}

type deltaBody struct {
	Type        string  `json:"type"`
	Text        *string `json:"text,omitempty"`
	PartialJSON *string `json:"partial_json,omitempty"`
	Thinking    *string `json:"thinking,omitempty"`
	Signature   *string `json:"signature,omitempty"`
}

// appendEvent appends one server-sent event: its name and its JSON data.
func appendEvent(buf []byte, name string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return buf, fmt.Errorf("encode %s event: %w", name, err)
	}
	buf = append(buf, "event: "...)
	buf = append(buf, name...)
	buf = append(buf, "\ndata: "...)
	buf = append(buf, b...)
	return append(buf, "\n\n"...), nil
}
