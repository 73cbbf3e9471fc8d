package fakeprovider

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// anthropicProto speaks POST {prefix}/messages and {prefix}/messages/count_tokens with x-api-key and
// anthropic-version.
type anthropicProto struct{ s *Server }

func (p *anthropicProto) route(r *http.Request) (string, string, bool, bool) {
	return r.URL.Path, "", false, r.URL.Path == p.s.prefix+"/messages" || p.counts(r)
}

// counts implements tokenCounter.
func (p *anthropicProto) counts(r *http.Request) bool {
	return r.URL.Path == p.s.prefix+"/messages/count_tokens"
}

// parseCount implements tokenCounter: a count_tokens body is a Messages body without the generation
// parameters, which Anthropic refuses there.
func (p *anthropicProto) parseCount(body []byte) (*call, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, fmt.Errorf("invalid JSON body: %w", err)
	}
	for _, name := range []string{"max_tokens", "stream", "temperature", "top_p", "stop_sequences", "metadata"} {
		if _, ok := fields[name]; ok {
			return nil, fmt.Errorf("%s: Extra inputs are not permitted", name)
		}
	}
	var req anthropicRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("invalid JSON body: %w", err)
	}
	return p.check(&req, true)
}

// renderCount implements tokenCounter.
func (p *anthropicProto) renderCount(b []byte, input int) []byte {
	return append(appendInt(append(b, `{"input_tokens":`...), input), '}')
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
	Temperature *float64 `json:"temperature"`
	TopP        *float64 `json:"top_p"`
	Thinking    *struct {
		Type         string `json:"type"`
		BudgetTokens *int   `json:"budget_tokens"`
		Display      string `json:"display"`
	} `json:"thinking"`
	// interleaved is set from the anthropic-beta header (parseWithHeader), not from the body.
	interleaved bool
}

// anthropicBlock is the part of a content block the fake checks.
type anthropicBlock struct {
	Type      string  `json:"type"`
	Thinking  *string `json:"thinking"`
	Signature string  `json:"signature"`
	Data      string  `json:"data"`
}

// thinkingDocs is where Anthropic's thinking errors point.
const thinkingDocs = "Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"

// signingKey signs the fake's thinking blocks. It is shared by every fake Anthropic server, as one Anthropic
// accepts back what it issued whichever endpoint served it, and is no secret: the fake only needs to tell its
// own blocks from any other.
var signingKey = []byte("llmroute fakeprovider thinking signatures")

// signThinking returns the signature of a thinking block's text (or of a redacted block's content).
func signThinking(kind, text string) string {
	m := hmac.New(sha256.New, signingKey)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(text))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// redactedData is the data of a redacted_thinking block: the thinking, "encrypted" (encoded), and signed.
func redactedData(text string) string {
	enc := base64.StdEncoding.EncodeToString([]byte(text))
	return "EncFake" + enc + "." + signThinking("redacted", enc)
}

func validRedacted(data string) bool {
	enc, sig, ok := strings.Cut(strings.TrimPrefix(data, "EncFake"), ".")
	return ok && strings.HasPrefix(data, "EncFake") && hmac.Equal([]byte(sig), []byte(signThinking("redacted", enc)))
}

