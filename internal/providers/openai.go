package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
)

// OpenAIAdapter speaks the OpenAI chat-completions format, used by OpenAI and by compatible providers (groq,
// mistral, deepseek, xai, any openaiCompatible endpoint). The client's request passes through with every field
// it sent; only the model, the token limit, and the stream options are rewritten.
type OpenAIAdapter struct {
	// Provider is the configured provider name; it picks the default base URL and the token-limit field.
	Provider string
}

// Do implements Adapter.
func (a *OpenAIAdapter) Do(ctx context.Context, hc *http.Client, ep Endpoint, req *ChatRequest) (*ChatResponse, Usage, error) {
	out := a.prepare(ep, req)
	out.Stream = false
	out.StreamOptions = nil // OpenAI rejects stream_options on a non-streaming request
	resp, err := a.send(ctx, hc, ep, req, out)
	if err != nil {
		return nil, Usage{}, err
	}
	var cr ChatResponse
	body, err := readJSONBody(a.name(), resp, &cr)
	if err != nil {
		return nil, Usage{}, err
	}
	cr.Raw = body
	if cr.Choices == nil {
		// A 200 without choices (an HTML error page that happens to be JSON, a proxy's {}) is not an answer.
		return nil, Usage{}, malformed(a.name(), "no choices")
	}
	return &cr, cr.Usage.Normalize(), nil
}

// Stream implements Adapter. It always asks upstream for include_usage, because the router needs the usage to
// compute cost even when the client did not ask for it.
func (a *OpenAIAdapter) Stream(ctx context.Context, hc *http.Client, ep Endpoint, req *ChatRequest) (StreamReader, error) {
	out := a.prepare(ep, req)
	out.Stream = true
	out.StreamOptions = &StreamOptions{IncludeUsage: true}
	resp, err := a.send(ctx, hc, ep, req, out) //nolint:bodyclose // the returned stream reader owns the body and closes it
	if err != nil {
		return nil, err
	}
	return &openAIStream{provider: a.name(), body: resp.Body, sse: newSSEReader(resp.Body)}, nil
}

func (a *OpenAIAdapter) name() string {
	if a.Provider == "" {
		return ProviderOpenAI
	}
	return a.Provider
}

// prepare returns a shallow copy of req with the target's model and the endpoint's token cap; the caller's
// request is left untouched.
func (a *OpenAIAdapter) prepare(ep Endpoint, req *ChatRequest) *ChatRequest {
	out := *req
	if ep.Model != "" {
		out.Model = ep.Model
	}
	if ep.MaxTokens > 0 {
		switch {
		case req.MaxCompletionTokens != nil:
			out.MaxCompletionTokens = ptr(capTokens(*req.MaxCompletionTokens, ep.MaxTokens))
		case req.MaxTokens != nil:
			out.MaxTokens = ptr(capTokens(*req.MaxTokens, ep.MaxTokens))
		case a.name() == ProviderOpenAI:
			// OpenAI's reasoning models reject max_tokens; max_completion_tokens works for every OpenAI model.
			out.MaxCompletionTokens = ptr(ep.MaxTokens)
		default:
			// Compatible providers all accept max_tokens; not all know max_completion_tokens.
			out.MaxTokens = ptr(ep.MaxTokens)
		}
	}
	if req.Raw == nil && a.name() == ProviderOpenAI && out.MaxTokens != nil && out.MaxCompletionTokens == nil {
		// A request translated from another wire format (Anthropic's max_tokens): the field name is the
		// router's choice, and OpenAI's reasoning models accept only max_completion_tokens. A client's own
		// OpenAI body (Raw) keeps the field it chose.
		out.MaxCompletionTokens, out.MaxTokens = out.MaxTokens, nil
	}
	out.Extra = reasoningExtra(a.name(), ep, req)
	return &out
}

