package providers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"unicode/utf8"
)

// Message roles of the OpenAI chat-completions format.
const (
	RoleSystem    = "system"
	RoleDeveloper = "developer"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// OpenAI finish reasons, the vocabulary every adapter maps its provider's stop reasons onto.
const (
	FinishStop          = "stop"
	FinishLength        = "length"
	FinishToolCalls     = "tool_calls"
	FinishContentFilter = "content_filter"
)

// ChatRequest is an OpenAI chat-completions request. Known fields are typed so adapters can translate them;
// every other top-level field the client sent is kept verbatim in Extra and written back by MarshalJSON, so an
// OpenAI-compatible target receives everything (n, seed, logprobs, parallel_tool_calls, ...).
type ChatRequest struct {
	Model               string          `json:"model"`
	Messages            []Message       `json:"messages"`
	Tools               []Tool          `json:"tools,omitempty"`
	ToolChoice          *ToolChoice     `json:"tool_choice,omitempty"`
	ResponseFormat      *ResponseFormat `json:"response_format,omitempty"`
	MaxTokens           *int            `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int            `json:"max_completion_tokens,omitempty"`
	Temperature         *float64        `json:"temperature,omitempty"`
	TopP                *float64        `json:"top_p,omitempty"`
	Stop                StopList        `json:"stop,omitempty"`
	Stream              bool            `json:"stream,omitempty"`
	StreamOptions       *StreamOptions  `json:"stream_options,omitempty"`
	User                string          `json:"user,omitempty"`

	// Reasoning asks the model to think before it answers; nil leaves the provider's default. It is never
	// serialized: requests translated from Anthropic's Messages API set it from thinking, and UnmarshalJSON
	// from reasoning_effort (ReasoningFromEffort), which stays in Extra for OpenAI-compatible targets.
	Reasoning *Reasoning `json:"-"`

	// AnthropicBeta lists the anthropic-beta flags a Messages API client sent (see ParseAnthropicBeta). Only
	// the Anthropic adapter sends them, as its anthropic-beta header; other providers have no such flags.
	AnthropicBeta []string `json:"-"`

	// CountTokens asks for the number of input tokens the request would take, not for an answer: Anthropic's
	// POST /v1/messages/count_tokens. Only adapters implementing TokenCounter can serve it; it is free, so the
	// router plans it with no output (see DecodeAnthropicCountTokens).
	CountTokens bool `json:"-"`

	// Extra holds the fields this struct does not model, as the client sent them.
	Extra map[string]json.RawMessage `json:"-"`

	// Raw, when set, is the JSON body this request was decoded from, unchanged. An OpenAI-compatible adapter
	// then sends it with only the fields it rewrites replaced, instead of re-encoding the whole request: the
	// target receives the client's bytes, and the router saves an encode per attempt. Whoever changes a typed
	// field or Extra after decoding must set Raw to nil. Raw is never modified.
	Raw []byte `json:"-"`
}

// chatRequestFields are the JSON names ChatRequest models; everything else goes to Extra.
var chatRequestFields = []string{"model", "messages", "tools", "tool_choice", "response_format", "max_tokens",
	"max_completion_tokens", "temperature", "top_p", "stop", "stream", "stream_options", "user"}

// UnmarshalJSON decodes the typed fields and keeps the rest in Extra.
func (r *ChatRequest) UnmarshalJSON(data []byte) error {
	type plain ChatRequest
	var p plain
	extra, err := decodeWithExtra(data, &p, chatRequestFields, false)
	if err != nil {
		return fmt.Errorf("decode chat request: %w", err)
	}
	*r = ChatRequest(p)
	r.Extra = extra
	r.Reasoning = ReasoningFromEffort(extra["reasoning_effort"])
	return nil
}

// MarshalJSON encodes the typed fields followed by Extra.
func (r ChatRequest) MarshalJSON() ([]byte, error) {
	type plain ChatRequest
	return encodeWithExtra(plain(r), r.Extra, chatRequestFields)
}

// EffectiveMaxTokens returns the request's output-token limit: max_completion_tokens, else max_tokens, else 0.
func (r *ChatRequest) EffectiveMaxTokens() int {
	switch {
	case r.MaxCompletionTokens != nil:
		return *r.MaxCompletionTokens
	case r.MaxTokens != nil:
		return *r.MaxTokens
	}
	return 0
}

// Message is one chat message. Content is nil when the client sent null or omitted it (an assistant turn that
// only calls tools).
type Message struct {
	Role       string     `json:"role"`
	Content    *Content   `json:"content,omitempty"`
	Name       string     `json:"name,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`

	// Thinking is the reasoning of an assistant turn, in order, as the client sent it back. Only the Anthropic
	// adapter sends it on (signed blocks only, see ThinkingBlock); the OpenAI shape has no field for it, so it
	// is never serialized.
	Thinking []ThinkingBlock `json:"-"`

	// Extra holds message fields this struct does not model (refusal, audio, ...).
	Extra map[string]json.RawMessage `json:"-"`
}

var messageFields = []string{"role", "content", "name", "tool_calls", "tool_call_id"}

// UnmarshalJSON decodes the typed fields and keeps the rest in Extra.
func (m *Message) UnmarshalJSON(data []byte) error {
	type plain Message
	var p plain
	extra, err := decodeWithExtra(data, &p, messageFields, true)
	if err != nil {
		return fmt.Errorf("decode message: %w", err)
	}
	*m = Message(p)
	m.Extra = extra
	return nil
}

// MarshalJSON encodes the typed fields followed by Extra.
func (m Message) MarshalJSON() ([]byte, error) {
	type plain Message
	return encodeWithExtra(plain(m), m.Extra, messageFields)
}

// Content is a message's content: either a plain string (Parts == nil) or an array of parts.
type Content struct {
	Text  string
	Parts []ContentPart
}

// TextContent returns string content.
func TextContent(s string) *Content { return &Content{Text: s} }

// UnmarshalJSON accepts a JSON string or an array of parts.
func (c *Content) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '[' {
		c.Text = ""
		c.Parts = []ContentPart{}
		if err := unmarshalValid(data, &c.Parts); err != nil {
			return fmt.Errorf("decode content parts: %w", err)
		}
		return nil
	}
	c.Parts = nil
	if text, ok := plainString(data); ok {
		c.Text = text
		return nil
	}
	if err := unmarshalValid(data, &c.Text); err != nil {
		return fmt.Errorf("decode content: want a string or an array of parts: %w", err)
	}
	return nil
}

