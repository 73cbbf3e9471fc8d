package fakeprovider_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/llmroute/llmroute/internal/fakeprovider"
)

// TestOpenAIInputTokens: the fake's POST /responses/input_tokens answers the official openai-go client's
// Responses.InputTokens.Count with the input tokens chat completions bills for the same prompt, and refuses
// what the real API refuses with a 400: a chat completions body (messages, max_tokens), a chat-shaped tool,
// an item without its required fields.
func TestOpenAIInputTokens(t *testing.T) {
	s := start(t, fakeprovider.Options{Provider: fakeprovider.OpenAI})
	billed, _, err := adapter(t, fakeprovider.OpenAI).Do(context.Background(), nil, ep(s, key),
		request(t, `{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"one two three"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if billed.Usage == nil || billed.Usage.PromptTokens != 5+2 {
		t.Fatalf("chat completions billed %+v, want 7 input tokens (5 words, 2 messages)", billed.Usage)
	}

	client := openai.NewClient(option.WithBaseURL(s.URL()), option.WithAPIKey(key), option.WithMaxRetries(0))
	count, err := client.Responses.InputTokens.Count(context.Background(), responses.InputTokenCountParams{
		Model:        openai.String("gpt-5-mini"),
		Instructions: openai.String("be brief"),
		Input:        responses.InputTokenCountParamsInputUnion{OfString: openai.String("one two three")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if count.InputTokens != int64(billed.Usage.PromptTokens) || count.Object != "response.input_tokens" {
		t.Errorf("input_tokens %d (object %q), chat completions billed %d", count.InputTokens, count.Object, billed.Usage.PromptTokens)
	}

	items := `"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"one two"},` +
		`{"type":"input_image","image_url":"https://example.com/a.png","detail":"auto"}]},` +
		`{"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},` +
		`{"type":"function_call_output","call_id":"c1","output":"three"},{"role":"assistant","content":"four"}]`
	// 4 words, 4 items.
	if status, got := post(t, s, "/responses/input_tokens", `{"model":"m",`+items+
		`,"tools":[{"type":"function","name":"f","parameters":null,"strict":false}]}`); status != http.StatusOK ||
		got != `{"object":"response.input_tokens","input_tokens":`+strconv.Itoa(4+1+4)+`}` {
		t.Errorf("items: %d %s", status, got)
	}
	for _, body := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","input":"hi","max_tokens":5}`,
		`{"input":"hi"}`,
		`{"model":"m","input":"hi","tools":[{"type":"function","function":{"name":"f","parameters":{}}}]}`,
		`{"model":"m","input":"hi","tools":[{"type":"function","name":"f","parameters":{}}]}`,
		`{"model":"m","input":[{"type":"message","role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		`{"model":"m","input":[{"type":"message","role":"user","content":[{"type":"input_image","image_url":"https://x/a.png"}]}]}`,
		`{"model":"m","input":[{"type":"message","role":"tool","content":"hi"}]}`,
		`{"model":"m","input":[{"type":"function_call","name":"f","arguments":"{}"}]}`,
		`{"model":"m","input":[{"type":"function_call_output","call_id":"c1"}]}`,
		`not json`,
	} {
		if status, got := post(t, s, "/responses/input_tokens", body); status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", body, status, got)
		}
	}
}
