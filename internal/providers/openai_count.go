package providers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// OpenAI counts input tokens with POST /v1/responses/input_tokens, which takes the input of a Responses API
// request (input items, tools, tool_choice, text format) rather than a chat completions body, and answers
// {"object": "response.input_tokens", "input_tokens": N}. Only OpenAI serves it: Groq, Mistral, DeepSeek, xAI
// and other compatible endpoints have no such call, so their targets still cannot count.

// openAICountRequest is an input_tokens body.
type openAICountRequest struct {
	Model      string               `json:"model"`
	Input      []openAIInputItem    `json:"input"`
	Tools      []openAIResponseTool `json:"tools,omitempty"`
	ToolChoice any                  `json:"tool_choice,omitempty"`
	Text       *openAIResponseText  `json:"text,omitempty"`
}

// openAIInputItem is one Responses input item: a message, a function call the assistant made, or its output.
type openAIInputItem struct {
	Type      string  `json:"type"`
	Role      string  `json:"role,omitempty"`
	Content   any     `json:"content,omitempty"` // a string, or []openAIInputPart
	CallID    string  `json:"call_id,omitempty"`
	Name      string  `json:"name,omitempty"`
	Arguments *string `json:"arguments,omitempty"`
	Output    *string `json:"output,omitempty"`
}

// openAIInputPart is an input_text or input_image content part.
type openAIInputPart struct {
	Type     string `json:"type"`
	Text     string `json:"text,omitempty"`
	ImageURL string `json:"image_url,omitempty"`
	Detail   string `json:"detail,omitempty"`
}

// openAIResponseTool is a Responses function tool: flat, where chat completions nests it under "function".
// The API requires parameters and strict to be present (either may be null); a chat tool without strict is not
// strict, so false is sent rather than the Responses API's own default.
type openAIResponseTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      bool            `json:"strict"`
}

type openAIResponseText struct {
	Format openAIResponseFormat `json:"format"`
}

type openAIResponseFormat struct {
	Type        string          `json:"type"`
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// toOpenAICount translates req into an input_tokens body for model. Thinking blocks of earlier turns are left
// out: they are another provider's, and OpenAI takes no reasoning back in this form.
func toOpenAICount(model string, req *ChatRequest) (*openAICountRequest, error) {
	out := &openAICountRequest{Model: model, Input: make([]openAIInputItem, 0, len(req.Messages))}
	for i, m := range req.Messages {
		switch m.Role {
		case RoleSystem, RoleDeveloper, RoleUser:
			content, err := openAIInputContent(m.Content)
			if err != nil {
				return nil, fmt.Errorf("messages[%d]: %w", i, err)
			}
			out.Input = append(out.Input, openAIInputItem{Type: "message", Role: m.Role, Content: content})
		case RoleAssistant:
			if text := m.Content.PlainText(); text != "" {
				out.Input = append(out.Input, openAIInputItem{Type: "message", Role: RoleAssistant, Content: text})
			}
			for _, tc := range m.ToolCalls {
				args := tc.Function.Arguments
				if args == "" {
					args = "{}"
				}
				out.Input = append(out.Input, openAIInputItem{Type: "function_call", CallID: tc.ID,
					Name: tc.Function.Name, Arguments: &args})
			}
		case RoleTool:
			output := m.Content.PlainText()
			out.Input = append(out.Input, openAIInputItem{Type: "function_call_output", CallID: m.ToolCallID, Output: &output})
		default:
			return nil, fmt.Errorf("messages[%d]: %w: role %q has no Responses input item", i, ErrUnsupportedRequest, m.Role)
		}
	}
	for _, t := range req.Tools {
		params := t.Function.Parameters
		if len(params) == 0 {
			params = json.RawMessage("null")
		}
		out.Tools = append(out.Tools, openAIResponseTool{Type: "function", Name: t.Function.Name,
			Description: t.Function.Description, Parameters: params, Strict: t.Function.Strict != nil && *t.Function.Strict})
	}
	if tc := req.ToolChoice; tc != nil && len(req.Tools) > 0 {
		switch tc.Mode {
		case ToolChoiceAuto, ToolChoiceNone, ToolChoiceRequired:
			out.ToolChoice = tc.Mode
		case ToolChoiceFunction:
			out.ToolChoice = map[string]string{"type": "function", "name": tc.Function}
		}
	}
	if rf := req.ResponseFormat; rf != nil {
		switch {
		case rf.Type == FormatJSONObject:
			out.Text = &openAIResponseText{Format: openAIResponseFormat{Type: FormatJSONObject}}
		case rf.Type == FormatJSONSchema && rf.JSONSchema != nil:
			s := rf.JSONSchema
			out.Text = &openAIResponseText{Format: openAIResponseFormat{Type: FormatJSONSchema, Name: s.Name,
				Description: s.Description, Schema: nonNullRaw(s.Schema), Strict: s.Strict}}
		}
	}
	return out, nil
}

// openAIInputContent returns a user, system or developer message's content as Responses input: a string as
// it is, parts as input_text and input_image parts.
func openAIInputContent(c *Content) (any, error) {
	if c == nil {
		return "", nil
	}
	if c.Parts == nil {
		return c.Text, nil
	}
	parts := make([]openAIInputPart, 0, len(c.Parts))
	for j, p := range c.Parts {
		switch {
		case p.Type == PartText:
			parts = append(parts, openAIInputPart{Type: "input_text", Text: p.Text})
		case p.Type == PartImageURL && p.ImageURL != nil:
			detail := p.ImageURL.Detail
			if detail == "" {
				detail = "auto" // required in Responses input, the chat default
			}
			parts = append(parts, openAIInputPart{Type: "input_image", ImageURL: p.ImageURL.URL, Detail: detail})
		default:
			return nil, fmt.Errorf("content[%d]: %w: a %q part has no Responses input form", j, ErrUnsupportedRequest, p.Type)
		}
	}
	return parts, nil
}

// CountTokens implements TokenCounter with OpenAI's POST /v1/responses/input_tokens. It is an error wrapping
// ErrUnsupportedRequest on any other OpenAI-compatible provider (see CanCountTokens).
func (a *OpenAIAdapter) CountTokens(ctx context.Context, hc *http.Client, ep Endpoint, req *ChatRequest) (int, error) {
	if a.name() != ProviderOpenAI {
		return 0, errNoTokenCounting(a.name())
	}
	model := req.Model
	if ep.Model != "" {
		model = ep.Model
	}
	creq, err := toOpenAICount(model, req)
	if err != nil {
		return 0, err
	}
	resp, err := a.post(ctx, hc, ep, "/responses/input_tokens", creq) //nolint:bodyclose // readInputTokens closes it
	if err != nil {
		return 0, err
	}
	return readInputTokens(ProviderOpenAI, "input_tokens", resp)
}
