package fakeprovider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// openAIProto speaks POST {prefix}/chat/completions and {prefix}/responses/input_tokens with Authorization:
// Bearer.
type openAIProto struct{ s *Server }

func (p *openAIProto) route(r *http.Request) (string, string, bool, bool) {
	return r.URL.Path, "", false, r.URL.Path == p.s.prefix+"/chat/completions" || p.counts(r)
}

// counts implements tokenCounter: OpenAI counts the input of a Responses API request.
func (p *openAIProto) counts(r *http.Request) bool {
	return r.URL.Path == p.s.prefix+"/responses/input_tokens"
}

// renderCount implements tokenCounter.
func (p *openAIProto) renderCount(b []byte, input int) []byte {
	return append(appendInt(append(b, `{"object":"response.input_tokens","input_tokens":`...), input), '}')
}

// inputTokensFields are the fields an input_tokens body may carry; OpenAI refuses any other as an unknown
// parameter, which catches a chat completions body (messages, max_tokens) sent there.
var inputTokensFields = map[string]bool{"model": true, "input": true, "instructions": true, "tools": true,
	"tool_choice": true, "text": true, "reasoning": true, "parallel_tool_calls": true, "previous_response_id": true,
	"conversation": true, "truncation": true}

// responsesItem is a Responses input item of the kinds a router sends: a message (typed or not), a function
// call, or a function call's output.
type responsesItem struct {
	Type      string          `json:"type"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	CallID    *string         `json:"call_id"`
	Name      *string         `json:"name"`
	Arguments *string         `json:"arguments"`
	Output    *string         `json:"output"`
}

// parseCount implements tokenCounter. Every message and instructions counts as a message, a function call
// and its output as one each, so a chat request translated item for item counts what chat completions bills
// for it (words plus messages).
func (p *openAIProto) parseCount(body []byte) (*call, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, fmt.Errorf("could not parse the JSON body of your request: %w", err)
	}
	for name := range fields {
		if !inputTokensFields[name] {
			return nil, fmt.Errorf("Unknown parameter: '%s'.", name) //nolint:staticcheck // the real API's wording
		}
	}
	var req struct {
		Model        string          `json:"model"`
		Instructions *string         `json:"instructions"`
		Input        json.RawMessage `json:"input"`
		Tools        []struct {
			Type       string          `json:"type"`
			Name       string          `json:"name"`
			Parameters json.RawMessage `json:"parameters"`
			Strict     json.RawMessage `json:"strict"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("could not parse the JSON body of your request: %w", err)
	}
	if req.Model == "" {
		return nil, errors.New("Missing required parameter: 'model'.") //nolint:staticcheck // the real API's wording
	}
	c := &call{model: req.Model}
	if req.Instructions != nil {
		c.count(*req.Instructions)
		c.messages++
	}
	if err := p.countInput(c, req.Input); err != nil {
		return nil, err
	}
	for i, t := range req.Tools {
		switch {
		case t.Type != "function":
			return nil, fmt.Errorf("Invalid value: '%s'. Supported values are: 'function' and the built-in tools.", t.Type) //nolint:staticcheck // the real API's wording
		case t.Name == "":
			return nil, fmt.Errorf("Missing required parameter: 'tools[%d].name'.", i) //nolint:staticcheck // the real API's wording
		case t.Parameters == nil:
			return nil, fmt.Errorf("Missing required parameter: 'tools[%d].parameters'.", i) //nolint:staticcheck // the real API's wording
		case t.Strict == nil:
			return nil, fmt.Errorf("Missing required parameter: 'tools[%d].strict'.", i) //nolint:staticcheck // the real API's wording
		}
		c.tools = append(c.tools, t.Name)
	}
	return c, nil
}

// countInput counts input, a string (one user message) or an array of items.
func (p *openAIProto) countInput(c *call, input json.RawMessage) error {
	input = bytes.TrimSpace(input)
	if len(input) > 0 && input[0] == '"' {
		var s string
		if err := json.Unmarshal(input, &s); err != nil {
			return fmt.Errorf("invalid input: %w", err)
		}
		c.count(s)
		c.messages++
		return nil
	}
	var items []responsesItem
	if len(input) > 0 && string(input) != "null" {
		if err := json.Unmarshal(input, &items); err != nil {
			return fmt.Errorf("Invalid type for 'input': expected a string or an array of input items: %w", err) //nolint:staticcheck // the real API's wording
		}
	}
	for i, it := range items {
		if err := countItem(c, it); err != nil {
			return fmt.Errorf("input[%d]: %w", i, err)
		}
	}
	return nil
}

