package fakeprovider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// anthropicProto speaks POST {prefix}/messages with x-api-key and anthropic-version.
type anthropicProto struct{ s *Server }

func (p *anthropicProto) route(r *http.Request) (string, string, bool, bool) {
	return r.URL.Path, "", false, r.URL.Path == p.s.prefix+"/messages"
}

func (p *anthropicProto) key(r *http.Request) (string, bool) {
	k := r.Header.Get("x-api-key")
	return k, k != ""
}

type anthropicRequest struct {
	Model    string          `json:"model"`
	System   json.RawMessage `json:"system"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	MaxTokens int  `json:"max_tokens"`
	Stream    bool `json:"stream"`
	Tools     []struct {
		Name string `json:"name"`
	} `json:"tools"`
	ToolChoice *struct {
		Type string `json:"type"`
		Name string `json:"name"`
	} `json:"tool_choice"`
}

func (p *anthropicProto) parse(body []byte) (*call, error) {
	var req anthropicRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("invalid JSON body: %w", err)
	}
	// The real API's validation messages, so a classifier sees the same text.
	switch {
	case req.Model == "":
		return nil, errors.New("model: Field required")
	case req.MaxTokens <= 0:
		return nil, errors.New("max_tokens: Field required")
	case len(req.Messages) == 0:
		return nil, errors.New("messages: at least one message is required")
	}
	c := &call{model: req.Model, messages: len(req.Messages), maxTokens: req.MaxTokens, stream: req.Stream,
		includeUsage: true}
	if len(bytes.TrimSpace(req.System)) > 0 {
		t, err := textOf(req.System)
		if err != nil {
			return nil, fmt.Errorf("system: %w", err)
		}
		c.count(t)
		c.messages++
	}
	var prev string
	for i, m := range req.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return nil, fmt.Errorf("messages.%d.role: Input should be 'user' or 'assistant'", i)
		}
		if m.Role == prev {
			// Anthropic used to reject this outright; it now merges, but the adapter must not rely on it.
			return nil, fmt.Errorf("messages: roles must alternate between \"user\" and \"assistant\"")
		}
		prev = m.Role
		t, err := textOf(m.Content)
		if err != nil {
			return nil, fmt.Errorf("messages.%d.content: %w", i, err)
		}
		c.count(t)
		c.lastIsTool = m.Role == "user" && bytes.Contains(m.Content, []byte(`"tool_result"`))
		if m.Role == "user" && !c.lastIsTool {
			c.lastText = t
		}
	}
	if req.Messages[0].Role != "user" {
		return nil, errors.New("messages: first message must use the \"user\" role")
	}
	for _, t := range req.Tools {
		c.tools = append(c.tools, t.Name)
	}
	if tc := req.ToolChoice; tc != nil {
		switch tc.Type {
		case "any":
			c.forceAny = true
		case "tool":
			c.forceTool = tc.Name
		case "none":
			c.tools = nil
		}
	}
	return c, nil
}

func anthropicStop(f int) string {
	switch f {
	case finishLength:
		return "max_tokens"
	case finishTool:
		return "tool_use"
	case finishFilter:
		return "refusal"
	}
	return "end_turn"
}

func (p *anthropicProto) appendUsage(b []byte, res *result, output int) []byte {
	b = append(b, `{"input_tokens":`...)
	b = appendInt(b, res.input-res.cached) // Anthropic's input_tokens excludes cache reads
	b = append(b, `,"cache_creation_input_tokens":0,"cache_read_input_tokens":`...)
	b = appendInt(b, res.cached)
	b = append(b, `,"output_tokens":`...)
	b = appendInt(b, output)
	return append(b, '}')
}

func (p *anthropicProto) appendMessageHead(b []byte, c *call, res *result) []byte {
	b = append(b, `{"id":"msg_fake_`...)
	b = strconv.AppendInt(b, res.id, 10)
	b = append(b, `","type":"message","role":"assistant","model":`...)
	return appendString(b, c.model)
}

func (p *anthropicProto) render(b []byte, c *call, res *result) []byte {
	b = p.appendMessageHead(b, c, res)
	b = append(b, `,"content":[`...)
	switch {
	case res.tool != "":
		b = append(b, `{"type":"tool_use","id":"toolu_fake_`...)
		b = strconv.AppendInt(b, res.id, 10)
		b = append(b, `","name":`...)
		b = appendString(b, res.tool)
		b = append(b, `,"input":`...)
		b = append(b, res.toolArgs...)
		b = append(b, '}')
	case len(res.words) > 0:
		b = append(b, `{"type":"text","text":`...)
		b = appendString(b, res.text())
		b = append(b, '}')
	}
	b = append(b, `],"stop_reason":"`...)
	b = append(b, anthropicStop(res.finish)...)
	b = append(b, `","stop_sequence":null,"usage":`...)
	b = p.appendUsage(b, res, res.output)
	return append(b, "}\n"...)
}

func (p *anthropicProto) renderStream(c *call, res *result, emit func([]byte) bool) {
	var b []byte
	event := func(name string, data []byte) bool {
		b = append(b[:0], "event: "...)
		b = append(b, name...)
		b = append(b, "\ndata: "...)
		b = append(b, data...)
		b = append(b, "\n\n"...)
		return emit(b)
	}
	start := append([]byte(`{"type":"message_start","message":`), p.appendMessageHead(nil, c, res)...)
	start = append(start, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":`...)
	start = p.appendUsage(start, res, 1)
	start = append(start, `}}`...)
	if !event("message_start", start) {
		return
	}
	switch {
	case res.tool != "":
		d := append([]byte(`{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_fake_`),
			strconv.FormatInt(res.id, 10)...)
		d = append(d, `","name":`...)
		d = appendString(d, res.tool)
		d = append(d, `,"input":{}}}`...)
		if !event("content_block_start", d) || !event("ping", []byte(`{"type": "ping"}`)) {
			return
		}
		d = append(d[:0], `{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":`...)
		d = appendString(d, res.toolArgs)
		if !event("content_block_delta", append(d, "}}"...)) {
			return
		}
		if !event("content_block_stop", []byte(`{"type":"content_block_stop","index":0}`)) {
			return
		}
	case len(res.words) > 0:
		if !event("content_block_start", []byte(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)) ||
			!event("ping", []byte(`{"type": "ping"}`)) {
			return
		}
		var d []byte
		for _, w := range res.words {
			d = append(d[:0], `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`...)
			d = appendString(d, w)
			if !event("content_block_delta", append(d, "}}"...)) {
				return
			}
		}
		if !event("content_block_stop", []byte(`{"type":"content_block_stop","index":0}`)) {
			return
		}
	}
	d := append([]byte(`{"type":"message_delta","delta":{"stop_reason":"`), anthropicStop(res.finish)...)
	d = append(d, `","stop_sequence":null},"usage":{"output_tokens":`...)
	d = appendInt(d, res.output)
	if !event("message_delta", append(d, "}}"...)) {
		return
	}
	event("message_stop", []byte(`{"type":"message_stop"}`))
}

// anthropicError writes Anthropic's error envelope.
func anthropicError(w http.ResponseWriter, status int, typ, message string) {
	b, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]string{"type": typ, "message": message},
		"request_id": "req_fake"})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", "req_fake")
	if status >= 500 || status == http.StatusTooManyRequests {
		w.Header().Set("x-should-retry", "true")
	}
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func (p *anthropicProto) writeError(w http.ResponseWriter, kind errKind, detail string) {
	switch kind {
	case errAuth:
		msg := "invalid x-api-key"
		if detail != "" {
			msg += ": " + detail
		}
		anthropicError(w, http.StatusUnauthorized, "authentication_error", msg)
	case errNotFound:
		anthropicError(w, http.StatusNotFound, "not_found_error", "Not Found")
	case errModelNotFound:
		anthropicError(w, http.StatusNotFound, "not_found_error", "model: "+detail)
	case errContextTooLong:
		anthropicError(w, http.StatusBadRequest, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum")
	default:
		anthropicError(w, http.StatusBadRequest, "invalid_request_error", detail)
	}
}

func (p *anthropicProto) writeStatus(w http.ResponseWriter, status int) {
	switch {
	case status == http.StatusTooManyRequests:
		anthropicError(w, status, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit")
	case status == 529:
		anthropicError(w, status, "overloaded_error", "Overloaded")
	case status >= 500:
		anthropicError(w, status, "api_error", "Internal server error")
	case status == http.StatusUnauthorized:
		p.writeError(w, errAuth, "")
	case status == http.StatusForbidden:
		anthropicError(w, status, "permission_error", "Your API key does not have permission to use the specified resource.")
	default:
		anthropicError(w, status, "invalid_request_error", http.StatusText(status))
	}
}