// checkThinking applies Anthropic's rules to the thinking request and the thinking blocks of the history:
// budget_tokens >= 1024 and < max_tokens (unless the interleaved-thinking beta is on), temperature only 1, top_p
// at least 0.95, no forced tool, every thinking block signed by Anthropic (this fake), and, while thinking, a
// last assistant turn that calls tools (or is a prefill) must start with a thinking block; without thinking, a
// final assistant turn may not contain one.
func (p *anthropicProto) checkThinking(req *anthropicRequest, c *call) error {
	if th := req.Thinking; th != nil {
		switch th.Type {
		case "enabled":
			switch {
			case th.BudgetTokens == nil:
				return errors.New("thinking.enabled.budget_tokens: Field required")
			case *th.BudgetTokens < 1024:
				return errors.New("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
			case *th.BudgetTokens >= req.MaxTokens && req.MaxTokens > 0 && !req.interleaved: // count_tokens: no max_tokens
				return errors.New("`max_tokens` must be greater than `thinking.budget_tokens`. " + thinkingDocs)
			}
			c.thinking = *th.BudgetTokens
		case "adaptive":
			c.thinking = dynamicThinking
		case "disabled":
		default:
			return fmt.Errorf("thinking: Input tag '%s' found using 'type' does not match any of the expected tags: "+
				"'disabled', 'enabled', 'adaptive'", th.Type)
		}
		c.hideThinking = th.Display == "omitted"
	}
	if c.thinking != 0 {
		if req.Temperature != nil && *req.Temperature != 1 {
			return errors.New("`temperature` may only be set to 1 when thinking is enabled. " + thinkingDocs)
		}
		if req.TopP != nil && *req.TopP < 0.95 {
			return errors.New("`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled. " + thinkingDocs)
		}
		if tc := req.ToolChoice; tc != nil && (tc.Type == "any" || tc.Type == "tool") {
			return errors.New("Thinking may not be enabled when tool_choice forces tool use. " + thinkingDocs) //nolint:staticcheck // the real API's wording
		}
	}
	lastAssistant := -1
	var last []anthropicBlock
	for i, m := range req.Messages {
		raw := bytes.TrimSpace(m.Content)
		if len(raw) == 0 || raw[0] != '[' {
			if m.Role == "assistant" {
				lastAssistant, last = i, []anthropicBlock{{Type: "text"}}
			}
			continue
		}
		var blocks []anthropicBlock
		if err := json.Unmarshal(raw, &blocks); err != nil {
			return fmt.Errorf("messages.%d.content: %w", i, err)
		}
		for j, b := range blocks {
			switch b.Type {
			case "thinking":
				if b.Thinking == nil || !hmac.Equal([]byte(b.Signature), []byte(signThinking("thinking", *b.Thinking))) {
					return fmt.Errorf("messages.%d.content.%d: Invalid `signature` in `thinking` block", i, j)
				}
			case "redacted_thinking":
				if !validRedacted(b.Data) {
					return fmt.Errorf("messages.%d.content.%d: Invalid `data` in `redacted_thinking` block", i, j)
				}
			}
		}
		if m.Role == "assistant" {
			lastAssistant, last = i, blocks
		}
	}
	if lastAssistant < 0 || len(last) == 0 {
		return nil
	}
	final := lastAssistant == len(req.Messages)-1
	startsWithThinking := last[0].Type == "thinking" || last[0].Type == "redacted_thinking"
	callsTools := false
	for _, b := range last {
		callsTools = callsTools || b.Type == "tool_use"
	}
	switch {
	case c.thinking != 0 && (final || callsTools) && !startsWithThinking:
		return fmt.Errorf("messages.%d.content.0.type: Expected `thinking` or `redacted_thinking`, but found `%s`. "+
			"When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceding "+
			"the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from "+
			"previous turns. To avoid this requirement, disable `thinking`. %s", lastAssistant, last[0].Type, thinkingDocs)
	case c.thinking == 0 && final && startsWithThinking:
		return fmt.Errorf("messages.%d.content.0: When thinking is disabled, an `assistant` message in the final "+ //nolint:staticcheck // the real API's wording
			"position cannot contain `thinking`. To use thinking blocks, enable `thinking` in your request.", lastAssistant)
	}
	return nil
}

func (p *anthropicProto) parse(body []byte) (*call, error) { return p.parseWithHeader(nil, body) }

// parseWithHeader is parse with the request's anthropic-beta flags: interleaved-thinking-2025-05-14 lets
// budget_tokens exceed max_tokens, as it then bounds all the thinking of an assistant turn, across its tool
// calls, rather than one answer's.
func (p *anthropicProto) parseWithHeader(h http.Header, body []byte) (*call, error) {
	var req anthropicRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("invalid JSON body: %w", err)
	}
	for _, v := range h.Values("anthropic-beta") {
		for _, f := range strings.Split(v, ",") {
			if strings.TrimSpace(f) == InterleavedThinkingBeta {
				req.interleaved = true
			}
		}
	}
	return p.check(&req, false)
}

// InterleavedThinkingBeta is the anthropic-beta flag of interleaved thinking (thinking between tool calls).
const InterleavedThinkingBeta = "interleaved-thinking-2025-05-14"