func countItem(c *call, it responsesItem) error {
	switch it.Type {
	case "", "message":
		switch it.Role {
		case "user", "system", "developer", "assistant":
		case "":
			return errors.New("Missing required parameter: 'role'.") //nolint:staticcheck // the real API's wording
		default:
			return fmt.Errorf("Invalid value: '%s'. Supported values are: 'user', 'assistant', 'system', and 'developer'.", it.Role) //nolint:staticcheck // the real API's wording
		}
		text, err := responsesContentText(it.Role, it.Content)
		if err != nil {
			return err
		}
		c.count(text)
		c.messages++
		if it.Role == "user" {
			c.lastText = text
		}
	case "function_call":
		if it.CallID == nil || it.Name == nil || it.Arguments == nil {
			return errors.New("a function_call item needs call_id, name and arguments")
		}
		c.count(*it.Arguments)
		c.messages++
	case "function_call_output":
		if it.CallID == nil || it.Output == nil {
			return errors.New("a function_call_output item needs call_id and output")
		}
		c.count(*it.Output)
		c.messages++
	default:
		return fmt.Errorf("Invalid value: '%s'. The fake knows the message, function_call and function_call_output input items.", it.Type) //nolint:staticcheck // the real API's wording
	}
	return nil
}

// responsesContentText returns the text of a message's content: a string, or parts, input_text and
// input_image (which needs a detail) for the user, system and developer, output_text for the assistant.
func responsesContentText(role string, raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", errors.New("Missing required parameter: 'content'.") //nolint:staticcheck // the real API's wording
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	var parts []struct {
		Type     string  `json:"type"`
		Text     *string `json:"text"`
		ImageURL string  `json:"image_url"`
		Detail   string  `json:"detail"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", fmt.Errorf("invalid content: %w", err)
	}
	var words []string
	for j, part := range parts {
		want := "input_text"
		if role == "assistant" {
			want = "output_text"
		}
		switch {
		case part.Type == want:
			if part.Text == nil {
				return "", fmt.Errorf("Missing required parameter: 'content[%d].text'.", j) //nolint:staticcheck // the real API's wording
			}
			words = append(words, *part.Text)
		case part.Type == "input_image" && role != "assistant":
			if part.Detail != "low" && part.Detail != "high" && part.Detail != "auto" {
				return "", fmt.Errorf("Missing required parameter: 'content[%d].detail'.", j) //nolint:staticcheck // the real API's wording
			}
		default:
			return "", fmt.Errorf("Invalid value: '%s' in content[%d] of a %s message.", part.Type, j, role) //nolint:staticcheck // the real API's wording
		}
	}
	return strings.Join(words, " "), nil
}

func (p *openAIProto) key(r *http.Request) (string, bool) {
	k, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return k, ok && k != ""
}

type openAIRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Tools []struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	} `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Stream              bool            `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	ReasoningEffort *string `json:"reasoning_effort"`
}

// reasoningWords is how many reasoning tokens each reasoning_effort spends at most.
var reasoningWords = map[string]int{"minimal": 1, "low": 4, "medium": 8, "high": 16}

// textOf returns the text of a content that is a JSON string or an array of parts (or blocks) with "text".
func textOf(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] == 'n' {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	var parts []struct {
		Type    string          `json:"type"`
		Text    string          `json:"text"`
		Content json.RawMessage `json:"content"` // Anthropic tool_result
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", err
	}
	var b strings.Builder
	for _, part := range parts {
		if part.Text != "" {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(part.Text)
		}
		if len(part.Content) > 0 {
			t, err := textOf(part.Content)
			if err != nil {
				return "", err
			}
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(t)
		}
	}
	return b.String(), nil
}

func (p *openAIProto) parse(body []byte) (*call, error) {
	var req openAIRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("could not parse the JSON body of your request: %w", err)
	}
	if req.Model == "" {
		return nil, fmt.Errorf("you must provide a model parameter")
	}
	if len(req.Messages) == 0 {
		return nil, fmt.Errorf("[] is too short - 'messages'")
	}
	c := &call{model: req.Model, messages: len(req.Messages), stream: req.Stream}
	if e := req.ReasoningEffort; e != nil {
		// OpenAI's own answers for a model that does not reason and for a value it does not know.
		if strings.HasPrefix(req.Model, "gpt-4") || strings.HasPrefix(req.Model, "gpt-3") {
			return nil, errors.New("Unsupported parameter: 'reasoning_effort' is not supported with this model.") //nolint:staticcheck // the real API's wording
		}
		n, ok := reasoningWords[*e]
		if !ok {
			return nil, fmt.Errorf("Invalid value: '%s'. Supported values are: 'minimal', 'low', 'medium', and 'high'.", *e) //nolint:staticcheck // the real API's wording
		}
		c.thinking, c.hideThinking = n, true // OpenAI bills reasoning but never shows it in chat completions
	}
	if p.s.opts.ReasoningContent {
		c.thinking, c.hideThinking = dynamicThinking, false
	}
	c.includeUsage = req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	switch {
	case req.MaxCompletionTokens != nil:
		c.maxTokens = *req.MaxCompletionTokens
	case req.MaxTokens != nil:
		c.maxTokens = *req.MaxTokens
	}
	for i, m := range req.Messages {
		t, err := textOf(m.Content)
		if err != nil {
			return nil, fmt.Errorf("invalid content in messages[%d]: %w", i, err)
		}
		c.count(t)
		if m.Role == "user" {
			c.lastText = t
		}
		c.lastIsTool = m.Role == "tool"
	}
	for _, t := range req.Tools {
		c.tools = append(c.tools, t.Function.Name)
	}
	if tc := bytes.TrimSpace(req.ToolChoice); len(tc) > 0 {
		if tc[0] == '"' {
			c.forceAny = string(tc) == `"required"`
			if string(tc) == `"none"` {
				c.tools = nil
			}
		} else {
			var obj struct {
				Function struct {
					Name string `json:"name"`
				} `json:"function"`
			}
			if err := json.Unmarshal(tc, &obj); err != nil {
				return nil, fmt.Errorf("invalid tool_choice: %w", err)
			}
			c.forceTool = obj.Function.Name
		}
	}
	return c, nil
}

func openAIFinish(f int) string {
	switch f {
	case finishLength:
		return "length"
	case finishTool:
		return "tool_calls"
	case finishFilter:
		return "content_filter"
	}
	return "stop"
}

func (p *openAIProto) appendHead(b []byte, c *call, res *result, object string) []byte {
	b = append(b, `{"id":"chatcmpl-fake-`...)
	b = strconv.AppendInt(b, res.id, 10)
	b = append(b, `","object":"`...)
	b = append(b, object...)
	b = append(b, `","created":`...)
	b = strconv.AppendInt(b, time.Now().Unix(), 10)
	b = append(b, `,"model":`...)
	b = appendString(b, c.model)
	return append(b, `,"service_tier":"default","system_fingerprint":"fp_fake"`...)
}

func (p *openAIProto) appendUsage(b []byte, res *result) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = appendInt(b, res.input)
	b = append(b, `,"completion_tokens":`...)
	b = appendInt(b, res.output)
	b = append(b, `,"total_tokens":`...)
	b = appendInt(b, res.input+res.output)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
	b = appendInt(b, res.cached)
	b = append(b, `},"completion_tokens_details":{"reasoning_tokens":`...)
	b = appendInt(b, res.reasoning)
	return append(b, `}}`...)
}

func (p *openAIProto) appendToolCall(b []byte, res *result, args string, withIndex bool) []byte {
	b = append(b, `[{`...)
	if withIndex {
		b = append(b, `"index":0,`...)
	}
	b = append(b, `"id":"call_fake_`...)
	b = strconv.AppendInt(b, res.id, 10)
	b = append(b, `","type":"function","function":{"name":`...)
	b = appendString(b, res.tool)
	b = append(b, `,"arguments":`...)
	b = appendString(b, args)
	return append(b, `}}]`...)
}

func (p *openAIProto) render(b []byte, c *call, res *result) []byte {
	b = p.appendHead(b, c, res, "chat.completion")
	b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant",`...)
	if len(res.thought) > 0 && !c.hideThinking {
		b = appendString(append(b, `"reasoning_content":`...), res.thoughtText())
		b = append(b, ',')
	}
	b = append(b, `"content":`...)
	if res.tool != "" {
		b = append(b, `null,"tool_calls":`...)
		b = p.appendToolCall(b, res, res.toolArgs, false)
	} else {
		b = appendString(b, res.text())
	}
	b = append(b, `,"refusal":null},"logprobs":null,"finish_reason":"`...)
	b = append(b, openAIFinish(res.finish)...)
	b = append(b, `"}],"usage":`...)
	b = p.appendUsage(b, res)
	return append(b, "}\n"...)
}

func (p *openAIProto) renderStream(c *call, res *result, emit func([]byte) bool) {
	var b []byte
	chunk := func(delta string, finish string) bool {
		b = append(b[:0], "data: "...)
		b = p.appendHead(b, c, res, "chat.completion.chunk")
		b = append(b, `,"choices":[{"index":0,"delta":`...)
		b = append(b, delta...)
		b = append(b, `,"logprobs":null,"finish_reason":`...)
		if finish == "" {
			b = append(b, "null"...)
		} else {
			b = append(b, '"')
			b = append(b, finish...)
			b = append(b, '"')
		}
		b = append(b, `}]`...)
		if c.includeUsage {
			b = append(b, `,"usage":null`...)
		}
		b = append(b, "}\n\n"...)
		return emit(b)
	}
	if !chunk(`{"role":"assistant","content":"","refusal":null}`, "") {
		return
	}
	if !c.hideThinking {
		for _, w := range res.thought {
			if !chunk(string(appendString([]byte(`{"reasoning_content":`), w))+"}", "") {
				return
			}
		}
	}
	if res.tool != "" {
		d := p.appendToolCall([]byte(`{"tool_calls":`), res, "", true)
		if !chunk(string(d)+"}", "") {
			return
		}
		d = append(d[:0], `{"tool_calls":[{"index":0,"function":{"arguments":`...)
		d = appendString(d, res.toolArgs)
		if !chunk(string(d)+"}}]}", "") {
			return
		}
	}
	for _, w := range res.words {
		if !chunk(string(appendString([]byte(`{"content":`), w))+"}", "") {
			return
		}
	}
	if !chunk(`{}`, openAIFinish(res.finish)) {
		return
	}
	if c.includeUsage {
		b = append(b[:0], "data: "...)
		b = p.appendHead(b, c, res, "chat.completion.chunk")
		b = append(b, `,"choices":[],"usage":`...)
		b = p.appendUsage(b, res)
		b = append(b, "}\n\n"...)
		if !emit(b) {
			return
		}
	}
	emit([]byte("data: [DONE]\n\n"))
}

// openAIError writes OpenAI's error envelope.
func openAIError(w http.ResponseWriter, status int, message, typ string, param, code any) {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": message, "type": typ, "param": param, "code": code}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func (p *openAIProto) writeError(w http.ResponseWriter, kind errKind, detail string) {
	switch kind {
	case errAuth:
		shown := "sk-fake***"
		if detail != "" {
			shown = detail
		}
		openAIError(w, http.StatusUnauthorized, "Incorrect API key provided: "+shown+
			". You can find your API key at https://platform.openai.com/account/api-keys.",
			"invalid_request_error", nil, "invalid_api_key")
	case errNotFound:
		openAIError(w, http.StatusNotFound, "Invalid URL (POST "+detail+")", "invalid_request_error", nil, nil)
	case errModelNotFound:
		openAIError(w, http.StatusNotFound, "The model `"+detail+"` does not exist or you do not have access to it.",
			"invalid_request_error", nil, "model_not_found")
	case errContextTooLong:
		openAIError(w, http.StatusBadRequest, "This model's maximum context length is 128000 tokens. However, your "+
			"messages resulted in 131072 tokens. Please reduce the length of the messages.",
			"invalid_request_error", "messages", "context_length_exceeded")
	default:
		openAIError(w, http.StatusBadRequest, detail, "invalid_request_error", nil, nil)
	}
}

func (p *openAIProto) writeStatus(w http.ResponseWriter, status int) {
	switch {
	case status == http.StatusTooManyRequests:
		openAIError(w, status, "Rate limit reached for requests. Please try again later.", "requests", nil, "rate_limit_exceeded")
	case status == http.StatusServiceUnavailable:
		openAIError(w, status, "The engine is currently overloaded, please try again later.", "server_error", nil, nil)
	case status >= 500:
		openAIError(w, status, "The server had an error while processing your request. Sorry about that!", "server_error", nil, nil)
	case status == http.StatusUnauthorized:
		p.writeError(w, errAuth, "")
	default:
		openAIError(w, status, http.StatusText(status), "invalid_request_error", nil, nil)
	}
}
