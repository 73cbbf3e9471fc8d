package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/llmroute/llmroute/internal/catalog"
)

// GeminiAdapter speaks the Gemini API's generateContent and streamGenerateContent (alt=sse). The key goes in the
// x-goog-api-key header, never in the ?key= query, so it cannot leak through logged URLs or *url.Error strings.
//
// Request translation: system and developer messages become systemInstruction; user and assistant turns become
// user and model contents (consecutive same-role turns merged); images given as base64 data: URLs become
// inlineData (http(s) image URLs are refused with ErrUnsupportedRequest: Gemini's fileData takes Files API URIs,
// and fetching arbitrary URLs from the router would be a server-side request forgery vector); function tools
// become functionDeclarations; assistant tool_calls become functionCall parts and tool messages functionResponse
// parts (named by looking up the tool_call_id; a non-object result is wrapped as {"result": ...});
// tool_choice auto/none/required/function becomes functionCallingConfig AUTO/NONE/ANY/ANY+allowedFunctionNames;
// response_format json_object/json_schema sets responseMimeType application/json and, for a schema,
// responseJsonSchema; max tokens, stop, temperature and top_p map to generationConfig.
//
// Schemas are sent as parametersJsonSchema and responseJsonSchema rather than parameters and responseSchema:
// the latter take Gemini's OpenAPI subset and reject common JSON Schema keywords OpenAI clients send (for
// example additionalProperties), while the *JsonSchema fields accept JSON Schema as is.
//
// Gemini has no tool call ids, so the adapter makes them up (call_<n>). Gemini's thinking models attach a
// thoughtSignature to function calls and reject a follow-up turn that does not return it; the adapter carries
// it inside the id it makes up (call_<n>_ts_<base64url signature>) and restores it when the client sends the
// assistant turn back.
//
// Thinking: a request's Reasoning becomes generationConfig.thinkingConfig (see geminiThinkingConfig). Gemini 3
// and later models get {thinkingLevel, includeThoughts}: low or high by the budget, no level for adaptive
// thinking. Earlier models get {thinkingBudget, includeThoughts}: the budget is the request's, at most
// GeminiMaxThinkingBudget (the largest every thinking model accepts), or -1 (dynamic: the model decides) for
// adaptive thinking. includeThoughts is true unless the display is omitted. Best-effort reasoning (a chat
// client's reasoning_effort) is fitted to half of maxOutputTokens, and, on a budget model, left out when that
// is below the smallest budget every model accepts.
// Earlier turns' thinking is not sent back: Gemini takes no thought text in a request, only the signatures of
// function calls, which travel in the tool call ids as described above.
//
// Response translation: text parts are concatenated; thought parts (thought summaries) become ReasoningContent;
// functionCall parts become tool_calls;
// finishReason STOP → stop (tool_calls when the model called a function), MAX_TOKENS → length, SAFETY,
// RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII and IMAGE_SAFETY → content_filter, a blocked prompt →
// content_filter. Usage: promptTokenCount (which includes cachedContentTokenCount) + toolUsePromptTokenCount is
// the input, candidatesTokenCount + thoughtsTokenCount the output, thoughtsTokenCount the reasoning.
type GeminiAdapter struct{}

type geminiRequest struct {
	Contents          []geminiContent   `json:"contents"`
	SystemInstruction *geminiContent    `json:"systemInstruction,omitempty"`
	Tools             []geminiTool      `json:"tools,omitempty"`
	ToolConfig        *geminiToolConfig `json:"toolConfig,omitempty"`
	GenerationConfig  *geminiGenConfig  `json:"generationConfig,omitempty"`
}

type geminiContent struct {
	Role  string       `json:"role,omitempty"`
	Parts []geminiPart `json:"parts"`
}

type geminiPart struct {
	Text             string                  `json:"text,omitempty"`
	Thought          bool                    `json:"thought,omitempty"`
	ThoughtSignature string                  `json:"thoughtSignature,omitempty"`
	InlineData       *geminiBlob             `json:"inlineData,omitempty"`
	FunctionCall     *geminiFunctionCall     `json:"functionCall,omitempty"`
	FunctionResponse *geminiFunctionResponse `json:"functionResponse,omitempty"`
}