// check validates a decoded request, a count_tokens one (counting) or a Messages one, and returns its call.
func (p *anthropicProto) check(req *anthropicRequest, counting bool) (*call, error) {
	// The real API's validation messages, so a classifier sees the same text.
	switch {
	case req.Model == "":
		return nil, errors.New("model: Field required")
	case req.MaxTokens <= 0 && !counting:
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
	if err := p.checkThinking(req, c); err != nil {
		return nil, err
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

// appendThinkingBlock appends the thinking block of res (redacted_thinking, or thinking with its signature;
// with the text omitted when the request asked so, still signed). start writes it as content_block_start does:
// empty, the text and signature following as deltas.
func (p *anthropicProto) appendThinkingBlock(b []byte, c *call, res *result, start bool) []byte {
	if res.redacted {
		b = append(b, `{"type":"redacted_thinking","data":`...)
		b = appendString(b, redactedData(res.thoughtText()))
		return append(b, '}')
	}
	if start {
		return append(b, `{"type":"thinking","thinking":"","signature":""}`...)
	}
	shown := p.shownThinking(c, res)
	b = append(b, `{"type":"thinking","thinking":`...)
	b = appendString(b, shown)
	b = append(b, `,"signature":`...)
	b = appendString(b, signThinking("thinking", shown))
	return append(b, '}')
}

func (p *anthropicProto) shownThinking(c *call, res *result) string {
	if c.hideThinking {
		return ""
	}
	return res.thoughtText()
}

func (p *anthropicProto) render(b []byte, c *call, res *result) []byte {
	b = p.appendMessageHead(b, c, res)
	b = append(b, `,"content":[`...)
	if len(res.thought) > 0 {
		b = p.appendThinkingBlock(b, c, res, false)
		if res.tool != "" || len(res.words) > 0 {
			b = append(b, ',')
		}
	}
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
	index := 0 // of the next content block
	if len(res.thought) > 0 {
		if !p.streamThinking(c, res, event) {
			return
		}
		index++
	}
	idx := strconv.Itoa(index)
	switch {
	case res.tool != "":
		d := append([]byte(`{"type":"content_block_start","index":`+idx+`,"content_block":{"type":"tool_use","id":"toolu_fake_`),
			strconv.FormatInt(res.id, 10)...)
		d = append(d, `","name":`...)
		d = appendString(d, res.tool)
		d = append(d, `,"input":{}}}`...)
		if !event("content_block_start", d) || !event("ping", []byte(`{"type": "ping"}`)) {
			return
		}
		d = append(d[:0], `{"type":"content_block_delta","index":`+idx+`,"delta":{"type":"input_json_delta","partial_json":`...)
		d = appendString(d, res.toolArgs)
		if !event("content_block_delta", append(d, "}}"...)) {
			return
		}
		if !event("content_block_stop", []byte(`{"type":"content_block_stop","index":`+idx+`}`)) {
			return
		}
	case len(res.words) > 0:
		if !event("content_block_start", []byte(`{"type":"content_block_start","index":`+idx+`,"content_block":{"type":"text","text":""}}`)) ||
			!event("ping", []byte(`{"type": "ping"}`)) {
			return
		}
		var d []byte
		for _, w := range res.words {
			d = append(d[:0], `{"type":"content_block_delta","index":`+idx+`,"delta":{"type":"text_delta","text":`...)
			d = appendString(d, w)
			if !event("content_block_delta", append(d, "}}"...)) {
				return
			}
		}
		if !event("content_block_stop", []byte(`{"type":"content_block_stop","index":`+idx+`}`)) {
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

// streamThinking emits the thinking block at index 0 as Anthropic streams it: content_block_start with empty
// thinking, a thinking_delta per word (none when the text is omitted), a signature_delta, content_block_stop; a
// redacted block starts with its data and stops.
func (p *anthropicProto) streamThinking(c *call, res *result, event func(string, []byte) bool) bool {
	d := append([]byte(`{"type":"content_block_start","index":0,"content_block":`), p.appendThinkingBlock(nil, c, res, true)...)
	if !event("content_block_start", append(d, '}')) {
		return false
	}
	if !res.redacted {
		if !c.hideThinking {
			for _, w := range res.thought {
				d = append(d[:0], `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":`...)
				d = appendString(d, w)
				if !event("content_block_delta", append(d, "}}"...)) {
					return false
				}
			}
		}
		d = append(d[:0], `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":`...)
		d = appendString(d, signThinking("thinking", p.shownThinking(c, res)))
		if !event("content_block_delta", append(d, "}}"...)) {
			return false
		}
	}
	return event("content_block_stop", []byte(`{"type":"content_block_stop","index":0}`))
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
