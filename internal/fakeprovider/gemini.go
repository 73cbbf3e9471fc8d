package fakeprovider

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// geminiProto speaks POST {prefix}/models/{model}:generateContent, :streamGenerateContent?alt=sse and
// :countTokens. Like the
// real API it accepts the key in x-goog-api-key or in the ?key= query; LastRequest shows which was used.
type geminiProto struct{ s *Server }

func (p *geminiProto) route(r *http.Request) (string, string, bool, bool) {
	rest, ok := strings.CutPrefix(r.URL.Path, p.s.prefix+"/models/")
	if !ok {
		return r.URL.Path, "", false, false
	}
	model, method, ok := strings.Cut(rest, ":")
	switch {
	case !ok || model == "":
		return r.URL.Path, "", false, false
	case method == "generateContent":
		return "", model, false, true
	case method == "streamGenerateContent" && r.URL.Query().Get("alt") == "sse":
		return "", model, true, true
	case method == "countTokens":
		return "", model, false, true
	}
	return r.URL.Path, "", false, false
}

func (p *geminiProto) key(r *http.Request) (string, bool) {
	k := r.Header.Get("x-goog-api-key")
	if k == "" {
		k = r.URL.Query().Get("key")
	}
	return k, k != ""
}

type geminiPart struct {
	Text         string `json:"text"`
	FunctionCall *struct {
		Name string `json:"name"`
	} `json:"functionCall"`
	FunctionResponse *struct {
		Name     string          `json:"name"`
		Response json.RawMessage `json:"response"`
	} `json:"functionResponse"`
}

type geminiRequest struct {
	Contents []struct {
		Role  string       `json:"role"`
		Parts []geminiPart `json:"parts"`
	} `json:"contents"`
	SystemInstruction *struct {
		Parts []geminiPart `json:"parts"`
	} `json:"systemInstruction"`
	Tools []struct {
		FunctionDeclarations []struct {
			Name string `json:"name"`
		} `json:"functionDeclarations"`
	} `json:"tools"`
	ToolConfig *struct {
		FunctionCallingConfig struct {
			Mode                 string   `json:"mode"`
			AllowedFunctionNames []string `json:"allowedFunctionNames"`
		} `json:"functionCallingConfig"`
	} `json:"toolConfig"`
	GenerationConfig *struct {
		MaxOutputTokens int `json:"maxOutputTokens"`
		ThinkingConfig  *struct {
			ThinkingBudget  *int    `json:"thinkingBudget"`
			ThinkingLevel   *string `json:"thinkingLevel"`
			IncludeThoughts bool    `json:"includeThoughts"`
		} `json:"thinkingConfig"`
	} `json:"generationConfig"`
}

// geminiMaxThinkingBudget is the largest thinkingBudget of Gemini 2.5 Flash, the model the fake stands for.
const geminiMaxThinkingBudget = 24576

func (p *geminiProto) parse(body []byte) (*call, error) {
	var req geminiRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("Invalid JSON payload received. %w", err) //nolint:staticcheck // the real API's wording
	}
	if len(req.Contents) == 0 {
		return nil, errors.New("* GenerateContentRequest.contents: contents is not specified")
	}
	c := &call{messages: len(req.Contents), includeUsage: true}
	if req.SystemInstruction != nil {
		c.messages++
		for _, part := range req.SystemInstruction.Parts {
			c.count(part.Text)
		}
	}
	for i, content := range req.Contents {
		if content.Role != "user" && content.Role != "model" && content.Role != "" {
			return nil, fmt.Errorf("Please use a valid role: user, model. (contents[%d])", i) //nolint:staticcheck // the real API's wording
		}
		var text strings.Builder
		c.lastIsTool = false
		for _, part := range content.Parts {
			c.count(part.Text)
			text.WriteString(part.Text)
			if part.FunctionResponse != nil {
				c.lastIsTool = true
				c.count(string(part.FunctionResponse.Response))
			}
		}
		if content.Role != "model" && !c.lastIsTool {
			c.lastText = text.String()
		}
	}
	for _, t := range req.Tools {
		for _, d := range t.FunctionDeclarations {
			c.tools = append(c.tools, d.Name)
		}
	}
	if tc := req.ToolConfig; tc != nil {
		switch tc.FunctionCallingConfig.Mode {
		case "ANY":
			c.forceAny = true
			if len(tc.FunctionCallingConfig.AllowedFunctionNames) == 1 {
				c.forceTool = tc.FunctionCallingConfig.AllowedFunctionNames[0]
			}
		case "NONE":
			c.tools = nil
		}
	}
	if gc := req.GenerationConfig; gc != nil {
		c.maxTokens = gc.MaxOutputTokens
		if tc := gc.ThinkingConfig; tc != nil {
			// Thinking is on by default on Gemini 2.5 Flash; the fake thinks only when asked, so that answers
			// without a thinkingConfig stay as they were. Thoughts come back only with includeThoughts.
			c.thinking = dynamicThinking
			if l := tc.ThinkingLevel; l != nil {
				if tc.ThinkingBudget != nil {
					return nil, errors.New("Unable to submit request because thinking_budget and thinking_level are not supported together.") //nolint:staticcheck // the real API's wording
				}
				switch c.thinkingLevel = strings.ToLower(*l); c.thinkingLevel {
				case "minimal", "low", "medium", "high":
				default:
					return nil, fmt.Errorf("Invalid value at 'generation_config.thinking_config.thinking_level' "+ //nolint:staticcheck // the real API's wording
						"(type.googleapis.com/google.ai.generativelanguage.v1beta.ThinkingConfig.ThinkingLevel), %q", *l)
				}
			}
			if b := tc.ThinkingBudget; b != nil {
				if *b < -1 || *b > geminiMaxThinkingBudget {
					return nil, fmt.Errorf("* GenerateContentRequest.generation_config.thinking_config.thinking_budget: "+
						"must be -1 (dynamic) or between 0 and %d", geminiMaxThinkingBudget)
				}
				if *b >= 0 {
					c.thinking = *b
				}
			}
			c.hideThinking = !tc.IncludeThoughts
		}
	}
	return c, nil
}