// plainString decodes a JSON string literal that needs no unescaping (no backslash, no control character,
// valid UTF-8), the common case of message text, without a decoder; ok is false for anything else.
func plainString(data []byte) (string, bool) {
	if len(data) < 2 || data[0] != '"' || data[len(data)-1] != '"' {
		return "", false
	}
	inner := data[1 : len(data)-1]
	for _, b := range inner {
		if b < 0x20 || b == '"' || b == '\\' {
			return "", false
		}
	}
	if !utf8.Valid(inner) {
		return "", false // encoding/json replaces invalid bytes with U+FFFD
	}
	return string(inner), true
}

// MarshalJSON writes the form the client used.
func (c Content) MarshalJSON() ([]byte, error) {
	if c.Parts != nil {
		return json.Marshal(c.Parts)
	}
	return json.Marshal(c.Text)
}

// PlainText concatenates the text of the content (the string, or every text part), ignoring images.
func (c *Content) PlainText() string {
	if c == nil {
		return ""
	}
	if c.Parts == nil {
		return c.Text
	}
	var b bytes.Buffer
	for _, p := range c.Parts {
		if p.Type == PartText {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

// Content part types.
const (
	PartText     = "text"
	PartImageURL = "image_url"
)

// ContentPart is one element of array content.
type ContentPart struct {
	Type     string    `json:"type"`
	Text     string    `json:"text,omitempty"`
	ImageURL *ImageURL `json:"image_url,omitempty"`

	// Extra holds fields of part types this struct does not model (input_audio, file, ...).
	Extra map[string]json.RawMessage `json:"-"`
}

var contentPartFields = []string{"type", "text", "image_url"}

// UnmarshalJSON decodes the typed fields and keeps the rest in Extra.
func (p *ContentPart) UnmarshalJSON(data []byte) error {
	type plain ContentPart
	var q plain
	extra, err := decodeWithExtra(data, &q, contentPartFields, true)
	if err != nil {
		return fmt.Errorf("decode content part: %w", err)
	}
	*p = ContentPart(q)
	p.Extra = extra
	return nil
}

// MarshalJSON encodes the typed fields followed by Extra.
func (p ContentPart) MarshalJSON() ([]byte, error) {
	type plain ContentPart
	return encodeWithExtra(plain(p), p.Extra, contentPartFields)
}

// ImageURL references an image by http(s) URL or data: URL.
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

// ToolCall is a function call made by the assistant. Index is set only in stream chunks, where it tells which
// call a fragment of arguments belongs to.
type ToolCall struct {
	Index    *int         `json:"index,omitempty"`
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function FunctionCall `json:"function"`
}

// FunctionCall names the function and carries its arguments as a JSON-encoded string, as OpenAI does.
type FunctionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// Tool is a tool the model may call. Only function tools are translated to other providers.
type Tool struct {
	Type     string      `json:"type"`
	Function FunctionDef `json:"function"`
}

// FunctionDef declares a function tool; Parameters is a JSON Schema kept verbatim.
type FunctionDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// Tool choice modes.
const (
	ToolChoiceAuto     = "auto"
	ToolChoiceNone     = "none"
	ToolChoiceRequired = "required"
	// ToolChoiceFunction forces the function named in ToolChoice.Function.
	ToolChoiceFunction = "function"
)

// ToolChoice is "auto", "none", "required", or {"type":"function","function":{"name":...}}.
type ToolChoice struct {
	Mode     string
	Function string
}

// UnmarshalJSON accepts both the string and the object form.
func (t *ToolChoice) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		*t = ToolChoice{}
		if err := unmarshalValid(data, &t.Mode); err != nil {
			return fmt.Errorf("decode tool_choice: %w", err)
		}
		return nil
	}
	var obj struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := unmarshalValid(data, &obj); err != nil {
		return fmt.Errorf("decode tool_choice: %w", err)
	}
	*t = ToolChoice{Mode: ToolChoiceFunction, Function: obj.Function.Name}
	return nil
}

// MarshalJSON writes the string form, or the object form for a specific function.
func (t ToolChoice) MarshalJSON() ([]byte, error) {
	if t.Mode == ToolChoiceFunction {
		return json.Marshal(map[string]any{"type": "function", "function": map[string]string{"name": t.Function}})
	}
	return json.Marshal(t.Mode)
}

// Response format types.
const (
	FormatText       = "text"
	FormatJSONObject = "json_object"
	FormatJSONSchema = "json_schema"
)

// ResponseFormat asks for JSON output, optionally conforming to a schema.
type ResponseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *JSONSchema `json:"json_schema,omitempty"`
}