// send posts out, the prepared copy of req. When req carries its raw body, that body is sent with only the
// fields prepare changed rewritten in place.
func (a *OpenAIAdapter) send(ctx context.Context, hc *http.Client, ep Endpoint, req, out *ChatRequest) (*http.Response, error) {
	var body any = out
	if req.Raw != nil {
		if raw, ok := rewriteObject(req.Raw, rawEdits(req, out)); ok {
			body = json.RawMessage(raw)
		}
	}
	return a.post(ctx, hc, ep, "/chat/completions", body)
}

// post sends body to path under the endpoint's base URL with the key as a bearer token.
func (a *OpenAIAdapter) post(ctx context.Context, hc *http.Client, ep Endpoint, path string, body any) (*http.Response, error) {
	return send(ctx, hc, a.name(), baseURL(ep, a.name())+path, body, ep.Key, func(h http.Header) {
		h.Set("Authorization", "Bearer "+ep.Key.Reveal())
	})
}

// rawEdits lists the top-level fields in which out, prepared from req, differs from it.
func rawEdits(req, out *ChatRequest) []fieldEdit {
	edits := make([]fieldEdit, 0, 5)
	if out.Model != req.Model {
		edits = append(edits, fieldEdit{"model", jsonString(out.Model)})
	}
	if e, ok := intEdit("max_tokens", req.MaxTokens, out.MaxTokens); ok {
		edits = append(edits, e)
	}
	if e, ok := intEdit("max_completion_tokens", req.MaxCompletionTokens, out.MaxCompletionTokens); ok {
		edits = append(edits, e)
	}
	if out.Stream {
		edits = append(edits, fieldEdit{"stream", []byte("true")})
	} else {
		edits = append(edits, fieldEdit{"stream", nil})
	}
	if out.StreamOptions == nil {
		edits = append(edits, fieldEdit{"stream_options", nil})
	} else {
		so, _ := json.Marshal(out.StreamOptions) // a struct of plain fields always encodes
		edits = append(edits, fieldEdit{"stream_options", so})
	}
	return edits
}

// intEdit returns the edit for a token limit prepare changed; removing one is never needed.
func intEdit(name string, before, after *int) (fieldEdit, bool) {
	if after == nil || (before != nil && *before == *after) {
		return fieldEdit{}, false
	}
	return fieldEdit{name, strconv.AppendInt(nil, int64(*after), 10)}, true
}

// openAIStream passes OpenAI chunks through, checking each parses and that [DONE] arrives.
type openAIStream struct {
	provider string
	body     io.ReadCloser
	sse      *sseReader
	usage    Usage
	done     bool
}

var doneMarker = []byte("[DONE]")

func (s *openAIStream) Next() (*StreamChunk, error) {
	if s.done {
		return nil, io.EOF
	}
	for {
		ev, err := s.sse.next()
		if err != nil {
			return nil, interrupted(s.provider, err)
		}
		data := bytes.TrimSpace(ev.Data)
		if len(data) == 0 {
			continue
		}
		if bytes.Equal(data, doneMarker) {
			s.done = true
			return nil, io.EOF
		}
		var chunk struct {
			StreamChunk
			Error *struct {
				Message string `json:"message"`
				Type    string `json:"type"`
				Code    any    `json:"code"`
			} `json:"error"`
		}
		if err := unmarshalJSON(data, &chunk); err != nil {
			return nil, malformedErr(s.provider, err)
		}
		if chunk.Error != nil {
			return nil, errStreamEvent(s.provider, chunk.Error.Type, chunk.Error.Message)
		}
		c := chunk.StreamChunk
		if c.Choices == nil {
			c.Choices = []ChunkChoice{}
		}
		if c.Usage != nil {
			s.usage = c.Usage.Normalize()
		}
		return &c, nil
	}
}

func (s *openAIStream) Usage() Usage { return s.usage }

func (s *openAIStream) Close() error { return s.body.Close() }

// compile-time checks
var (
	_ Adapter      = (*OpenAIAdapter)(nil)
	_ StreamReader = (*openAIStream)(nil)
)