// checkModel implements modelChecker: only Gemini 3 models take a thinkingLevel; the 2.5 models the fake
// otherwise stands for refuse it.
func (p *geminiProto) checkModel(c *call) error {
	if c.thinkingLevel != "" && !strings.HasPrefix(c.model, "gemini-3") {
		return errors.New("Thinking level is not supported for this model.") //nolint:staticcheck // the real API's wording
	}
	return nil
}

// counts implements tokenCounter.
func (p *geminiProto) counts(r *http.Request) bool {
	return strings.HasSuffix(r.URL.Path, ":countTokens")
}

// parseCount implements tokenCounter. A countTokens body holds either bare contents or a whole
// generateContentRequest (which must name its model as models/{model}), never both, and nothing else.
func (p *geminiProto) parseCount(body []byte) (*call, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, fmt.Errorf("Invalid JSON payload received. %w", err) //nolint:staticcheck // the real API's wording
	}
	for name := range fields {
		if name != "contents" && name != "generateContentRequest" {
			return nil, fmt.Errorf("Invalid JSON payload received. Unknown name %q: Cannot find field.", name) //nolint:staticcheck // the real API's wording
		}
	}
	gcr, whole := fields["generateContentRequest"]
	if _, bare := fields["contents"]; bare == whole {
		return nil, errors.New("* CountTokensRequest: exactly one of contents and generateContentRequest must be set")
	}
	if !whole {
		return p.parse(body)
	}
	var named struct {
		Model string `json:"model"`
	}
	if err := json.Unmarshal(gcr, &named); err != nil || !strings.HasPrefix(named.Model, "models/") {
		return nil, errors.New("* GenerateContentRequest.model: model must be models/{model}")
	}
	return p.parse(gcr) // the model that answers is the path's, as for generateContent
}

// renderCount implements tokenCounter.
func (p *geminiProto) renderCount(b []byte, input int) []byte {
	return append(appendInt(append(b, `{"totalTokens":`...), input), '}')
}

func geminiFinish(f int) string {
	switch f {
	case finishLength:
		return "MAX_TOKENS"
	case finishFilter:
		return "SAFETY"
	}
	return "STOP" // Gemini reports STOP for function calls too
}

// appendResponse writes one GenerateContentResponse: parts holds the already-encoded parts array body (nil for
// none), finish is "" for a non-final stream chunk, output is the candidates count so far.
func (p *geminiProto) appendResponse(b []byte, c *call, res *result, parts []byte, finish string, output int) []byte {
	b = append(b, `{"candidates":[{`...)
	if parts != nil {
		b = append(b, `"content":{"parts":[`...)
		b = append(b, parts...)
		b = append(b, `],"role":"model"},`...)
	}
	if finish != "" {
		b = append(b, `"finishReason":"`...)
		b = append(b, finish...)
		b = append(b, `",`...)
		if finish == "SAFETY" {
			b = append(b, `"safetyRatings":[{"category":"HARM_CATEGORY_DANGEROUS_CONTENT","probability":"HIGH","blocked":true}],`...)
		}
	}
	b = append(b, `"index":0}],"usageMetadata":{"promptTokenCount":`...)
	b = appendInt(b, res.input)
	candidates := max(output-res.reasoning, 0) // Gemini's candidatesTokenCount excludes thoughts
	b = append(b, `,"candidatesTokenCount":`...)
	b = appendInt(b, candidates)
	b = append(b, `,"totalTokenCount":`...)
	b = appendInt(b, res.input+output)
	if res.cached > 0 {
		b = append(b, `,"cachedContentTokenCount":`...)
		b = appendInt(b, res.cached)
	}
	if res.reasoning > 0 && finish != "" {
		b = append(b, `,"thoughtsTokenCount":`...)
		b = appendInt(b, res.reasoning)
	}
	b = append(b, `},"modelVersion":`...)
	b = appendString(b, c.model)
	b = append(b, `,"responseId":"fake-`...)
	b = strconv.AppendInt(b, res.id, 10)
	return append(b, `"}`...)
}