// JSONSchema is the json_schema response format's payload; Schema is kept verbatim.
type JSONSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// StopList is the stop parameter, which OpenAI accepts as a string or an array of strings.
type StopList []string

// UnmarshalJSON accepts a string, an array of strings, or null.
func (s *StopList) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	switch {
	case bytes.Equal(data, []byte("null")):
		*s = nil
		return nil
	case len(data) > 0 && data[0] == '"':
		var one string
		if err := unmarshalValid(data, &one); err != nil {
			return fmt.Errorf("decode stop: %w", err)
		}
		*s = StopList{one}
		return nil
	}
	var many []string
	if err := unmarshalValid(data, &many); err != nil {
		return fmt.Errorf("decode stop: %w", err)
	}
	*s = many
	return nil
}

// StreamOptions are the options of a streaming request.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// Usage is the normalized token usage every adapter reports for cost accounting. InputTokens is the total
// prompt size including CachedInputTokens; OutputTokens includes ReasoningTokens. Both match how the providers
// bill: cached input and reasoning are discounted or itemized subsets of those totals.
type Usage struct {
	InputTokens       int `json:"input_tokens"`
	OutputTokens      int `json:"output_tokens"`
	CachedInputTokens int `json:"cached_input_tokens,omitempty"`
	ReasoningTokens   int `json:"reasoning_tokens,omitempty"`
}