type geminiBlob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

type geminiFunctionCall struct {
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

type geminiFunctionResponse struct {
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

type geminiTool struct {
	FunctionDeclarations []geminiFunctionDecl `json:"functionDeclarations"`
}

type geminiFunctionDecl struct {
	Name                 string          `json:"name"`
	Description          string          `json:"description,omitempty"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema,omitempty"`
}

type geminiToolConfig struct {
	FunctionCallingConfig geminiFunctionCallingConfig `json:"functionCallingConfig"`
}

type geminiFunctionCallingConfig struct {
	Mode                 string   `json:"mode"`
	AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
}

type geminiGenConfig struct {
	Temperature        *float64        `json:"temperature,omitempty"`
	TopP               *float64        `json:"topP,omitempty"`
	MaxOutputTokens    int             `json:"maxOutputTokens,omitempty"`
	StopSequences      []string        `json:"stopSequences,omitempty"`
	ResponseMimeType   string          `json:"responseMimeType,omitempty"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema,omitempty"`
	ThinkingConfig     *geminiThinking `json:"thinkingConfig,omitempty"`
}

// geminiThinking is generationConfig.thinkingConfig. At most one of ThinkingBudget and ThinkingLevel is set:
// Gemini refuses a request with both.
type geminiThinking struct {
	ThinkingBudget  *int   `json:"thinkingBudget,omitempty"`
	ThinkingLevel   string `json:"thinkingLevel,omitempty"`
	IncludeThoughts bool   `json:"includeThoughts,omitempty"`
}

// GeminiMaxThinkingBudget is the largest thinkingBudget every Gemini thinking model accepts (2.5 Flash and
// Flash-Lite: 24,576; 2.5 Pro: 32,768). A larger request budget is lowered to it.
const GeminiMaxThinkingBudget = 24576

// geminiMinThinkingBudget is the smallest thinkingBudget every Gemini thinking model accepts (2.5 Flash-Lite's
// 512; 2.5 Pro takes 128, 2.5 Flash any).
const geminiMinThinkingBudget = 512

// geminiDynamicThinking is the thinkingBudget that lets the model decide how much to think.
const geminiDynamicThinking = -1

type geminiResponse struct {
	Candidates     []geminiCandidate `json:"candidates"`
	PromptFeedback *struct {
		BlockReason string `json:"blockReason"`
	} `json:"promptFeedback"`
	UsageMetadata *geminiUsage `json:"usageMetadata"`
	ModelVersion  string       `json:"modelVersion"`
	ResponseID    string       `json:"responseId"`
}

type geminiCandidate struct {
	Content      geminiContent `json:"content"`
	FinishReason string        `json:"finishReason"`
	Index        int           `json:"index"`
}

type geminiUsage struct {
	PromptTokenCount        int `json:"promptTokenCount"`
	CandidatesTokenCount    int `json:"candidatesTokenCount"`
	CachedContentTokenCount int `json:"cachedContentTokenCount"`
	ThoughtsTokenCount      int `json:"thoughtsTokenCount"`
	ToolUsePromptTokenCount int `json:"toolUsePromptTokenCount"`
	TotalTokenCount         int `json:"totalTokenCount"`
}

func (u *geminiUsage) normalize() Usage {
	if u == nil {
		return Usage{}
	}
	return Usage{
		InputTokens:       u.PromptTokenCount + u.ToolUsePromptTokenCount,
		OutputTokens:      u.CandidatesTokenCount + u.ThoughtsTokenCount,
		CachedInputTokens: u.CachedContentTokenCount,
		ReasoningTokens:   u.ThoughtsTokenCount,
	}
}

// Do implements Adapter.
func (a *GeminiAdapter) Do(ctx context.Context, hc *http.Client, ep Endpoint, req *ChatRequest) (*ChatResponse, Usage, error) {
	greq, model, err := toGemini(ep, req)
	if err != nil {
		return nil, Usage{}, err
	}
	resp, err := a.send(ctx, hc, ep, model, ":generateContent", greq)
	if err != nil {
		return nil, Usage{}, err
	}
	var gr geminiResponse
	if err := readJSON(ProviderGemini, resp, &gr); err != nil {
		return nil, Usage{}, err
	}
	if len(gr.Candidates) == 0 && gr.PromptFeedback == nil {
		return nil, Usage{}, malformed(ProviderGemini, "no candidates and no promptFeedback")
	}
	usage := gr.UsageMetadata.normalize()
	msg := ResponseMessage{Role: RoleAssistant}
	finish := FinishContentFilter // a prompt blocked before generation has no candidate
	if len(gr.Candidates) > 0 {
		c := gr.Candidates[0]
		text, thoughts, calls := geminiParts(c.Content.Parts, 0)
		msg.ToolCalls = calls
		if text != "" || len(calls) == 0 {
			msg.Content = ptr(text)
		}
		if thoughts != "" {
			msg.ReasoningContent = ptr(thoughts)
		}
		finish = geminiFinish(c.FinishReason, len(calls) > 0)
	} else {
		msg.Content = ptr("")
	}
	return &ChatResponse{
		ID: geminiID(gr.ResponseID), Object: ObjectChatCompletion, Created: nowUnix(), Model: firstNonEmpty(gr.ModelVersion, model),
		Choices: []Choice{{Index: 0, Message: msg, FinishReason: finish}},
		Usage:   usage.OpenAI(),
	}, usage, nil
}

// Stream implements Adapter.
func (a *GeminiAdapter) Stream(ctx context.Context, hc *http.Client, ep Endpoint, req *ChatRequest) (StreamReader, error) {
	greq, model, err := toGemini(ep, req)
	if err != nil {
		return nil, err
	}
	resp, err := a.send(ctx, hc, ep, model, ":streamGenerateContent?alt=sse", greq) //nolint:bodyclose // the returned stream reader owns the body and closes it
	if err != nil {
		return nil, err
	}
	return &geminiStream{body: resp.Body, sse: newSSEReader(resp.Body), model: model, created: nowUnix()}, nil
}

// send posts body to the model's method (":generateContent", ":countTokens", ...).
func (a *GeminiAdapter) send(ctx context.Context, hc *http.Client, ep Endpoint, model, method string, body any) (*http.Response, error) {
	u := baseURL(ep, ProviderGemini) + "/models/" + url.PathEscape(model) + method
	return send(ctx, hc, ProviderGemini, u, body, ep.Key, func(h http.Header) {
		h.Set("x-goog-api-key", ep.Key.Reveal())
	})
}

func geminiID(responseID string) string {
	if responseID == "" {
		return "chatcmpl-gemini"
	}
	return "chatcmpl-" + responseID
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func geminiFinish(reason string, calledTools bool) string {
	switch reason {
	case "MAX_TOKENS":
		return FinishLength
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY":
		return FinishContentFilter
	}
	if calledTools {
		return FinishToolCalls
	}
	return FinishStop
}

// geminiParts extracts the visible text, the thought summaries and the function calls; firstTool numbers the
// calls so ids and stream indexes stay unique across chunks.
func geminiParts(parts []geminiPart, firstTool int) (string, string, []ToolCall) {
	var text, thoughts strings.Builder
	var calls []ToolCall
	for _, p := range parts {
		switch {
		case p.FunctionCall != nil:
			args := compactArgs(p.FunctionCall.Args)
			n := firstTool + len(calls)
			calls = append(calls, ToolCall{ID: geminiCallID(n, p.ThoughtSignature), Type: "function",
				Function: FunctionCall{Name: p.FunctionCall.Name, Arguments: args}})
		case p.Thought:
			thoughts.WriteString(p.Text)
		default:
			text.WriteString(p.Text)
		}
	}
	return text.String(), thoughts.String(), calls
}

// thoughtSigMarker separates the call number from the thought signature inside a made-up tool call id. The
// signature is re-encoded as unpadded base64url so the id stays within [A-Za-z0-9_-], which Anthropic requires
// of tool_use ids should the conversation later fail over there.
const thoughtSigMarker = "_ts_"

func geminiCallID(n int, signature string) string {
	id := "call_" + strconv.Itoa(n)
	if signature == "" {
		return id
	}
	return id + thoughtSigMarker + strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(signature), "=")
}

// thoughtSignature recovers the signature a geminiCallID carries, in the standard base64 Gemini uses.
func thoughtSignature(id string) string {
	_, sig, ok := strings.Cut(id, thoughtSigMarker)
	if !ok || sig == "" {
		return ""
	}
	sig = strings.NewReplacer("-", "+", "_", "/").Replace(sig)
	if pad := len(sig) % 4; pad != 0 {
		sig += strings.Repeat("=", 4-pad)
	}
	return sig
}

func toGemini(ep Endpoint, req *ChatRequest) (*geminiRequest, string, error) {
	model := geminiModel(ep, req)
	out := &geminiRequest{}
	// Tool messages carry only the call id; Gemini's functionResponse wants the function name.
	callNames := map[string]string{}
	var system []geminiPart
	for i, m := range req.Messages {
		var role string
		var parts []geminiPart
		switch m.Role {
		case RoleSystem, RoleDeveloper:
			if t := m.Content.PlainText(); t != "" {
				system = append(system, geminiPart{Text: t})
			}
			continue
		case RoleUser:
			role = "user"
			ps, err := geminiContentParts(m.Content)
			if err != nil {
				return nil, "", fmt.Errorf("gemini: message %d: %w", i, err)
			}
			parts = ps
		case RoleAssistant:
			role = "model"
			if t := m.Content.PlainText(); t != "" {
				parts = append(parts, geminiPart{Text: t})
			}
			for _, tc := range m.ToolCalls {
				callNames[tc.ID] = tc.Function.Name
				parts = append(parts, geminiPart{
					FunctionCall:     &geminiFunctionCall{Name: tc.Function.Name, Args: toolInput(tc.Function.Arguments)},
					ThoughtSignature: thoughtSignature(tc.ID),
				})
			}
		case RoleTool:
			role = "user"
			name := callNames[m.ToolCallID]
			if name == "" {
				name = m.Name
			}
			if name == "" {
				return nil, "", fmt.Errorf("gemini: message %d: %w: tool result for unknown tool_call_id %q",
					i, ErrUnsupportedRequest, m.ToolCallID)
			}
			parts = []geminiPart{{FunctionResponse: &geminiFunctionResponse{Name: name, Response: toolResult(m.Content.PlainText())}}}
		default:
			return nil, "", fmt.Errorf("gemini: message %d: %w: role %q", i, ErrUnsupportedRequest, m.Role)
		}
		if len(parts) == 0 {
			continue
		}
		if n := len(out.Contents); n > 0 && out.Contents[n-1].Role == role {
			out.Contents[n-1].Parts = append(out.Contents[n-1].Parts, parts...)
			continue
		}
		out.Contents = append(out.Contents, geminiContent{Role: role, Parts: parts})
	}
	if len(system) > 0 {
		out.SystemInstruction = &geminiContent{Parts: system}
	}
	if len(req.Tools) > 0 {
		var decls []geminiFunctionDecl
		for _, t := range req.Tools {
			if t.Type != "" && t.Type != "function" {
				return nil, "", fmt.Errorf("gemini: %w: tool type %q", ErrUnsupportedRequest, t.Type)
			}
			decls = append(decls, geminiFunctionDecl{Name: t.Function.Name, Description: t.Function.Description,
				ParametersJSONSchema: nonNullRaw(t.Function.Parameters)})
		}
		out.Tools = []geminiTool{{FunctionDeclarations: decls}}
		if tc := req.ToolChoice; tc != nil {
			cfg := geminiFunctionCallingConfig{}
			switch tc.Mode {
			case ToolChoiceAuto:
				cfg.Mode = "AUTO"
			case ToolChoiceNone:
				cfg.Mode = "NONE"
			case ToolChoiceRequired:
				cfg.Mode = "ANY"
			case ToolChoiceFunction:
				cfg.Mode = "ANY"
				cfg.AllowedFunctionNames = []string{tc.Function}
			}
			if cfg.Mode != "" {
				out.ToolConfig = &geminiToolConfig{FunctionCallingConfig: cfg}
			}
		}
	}
	gc := geminiGenConfig{Temperature: req.Temperature, TopP: req.TopP, StopSequences: req.Stop,
		MaxOutputTokens: geminiMaxOutput(ep, req)}
	if rf := req.ResponseFormat; rf != nil && (rf.Type == FormatJSONObject || rf.Type == FormatJSONSchema) {
		gc.ResponseMimeType = "application/json"
		if rf.Type == FormatJSONSchema && rf.JSONSchema != nil {
			gc.ResponseJSONSchema = nonNullRaw(rf.JSONSchema.Schema)
		}
	}
	gc.ThinkingConfig = geminiThinkingFor(ep, req)
	if gc.Temperature != nil || gc.TopP != nil || gc.MaxOutputTokens > 0 || len(gc.StopSequences) > 0 ||
		gc.ResponseMimeType != "" || gc.ThinkingConfig != nil {
		out.GenerationConfig = &gc
	}
	return out, model, nil
}

// geminiModel is the model toGemini asks for: the target's, else the request's, without a "models/" prefix.
func geminiModel(ep Endpoint, req *ChatRequest) string {
	model := req.Model
	if ep.Model != "" {
		model = ep.Model
	}
	return strings.TrimPrefix(model, "models/")
}

// geminiMaxOutput is the maxOutputTokens sent for req on ep, 0 for none.
func geminiMaxOutput(ep Endpoint, req *ChatRequest) int {
	return capTokens(req.EffectiveMaxTokens(), ep.MaxTokens)
}

// geminiThinkingFor is the thinkingConfig toGemini sends for req on ep, nil for none. ReasoningDropped asks it
// too, so that telling whether the reasoning was dropped does not translate the whole request again.
func geminiThinkingFor(ep Endpoint, req *ChatRequest) *geminiThinking {
	r := thinkingFor(ep, req)
	if r == nil {
		return nil
	}
	return geminiThinkingConfig(geminiModel(ep, req), r, geminiMaxOutput(ep, req))
}

// geminiThinkingConfig returns the thinkingConfig that asks model for r, with maxOutput the request's
// maxOutputTokens (0: unset), or nil for none.
//
// Gemini 3 and later (catalog.GeminiThinkingLevels) take a thinkingLevel: a budget below 4,096 tokens (what
// OpenAIReasoningEffort calls low) asks for "low", a larger one for "high"; those are the two levels every
// Gemini 3 model accepts (medium and minimal exist on Flash only). Best-effort reasoning is fitted to half of
// maxOutput first, and a small output limit asks for "low" rather than leaving the model at its default, which is
// "high". Adaptive thinking sends no level, only includeThoughts: the model's default is dynamic thinking.
//
// Earlier models take a thinkingBudget: the request's, at most GeminiMaxThinkingBudget, or -1 (dynamic) for
// adaptive thinking. Best-effort reasoning whose fitted budget falls below geminiMinThinkingBudget gets none.
func geminiThinkingConfig(model string, r *Reasoning, maxOutput int) *geminiThinking {
	th := &geminiThinking{IncludeThoughts: r.Display != ThinkingDisplayOmitted}
	adaptive := r.Adaptive || r.BudgetTokens <= 0
	budget := min(fitBestEffort(r, maxOutput), GeminiMaxThinkingBudget)
	if catalog.GeminiThinkingLevels(model) {
		switch {
		case adaptive:
		case budget < reasoningMediumFrom:
			th.ThinkingLevel = "low"
		default:
			th.ThinkingLevel = "high"
		}
		return th
	}
	if adaptive {
		budget = geminiDynamicThinking
	} else if r.BestEffort && budget < geminiMinThinkingBudget {
		return nil // an output limit too small to think within: the model's default
	}
	th.ThinkingBudget = &budget
	return th
}

func nonNullRaw(raw json.RawMessage) json.RawMessage {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil
	}
	return raw
}

// toolResult makes the object functionResponse.response requires out of a tool message's text.
func toolResult(content string) json.RawMessage {
	t := strings.TrimSpace(content)
	if strings.HasPrefix(t, "{") && json.Valid([]byte(t)) {
		return json.RawMessage(t)
	}
	b, _ := json.Marshal(map[string]string{"result": content}) // marshalling a string map cannot fail
	return b
}

func geminiContentParts(c *Content) ([]geminiPart, error) {
	if c == nil {
		return nil, nil
	}
	if c.Parts == nil {
		if c.Text == "" {
			return nil, nil
		}
		return []geminiPart{{Text: c.Text}}, nil
	}
	var parts []geminiPart
	for _, p := range c.Parts {
		switch p.Type {
		case PartText:
			if p.Text != "" {
				parts = append(parts, geminiPart{Text: p.Text})
			}
		case PartImageURL:
			if p.ImageURL == nil || !strings.HasPrefix(p.ImageURL.URL, "data:") {
				return nil, fmt.Errorf("%w: gemini takes images only as base64 data: URLs", ErrUnsupportedRequest)
			}
			mediaType, data, err := parseDataURL(p.ImageURL.URL)
			if err != nil {
				return nil, err
			}
			parts = append(parts, geminiPart{InlineData: &geminiBlob{MimeType: mediaType, Data: data}})
		default:
			return nil, fmt.Errorf("%w: content part type %q", ErrUnsupportedRequest, p.Type)
		}
	}
	return parts, nil
}

// geminiStream translates streamGenerateContent?alt=sse, where every event is a full GenerateContentResponse
// and the stream is complete once a candidate carries a finishReason (Gemini sends no [DONE]).
type geminiStream struct {
	body     io.ReadCloser
	sse      *sseReader
	model    string
	id       string
	created  int64
	usage    *geminiUsage
	tools    int
	sentRole bool
	finished bool // a finishReason (or a blocked prompt) was seen
	done     bool // the usage chunk was returned
}

func (s *geminiStream) Next() (*StreamChunk, error) {
	if s.done {
		return nil, io.EOF
	}
	for {
		ev, err := s.sse.next()
		if err != nil {
			if s.finished && errors.Is(err, io.EOF) {
				s.done = true
				return &StreamChunk{ID: s.id, Object: ObjectChatCompletionChunk, Created: s.created, Model: s.model,
					Choices: []ChunkChoice{}, Usage: s.usage.normalize().OpenAI()}, nil
			}
			return nil, interrupted(ProviderGemini, err)
		}
		if len(bytes.TrimSpace(ev.Data)) == 0 {
			continue
		}
		var gr struct {
			geminiResponse
			Error *struct {
				Status  string `json:"status"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := unmarshalJSON(ev.Data, &gr); err != nil {
			return nil, malformedErr(ProviderGemini, err)
		}
		if gr.Error != nil {
			return nil, errStreamEvent(ProviderGemini, gr.Error.Status, gr.Error.Message)
		}
		if gr.UsageMetadata != nil {
			s.usage = gr.UsageMetadata
		}
		if gr.ModelVersion != "" {
			s.model = gr.ModelVersion
		}
		if s.id == "" {
			s.id = geminiID(gr.ResponseID)
		}
		var d Delta
		var finish *string
		if len(gr.Candidates) > 0 {
			c := gr.Candidates[0]
			text, thoughts, calls := geminiParts(c.Content.Parts, s.tools)
			for i := range calls {
				calls[i].Index = ptr(s.tools + i)
			}
			s.tools += len(calls)
			if text != "" {
				d.Content = ptr(text)
			}
			if thoughts != "" {
				d.ReasoningContent = ptr(thoughts)
			}
			d.ToolCalls = calls
			if c.FinishReason != "" {
				s.finished = true
				finish = ptr(geminiFinish(c.FinishReason, s.tools > 0))
			}
		} else if gr.PromptFeedback != nil && gr.PromptFeedback.BlockReason != "" {
			s.finished = true
			finish = ptr(FinishContentFilter)
		}
		if d.Content == nil && d.ReasoningContent == nil && d.ToolCalls == nil && finish == nil {
			continue // a usage-only or empty event
		}
		if !s.sentRole {
			s.sentRole = true
			d.Role = RoleAssistant
		}
		return &StreamChunk{ID: s.id, Object: ObjectChatCompletionChunk, Created: s.created, Model: s.model,
			Choices: []ChunkChoice{{Index: 0, Delta: d, FinishReason: finish}}}, nil
	}
}

func (s *geminiStream) Usage() Usage { return s.usage.normalize() }

func (s *geminiStream) Close() error { return s.body.Close() }

var (
	_ Adapter      = (*GeminiAdapter)(nil)
	_ StreamReader = (*geminiStream)(nil)
)