func (p *geminiProto) toolPart(res *result) []byte {
	b := append([]byte(`{"functionCall":{"name":`), appendString(nil, res.tool)...)
	b = append(b, `,"args":`...)
	b = append(b, res.toolArgs...)
	return append(b, `}}`...)
}

// thoughtPart is a thought summary part.
func thoughtPart(b []byte, text string) []byte {
	b = appendString(append(b, `{"text":`...), text)
	return append(b, `,"thought":true}`...)
}

func (p *geminiProto) render(b []byte, c *call, res *result) []byte {
	var parts []byte
	if len(res.thought) > 0 && !c.hideThinking {
		parts = thoughtPart(parts, res.thoughtText())
		if res.tool != "" || len(res.words) > 0 {
			parts = append(parts, ',')
		}
	}
	switch {
	case res.tool != "":
		parts = append(parts, p.toolPart(res)...)
	case len(res.words) > 0:
		parts = appendString(append(parts, `{"text":`...), res.text())
		parts = append(parts, '}')
	}
	return append(p.appendResponse(b, c, res, parts, geminiFinish(res.finish), res.output), '\n')
}

func (p *geminiProto) renderStream(c *call, res *result, emit func([]byte) bool) {
	var b, part []byte
	send := func(parts []byte, finish string, output int) bool {
		b = append(b[:0], "data: "...)
		b = p.appendResponse(b, c, res, parts, finish, output)
		b = append(b, "\r\n\r\n"...) // the real API separates events with CRLF
		return emit(b)
	}
	if !c.hideThinking {
		for _, w := range res.thought {
			if !send(thoughtPart(part[:0], w), "", 0) {
				return
			}
		}
	}
	switch {
	case res.tool != "":
		send(p.toolPart(res), geminiFinish(res.finish), res.output)
	case len(res.words) == 0:
		send(nil, geminiFinish(res.finish), res.output)
	default:
		last := len(res.words) - 1
		for i, w := range res.words {
			part = appendString(append(part[:0], `{"text":`...), w)
			part = append(part, '}')
			finish, output := "", i+1
			if i == last {
				finish, output = geminiFinish(res.finish), res.output
			}
			if !send(part, finish, output) {
				return
			}
		}
	}
}

// geminiError writes Google's error envelope.
func geminiError(w http.ResponseWriter, code int, status, message string, details ...any) {
	e := map[string]any{"code": code, "message": message, "status": status}
	if len(details) > 0 {
		e["details"] = details
	}
	b, _ := json.Marshal(map[string]any{"error": e})
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

func (p *geminiProto) writeError(w http.ResponseWriter, kind errKind, detail string) {
	switch kind {
	case errAuth:
		// Gemini really answers an invalid key with 400 INVALID_ARGUMENT and reason API_KEY_INVALID, not 401;
		// the fake does the same so the classifier is tested against the real shape.
		msg := "API key not valid. Please pass a valid API key."
		if detail != "" {
			msg = "API key not valid: " + detail + ". Please pass a valid API key."
		}
		geminiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", msg,
			map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
				"domain": "googleapis.com", "metadata": map[string]string{"service": "generativelanguage.googleapis.com"}})
	case errNotFound:
		geminiError(w, http.StatusNotFound, "NOT_FOUND", "Requested entity was not found.")
	case errModelNotFound:
		geminiError(w, http.StatusNotFound, "NOT_FOUND", "models/"+detail+
			" is not found for API version v1beta, or is not supported for generateContent.")
	case errContextTooLong:
		geminiError(w, http.StatusBadRequest, "INVALID_ARGUMENT",
			"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).")
	default:
		geminiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", detail)
	}
}

func (p *geminiProto) writeStatus(w http.ResponseWriter, status int) {
	switch {
	case status == http.StatusTooManyRequests:
		geminiError(w, status, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).")
	case status == http.StatusServiceUnavailable:
		geminiError(w, status, "UNAVAILABLE", "The model is overloaded. Please try again later.")
	case status == http.StatusGatewayTimeout:
		geminiError(w, status, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete.")
	case status >= 500:
		geminiError(w, status, "INTERNAL", "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting")
	case status == http.StatusUnauthorized:
		geminiError(w, status, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
	case status == http.StatusForbidden:
		geminiError(w, status, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.")
	default:
		geminiError(w, status, "INVALID_ARGUMENT", http.StatusText(status))
	}
}