// OpenAI returns the usage in the OpenAI response shape.
func (u Usage) OpenAI() *ResponseUsage {
	ru := &ResponseUsage{
		PromptTokens:     u.InputTokens,
		CompletionTokens: u.OutputTokens,
		TotalTokens:      u.InputTokens + u.OutputTokens,
	}
	if u.CachedInputTokens > 0 {
		ru.PromptTokensDetails = &PromptTokensDetails{CachedTokens: u.CachedInputTokens}
	}
	if u.ReasoningTokens > 0 {
		ru.CompletionTokensDetails = &CompletionTokensDetails{ReasoningTokens: u.ReasoningTokens}
	}
	return ru
}

// ChatResponse is an OpenAI chat.completion object.
type ChatResponse struct {
	ID                string         `json:"id"`
	Object            string         `json:"object"`
	Created           int64          `json:"created"`
	Model             string         `json:"model"`
	Choices           []Choice       `json:"choices"`
	Usage             *ResponseUsage `json:"usage,omitempty"`
	SystemFingerprint string         `json:"system_fingerprint,omitempty"`

	// Raw, when set, is the provider's body this response was decoded from, already in this shape: the
	// server sends it unchanged, so the client gets every field the provider returned (service_tier,
	// annotations, ...) and the router saves an encode. Whoever changes a field must set Raw to nil.
	Raw []byte `json:"-"`
}

// Choice is one completion choice.
type Choice struct {
	Index        int             `json:"index"`
	Message      ResponseMessage `json:"message"`
	FinishReason string          `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`

	// StopSequence is the stop sequence that ended the answer, when the provider says which (Anthropic does;
	// OpenAI and Gemini do not). The OpenAI shape has no field for it, so it is not serialized; the Anthropic
	// Messages endpoint reports it as stop_sequence.
	StopSequence string `json:"-"`
}

// ResponseMessage is the assistant message of a choice. Content is nil (JSON null) when the model only called
// tools.
type ResponseMessage struct {
	Role    string  `json:"role"`
	Content *string `json:"content"`
	Refusal *string `json:"refusal,omitempty"`
	// ReasoningContent is the model's reasoning as text, the field DeepSeek and many OpenAI-compatible gateways
	// use: decoded from such providers, and set by the Anthropic and Gemini adapters from thinking blocks and
	// thought parts.
	ReasoningContent *string    `json:"reasoning_content,omitempty"`
	ToolCalls        []ToolCall `json:"tool_calls,omitempty"`

	// Thinking is the reasoning as blocks, with Anthropic's signatures, when the provider gives more than text
	// (Anthropic); nil otherwise, and then ReasoningContent is the whole reasoning. Not serialized.
	Thinking []ThinkingBlock `json:"-"`
}

// ThinkingBlocks returns the reasoning of the message as blocks: Thinking, else one unsigned block with
// ReasoningContent, else nil.
func (m *ResponseMessage) ThinkingBlocks() []ThinkingBlock {
	if len(m.Thinking) > 0 {
		return m.Thinking
	}
	if m.ReasoningContent != nil && *m.ReasoningContent != "" {
		return []ThinkingBlock{{Text: *m.ReasoningContent}}
	}
	return nil
}

