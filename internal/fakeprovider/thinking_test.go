package fakeprovider_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/llmroute/llmroute/internal/fakeprovider"
	"github.com/llmroute/llmroute/internal/providers"
)

// post sends body to the fake's path with the format's auth and returns the status and the body.
func post(t *testing.T, s *fakeprovider.Server, path, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-api-key", key)
	req.Header.Set("x-goog-api-key", key)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAnthropicThinking(t *testing.T) {
	s := start(t, fakeprovider.Options{Provider: fakeprovider.Anthropic})
	status, body := post(t, s, "/messages", `{"model":"claude","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},
	  "messages":[{"role":"user","content":"weather in Oslo"}]}`)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	var msg struct {
		Content []struct{ Type, Thinking, Signature, Text string }
		Usage   struct {
			OutputTokens int `json:"output_tokens"`
		}
	}
	if err := json.Unmarshal([]byte(body), &msg); err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 2 || msg.Content[0].Type != "thinking" || msg.Content[0].Thinking != "thinking about: weather in Oslo" ||
		msg.Content[0].Signature == "" || msg.Content[1].Text != "fake reply to: weather in Oslo" {
		t.Fatalf("content %s", body)
	}
	// output_tokens includes the 5 thinking words, as Anthropic bills them.
	if msg.Usage.OutputTokens != 5+6 {
		t.Errorf("output tokens %d", msg.Usage.OutputTokens)
	}

	block, _ := json.Marshal(map[string]string{"type": "thinking", "thinking": msg.Content[0].Thinking, "signature": msg.Content[0].Signature})
	toolTurn := func(thinking string) string {
		return `{"model":"claude","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},
		  "tools":[{"name":"f","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"weather in Oslo"},
		  {"role":"assistant","content":[` + thinking + `{"type":"tool_use","id":"toolu_1","name":"f","input":{}}]},
		  {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"3C"}]}]}`
	}
	if status, body := post(t, s, "/messages", toolTurn(string(block)+",")); status != 200 || !strings.Contains(body, "thinking about the tool result") {
		t.Errorf("its own signed block: %d %s", status, body)
	}
	for name, tc := range map[string]struct{ body, want string }{
		"forged signature": {toolTurn(`{"type":"thinking","thinking":"thinking about: weather in Oslo","signature":"Zm9yZ2Vk"},`),
			"messages.1.content.0: Invalid `signature` in `thinking` block"},
		"edited thinking": {toolTurn(strings.Replace(string(block), "Oslo", "Bergen", 1) + ","),
			"Invalid `signature` in `thinking` block"},
		"unsigned block": {toolTurn(`{"type":"thinking","thinking":"gemini thoughts","signature":""},`), "Invalid `signature`"},
		"tool turn without thinking": {toolTurn(""),
			"messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`"},
		"forged redacted block": {toolTurn(`{"type":"redacted_thinking","data":"EncFakeAAAA.x"},`), "Invalid `data` in `redacted_thinking` block"},
		"budget below 1024": {`{"model":"c","max_tokens":4000,"thinking":{"type":"enabled","budget_tokens":1000},"messages":[{"role":"user","content":"x"}]}`,
			"thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"},
		"budget not below max_tokens": {`{"model":"c","max_tokens":1024,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"x"}]}`,
			"`max_tokens` must be greater than `thinking.budget_tokens`"},
		"temperature": {`{"model":"c","max_tokens":4000,"temperature":0.3,"thinking":{"type":"adaptive"},"messages":[{"role":"user","content":"x"}]}`,
			"`temperature` may only be set to 1 when thinking is enabled"},
		"forced tool": {`{"model":"c","max_tokens":4000,"thinking":{"type":"adaptive"},"tools":[{"name":"f","input_schema":{}}],
		  "tool_choice":{"type":"any"},"messages":[{"role":"user","content":"x"}]}`, "Thinking may not be enabled when tool_choice forces tool use"},
		"thinking prefill without thinking": {`{"model":"c","max_tokens":4000,"messages":[{"role":"user","content":"x"},
		  {"role":"assistant","content":[` + string(block) + `]}]}`, "When thinking is disabled, an `assistant` message in the final position cannot contain `thinking`"},
		"unknown type": {`{"model":"c","max_tokens":4000,"thinking":{"type":"deep"},"messages":[{"role":"user","content":"x"}]}`,
			"thinking: Input tag 'deep' found using 'type' does not match"},
	} {
		status, body := post(t, s, "/messages", tc.body)
		if status != 400 || !strings.Contains(body, tc.want) || !strings.Contains(body, "invalid_request_error") {
			t.Errorf("%s: %d %s", name, status, body)
		}
	}
	// The interleaved-thinking beta flag lets the budget exceed max_tokens; the answer stays within max_tokens.
	over := `{"model":"c","max_tokens":3,"thinking":{"type":"enabled","budget_tokens":8000},"messages":[{"role":"user","content":"a b c d e"}]}`
	status, body = post(t, s, "/messages", over, "anthropic-beta", "output-128k-2025-02-19, "+fakeprovider.InterleavedThinkingBeta)
	var answer struct {
		Usage struct {
			OutputTokens int `json:"output_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal([]byte(body), &answer); status != 200 || err != nil || answer.Usage.OutputTokens > 3 {
		t.Errorf("interleaved, budget above max_tokens: %d %s", status, body)
	}
	if status, body := post(t, s, "/messages", over, "anthropic-beta", "output-128k-2025-02-19"); status != 400 ||
		!strings.Contains(body, "`max_tokens` must be greater than `thinking.budget_tokens`") {
		t.Errorf("budget above max_tokens without the flag: %d %s", status, body)
	}

	// Without thinking, earlier turns' blocks are accepted (Anthropic ignores them), its own or not.
	if status, body := post(t, s, "/messages", strings.Replace(toolTurn(string(block)+","), `"thinking":{"type":"enabled","budget_tokens":1024},`, "", 1)); status != 200 {
		t.Errorf("no thinking, signed block in history: %d %s", status, body)
	}

	// Redacted thinking on Anthropic's trigger, and display omitted: still signed, no text.
	status, body = post(t, s, "/messages", `{"model":"c","max_tokens":4000,"thinking":{"type":"adaptive"},
	  "messages":[{"role":"user","content":"`+fakeprovider.RedactedThinkingTrigger+`"}]}`)
	if status != 200 || !strings.Contains(body, `{"type":"redacted_thinking","data":"EncFake`) {
		t.Errorf("redacted: %d %s", status, body)
	}
	status, body = post(t, s, "/messages", `{"model":"c","max_tokens":4000,"thinking":{"type":"adaptive","display":"omitted"},
	  "messages":[{"role":"user","content":"x"}]}`)
	if status != 200 || !strings.Contains(body, `{"type":"thinking","thinking":"","signature":"`) {
		t.Errorf("omitted: %d %s", status, body)
	}
}

func TestAnthropicThinkingStream(t *testing.T) {
	s := start(t, fakeprovider.Options{Provider: fakeprovider.Anthropic})
	req := request(t, `{"model":"m","max_tokens":2048,"stream":true,"messages":[{"role":"user","content":"hello there"}]}`)
	req.Reasoning = &providers.Reasoning{BudgetTokens: 1024}
	sr, err := adapter(t, fakeprovider.Anthropic).Stream(context.Background(), nil, ep(s, key), req)
	if err != nil {
		t.Fatal(err)
	}
	reasoning, sig, content := readThinking(t, sr)
	if reasoning != "thinking about: hello there" || sig == "" || content != "fake reply to: hello there" {
		t.Errorf("reasoning %q signature %q content %q", reasoning, sig, content)
	}
	if u := sr.Usage(); u.OutputTokens != 4+5 {
		t.Errorf("usage %+v", u)
	}
	if !strings.Contains(string(s.LastRequestBody()), `"thinking":{"type":"enabled","budget_tokens":1024}`) {
		t.Errorf("request %s", s.LastRequestBody())
	}
}

func TestGeminiThinking(t *testing.T) {
	s := start(t, fakeprovider.Options{Provider: fakeprovider.Gemini})
	path := "/models/gemini-2.5-flash:generateContent"
	status, body := post(t, s, path, `{"contents":[{"role":"user","parts":[{"text":"hello there"}]}],
	  "generationConfig":{"maxOutputTokens":100,"thinkingConfig":{"thinkingBudget":1024,"includeThoughts":true}}}`)
	if status != 200 || !strings.Contains(body, `"parts":[{"text":"thinking about: hello there","thought":true},{"text":"fake reply to: hello there"}]`) ||
		!strings.Contains(body, `"candidatesTokenCount":5,`) || !strings.Contains(body, `"thoughtsTokenCount":4`) {
		t.Errorf("%d %s", status, body)
	}
	// Without includeThoughts the thoughts are billed, not shown.
	status, body = post(t, s, path, `{"contents":[{"role":"user","parts":[{"text":"hello there"}]}],
	  "generationConfig":{"thinkingConfig":{"thinkingBudget":-1}}}`)
	if status != 200 || strings.Contains(body, `"thought":true`) || !strings.Contains(body, `"thoughtsTokenCount":4`) {
		t.Errorf("hidden thoughts: %d %s", status, body)
	}
	status, body = post(t, s, path, `{"contents":[{"role":"user","parts":[{"text":"x"}]}],"generationConfig":{"thinkingConfig":{"thinkingBudget":30000}}}`)
	if status != 400 || !strings.Contains(body, "thinking_budget") {
		t.Errorf("budget out of range: %d %s", status, body)
	}

	req := request(t, `{"model":"m","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hello there"}]}`)
	req.Reasoning = &providers.Reasoning{BudgetTokens: 2048}
	sr, err := adapter(t, fakeprovider.Gemini).Stream(context.Background(), nil, ep(s, key), req)
	if err != nil {
		t.Fatal(err)
	}
	reasoning, _, _ := readThinking(t, sr)
	if u := sr.Usage(); reasoning != "thinking about: hello there" || u.ReasoningTokens != 4 || u.OutputTokens != 9 {
		t.Errorf("stream reasoning %q usage %+v", reasoning, u)
	}
}

func TestOpenAIReasoning(t *testing.T) {
	s := start(t, fakeprovider.Options{Provider: fakeprovider.OpenAI})
	status, body := post(t, s, "/chat/completions", `{"model":"o4-mini","reasoning_effort":"low","messages":[{"role":"user","content":"hello there world"}]}`)
	if status != 200 || !strings.Contains(body, `"completion_tokens":10,`) || !strings.Contains(body, `"reasoning_tokens":4`) ||
		strings.Contains(body, "reasoning_content") {
		t.Errorf("%d %s", status, body)
	}
	status, body = post(t, s, "/chat/completions", `{"model":"gpt-4o-mini","reasoning_effort":"low","messages":[{"role":"user","content":"x"}]}`)
	if status != 400 || !strings.Contains(body, "'reasoning_effort' is not supported with this model") {
		t.Errorf("non-reasoning model: %d %s", status, body)
	}
	status, body = post(t, s, "/chat/completions", `{"model":"o4-mini","reasoning_effort":"extreme","messages":[{"role":"user","content":"x"}]}`)
	if status != 400 || !strings.Contains(body, "Invalid value: 'extreme'") {
		t.Errorf("unknown effort: %d %s", status, body)
	}

	// DeepSeek's reasoner shows its reasoning as reasoning_content.
	ds := start(t, fakeprovider.Options{Provider: fakeprovider.OpenAI, ReasoningContent: true})
	status, body = post(t, ds, "/chat/completions", `{"model":"deepseek-reasoner","messages":[{"role":"user","content":"hi"}]}`)
	if status != 200 || !strings.Contains(body, `"reasoning_content":"thinking about: hi","content":"fake reply to: hi"`) {
		t.Errorf("reasoning_content: %d %s", status, body)
	}
	status, body = post(t, ds, "/chat/completions", `{"model":"deepseek-reasoner","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if status != 200 || !strings.Contains(body, `"delta":{"reasoning_content":"about:"}`) {
		t.Errorf("streamed reasoning_content: %d %s", status, body)
	}
}

// readThinking reads a stream to its end, as collect does, and returns its reasoning, its thinking signature
// and its content. The stream's usage stays readable afterwards.
func readThinking(t *testing.T, sr providers.StreamReader) (reasoning, signature, content string) {
	t.Helper()
	defer sr.Close()
	for {
		c, err := sr.Next()
		if errors.Is(err, io.EOF) {
			return reasoning, signature, content
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range c.Choices {
			if d := ch.Delta.ReasoningContent; d != nil {
				reasoning += *d
			}
			if d := ch.Delta.Content; d != nil {
				content += *d
			}
			signature += ch.Delta.ThinkingSignature
		}
	}
}

// Gemini 3 models take a thinkingLevel, earlier ones a thinkingBudget, and no model both. The fake holds the
// adapter to it: what the adapter sends each model must be accepted.
func TestGeminiThinkingLevel(t *testing.T) {
	s := start(t, fakeprovider.Options{Provider: fakeprovider.Gemini})
	const user = `{"contents":[{"role":"user","parts":[{"text":"hello there"}]}],`
	for _, tt := range []struct {
		path, config string
		status       int
		want         string
	}{
		{"/models/gemini-3-pro-preview:generateContent", `{"thinkingLevel":"low","includeThoughts":true}`, 200, `"thought":true`},
		{"/models/gemini-3-flash-preview:generateContent", `{"thinkingLevel":"HIGH"}`, 200, `"thoughtsTokenCount":4`},
		{"/models/gemini-2.5-flash:generateContent", `{"thinkingLevel":"low"}`, 400, "Thinking level is not supported for this model"},
		{"/models/gemini-3-pro-preview:generateContent", `{"thinkingLevel":"low","thinkingBudget":1024}`, 400, "not supported together"},
		{"/models/gemini-3-pro-preview:generateContent", `{"thinkingLevel":"deep"}`, 400, "thinking_level"},
	} {
		status, body := post(t, s, tt.path, user+`"generationConfig":{"thinkingConfig":`+tt.config+`}}`)
		if status != tt.status || !strings.Contains(body, tt.want) {
			t.Errorf("%s %s: %d %s", tt.path, tt.config, status, body)
		}
	}

	a := adapter(t, fakeprovider.Gemini)
	for _, tt := range []struct {
		name, model string
		reasoning   providers.Reasoning
		maxTokens   int
		sent        string // the thinkingConfig the adapter sends
		dropped     bool
	}{
		{"small budget", "gemini-3-pro-preview", providers.Reasoning{BudgetTokens: 2048}, 0, `{"thinkingLevel":"low","includeThoughts":true}`, false},
		{"large budget", "gemini-3-pro-preview", providers.Reasoning{BudgetTokens: 8192}, 0, `{"thinkingLevel":"high","includeThoughts":true}`, false},
		{"adaptive", "gemini-3.1-flash-lite", providers.Reasoning{Adaptive: true, Display: providers.ThinkingDisplaySummarized}, 0, `{"includeThoughts":true}`, false},
		// reasoning_effort high with a small output limit: fitted to 50 tokens, it asks for low rather than
		// leaving the model at its default, high.
		{"best effort, small limit", "gemini-3-flash-preview", providers.Reasoning{BudgetTokens: 24576, BestEffort: true}, 100, `{"thinkingLevel":"low","includeThoughts":true}`, false},
		{"budget model", "gemini-2.5-flash", providers.Reasoning{BudgetTokens: 2048, Display: providers.ThinkingDisplayOmitted}, 0, `{"thinkingBudget":2048}`, false},
		{"budget model, best effort, small limit", "gemini-2.5-flash", providers.Reasoning{BudgetTokens: 24576, BestEffort: true}, 100, "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := request(t, `{"model":"m","messages":[{"role":"user","content":"hello there"}]}`)
			if tt.maxTokens > 0 {
				req.MaxTokens = &tt.maxTokens
			}
			req.Reasoning = &tt.reasoning
			e := ep(s, key)
			e.Model = tt.model
			if got := providers.ReasoningDropped(providers.ProviderGemini, e, req); got != tt.dropped {
				t.Errorf("ReasoningDropped = %v, want %v", got, tt.dropped)
			}
			resp, usage, err := a.Do(context.Background(), nil, e, req)
			if err != nil {
				t.Fatal(err)
			}
			var sent struct {
				GenerationConfig struct {
					ThinkingConfig json.RawMessage `json:"thinkingConfig"`
				} `json:"generationConfig"`
			}
			if err := json.Unmarshal(s.LastRequestBody(), &sent); err != nil {
				t.Fatal(err)
			}
			if got := string(sent.GenerationConfig.ThinkingConfig); got != tt.sent {
				t.Errorf("thinkingConfig %s, want %s", got, tt.sent)
			}
			if thinks := usage.ReasoningTokens > 0; thinks == tt.dropped {
				t.Errorf("reasoning tokens %d, dropped %v", usage.ReasoningTokens, tt.dropped)
			}
			if len(resp.Choices) != 1 || resp.Choices[0].FinishReason == "" {
				t.Errorf("answer %+v", resp)
			}
		})
	}
}