// ResponseUsage is usage in the OpenAI shape.
type ResponseUsage struct {
	PromptTokens            int                      `json:"prompt_tokens"`
	CompletionTokens        int                      `json:"completion_tokens"`
	TotalTokens             int                      `json:"total_tokens"`
	PromptTokensDetails     *PromptTokensDetails     `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *CompletionTokensDetails `json:"completion_tokens_details,omitempty"`
}

// Normalize converts OpenAI usage, whose prompt_tokens already include cached tokens and whose
// completion_tokens already include reasoning tokens, into Usage.
func (u *ResponseUsage) Normalize() Usage {
	if u == nil {
		return Usage{}
	}
	n := Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens}
	if u.PromptTokensDetails != nil {
		n.CachedInputTokens = u.PromptTokensDetails.CachedTokens
	}
	if u.CompletionTokensDetails != nil {
		n.ReasoningTokens = u.CompletionTokensDetails.ReasoningTokens
	}
	return n
}

// PromptTokensDetails itemizes prompt tokens.
type PromptTokensDetails struct {
	CachedTokens int `json:"cached_tokens"`
}

// CompletionTokensDetails itemizes completion tokens.
type CompletionTokensDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

// StreamChunk is an OpenAI chat.completion.chunk. The final usage chunk has an empty (not null) Choices array
// and a Usage, as OpenAI sends with stream_options.include_usage.
type StreamChunk struct {
	ID                string         `json:"id"`
	Object            string         `json:"object"`
	Created           int64          `json:"created"`
	Model             string         `json:"model"`
	Choices           []ChunkChoice  `json:"choices"`
	Usage             *ResponseUsage `json:"usage,omitempty"`
	SystemFingerprint string         `json:"system_fingerprint,omitempty"`
}

// ChunkChoice is one choice's delta in a stream chunk. FinishReason is null until the last delta.
type ChunkChoice struct {
	Index        int     `json:"index"`
	Delta        Delta   `json:"delta"`
	FinishReason *string `json:"finish_reason"`

	// StopSequence is Choice.StopSequence for the chunk that carries the finish reason; not serialized.
	StopSequence string `json:"-"`
}

// Delta is the incremental part of a streamed assistant message.
type Delta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
	// ReasoningContent is a fragment of the model's reasoning (see ResponseMessage.ReasoningContent).
	ReasoningContent *string    `json:"reasoning_content,omitempty"`
	ToolCalls        []ToolCall `json:"tool_calls,omitempty"`

	// ThinkingSignature is Anthropic's signature of the thinking block streamed so far: it ends that block (the
	// next reasoning fragment starts a new one). Not serialized: the OpenAI shape has no field for it.
	ThinkingSignature string `json:"-"`
	// RedactedThinking is a whole Anthropic redacted_thinking block's data. Not serialized.
	RedactedThinking string `json:"-"`
}

// Object names used in OpenAI responses.
const (
	ObjectChatCompletion      = "chat.completion"
	ObjectChatCompletionChunk = "chat.completion.chunk"
)

// decodeWithExtra unmarshals data into v and returns the top-level fields whose names are not in known. The
// second decode into a map of raw messages is the price of losing nothing the client sent. valid says data is
// already known to be valid JSON (see unmarshalValid): true from an UnmarshalJSON method nested in a decode,
// false at a body's top level.
func decodeWithExtra(data []byte, v any, known []string, valid bool) (map[string]json.RawMessage, error) {
	if err := decodeJSON(data, v, valid); err != nil {
		return nil, err
	}
	// data is valid JSON now (Unmarshal checked it), so its top-level fields can be listed by a plain scan
	// instead of a second full decode; anything the scan does not handle falls back to that decode.
	if all, ok := scanExtra(data, known); ok {
		return all, nil
	}
	var all map[string]json.RawMessage
	if err := unmarshalValid(data, &all); err != nil {
		return nil, err
	}
	for _, k := range known {
		delete(all, k)
	}
	if len(all) == 0 {
		return nil, nil
	}
	return all, nil
}

// scanExtra lists the top-level fields of data, valid JSON, whose names are not in known, with their raw
// values, exactly as decoding into a map[string]json.RawMessage and deleting the known names would (last
// duplicate wins, values copied without surrounding whitespace). ok is false when data is not an object or
// a field name has escapes or non-ASCII bytes; the caller then decodes the slow way.
func scanExtra(data []byte, known []string) (all map[string]json.RawMessage, ok bool) {
	ok = eachField(data, func(name []byte, start, end int) {
		if !isKnown(name, known) {
			if all == nil {
				all = make(map[string]json.RawMessage)
			}
			all[string(name)] = append(json.RawMessage(nil), data[start:end]...)
		}
	})
	if !ok {
		return nil, false
	}
	return all, true
}

// eachField calls fn for every top-level field of data, a JSON object, with the field's name and the bounds
// of its value. It returns false, possibly after some calls, when data is not an object it can scan: field
// names with escapes or non-ASCII bytes are left to encoding/json, which unescapes them. This hand-written scan
// exists because encoding/json has no way to visit an object's fields without decoding every value.
func eachField(data []byte, fn func(name []byte, start, end int)) bool {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return true
	}
	for i < len(data) {
		if data[i] != '"' {
			return false
		}
		j := i + 1
		for j < len(data) && data[j] != '"' {
			if data[j] == '\\' || data[j] >= 0x80 {
				return false
			}
			j++
		}
		if j >= len(data) {
			return false
		}
		name := data[i+1 : j]
		i = skipSpace(data, j+1)
		if i >= len(data) || data[i] != ':' {
			return false
		}
		i = skipSpace(data, i+1)
		end, vok := skipValue(data, i)
		if !vok {
			return false
		}
		fn(name, i, end)
		i = skipSpace(data, end)
		if i >= len(data) {
			return false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return true
		default:
			return false
		}
	}
	return false
}

func isKnown(name []byte, known []string) bool {
	for _, k := range known {
		if string(name) == k { // compared, not converted: no allocation
			return true
		}
	}
	return false
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipValue returns the end of the valid JSON value starting at data[i].
func skipValue(data []byte, i int) (int, bool) {
	if i >= len(data) {
		return 0, false
	}
	depth := 0
	for i < len(data) {
		switch c := data[i]; c {
		case '"':
			i++
			for i < len(data) && data[i] != '"' {
				if data[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(data) {
				return 0, false
			}
			i++
		case '{', '[':
			depth++
			i++
		case '}', ']':
			depth--
			i++
		default:
			if depth == 0 {
				// A literal at the top: number, true, false or null, ending at a delimiter.
				for i < len(data) {
					switch data[i] {
					case ',', '}', ']', ' ', '\t', '\n', '\r':
						return i, true
					}
					i++
				}
				return 0, false
			}
			i++
		}
		if depth == 0 {
			return i, true
		}
		if depth < 0 {
			return 0, false
		}
	}
	return 0, false
}

// encodeWithExtra marshals v (a struct, so a JSON object) and appends the extra fields in sorted order, so the
// output is deterministic. Extra keys that collide with typed fields are dropped: the typed value wins.
func encodeWithExtra(v any, extra map[string]json.RawMessage, known []string) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil || len(extra) == 0 {
		return b, err
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		if !slices.Contains(known, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	buf := bytes.NewBuffer(b[:len(b)-1]) // reopen the object: drop its closing brace
	for _, k := range keys {
		if buf.Len() > 1 {
			buf.WriteByte(',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, fmt.Errorf("encode field name %q: %w", k, err)
		}
		buf.Write(kb)
		buf.WriteByte(':')
		// Compact validates too: a hand-built Extra with broken JSON must fail here, not upstream.
		if err := json.Compact(buf, extra[k]); err != nil {
			return nil, fmt.Errorf("encode field %q: %w", k, err)
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
