package providers_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/llmroute/llmroute/internal/providers"
)

// toolTurn is a conversation whose last assistant turn called a tool, with the given thinking on that turn.
func toolTurn(t *testing.T, thinking ...providers.ThinkingBlock) *providers.ChatRequest {
	t.Helper()
	req := mustRequest(t, `{"model":"p","max_tokens":4000,"temperature":1,"messages":[
	  {"role":"user","content":"weather in Oslo?"},
	  {"role":"assistant","content":"Checking.","tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},
	  {"role":"tool","tool_call_id":"toolu_1","content":"3C"}]}`)
	req.Messages[1].Thinking = thinking
	return req
}

func sentJSON(t *testing.T, u *upstream) string {
	t.Helper()
	b, _ := json.Marshal(u.sent(t))
	return string(b)
}

func TestAnthropicThinkingRequest(t *testing.T) {
	yes, no := true, false
	signed := providers.ThinkingBlock{Text: "let me think", Signature: "sig-A"}
	redacted := providers.ThinkingBlock{RedactedData: "enc-B"}
	foreign := providers.ThinkingBlock{Text: "gemini thoughts"} // from a provider that signs nothing
	cases := []struct {
		name      string
		reasoning *providers.Reasoning
		epMax     int
		canReason *bool
		thinking  []providers.ThinkingBlock
		want      string // the thinking parameter sent, "" for none
		blocks    string // the assistant turn's block types, in order
		temp      bool   // temperature is sent
	}{
		{"budget passes through with display", &providers.Reasoning{BudgetTokens: 2048, Display: "omitted"}, 0, &yes,
			[]providers.ThinkingBlock{signed, redacted}, `{"budget_tokens":2048,"display":"omitted","type":"enabled"}`,
			"thinking redacted_thinking text tool_use", false},
		{"adaptive", &providers.Reasoning{Adaptive: true}, 0, nil, []providers.ThinkingBlock{signed}, `{"type":"adaptive"}`,
			"thinking text tool_use", false},
		{"budget lowered below a target cap", &providers.Reasoning{BudgetTokens: 3000}, 2000, &yes, []providers.ThinkingBlock{signed},
			`{"budget_tokens":1999,"type":"enabled"}`, "thinking text tool_use", false},
		{"interleaved: the turn's budget goes as asked, above max_tokens and a target cap",
			&providers.Reasoning{BudgetTokens: 8000, Interleaved: true}, 2000, &yes, []providers.ThinkingBlock{signed},
			`{"budget_tokens":8000,"type":"enabled"}`, "thinking text tool_use", false},
		{"a cap leaving less than 1024 sends no thinking", &providers.Reasoning{BudgetTokens: 3000}, 1024, &yes,
			[]providers.ThinkingBlock{signed}, "", "text tool_use", true},
		{"unsigned blocks dropped; a tool turn without a signed block sends no thinking", &providers.Reasoning{BudgetTokens: 2048}, 0, &yes,
			[]providers.ThinkingBlock{foreign}, "", "text tool_use", true},
		{"signed block after a foreign one still counts", &providers.Reasoning{BudgetTokens: 2048}, 0, &yes,
			[]providers.ThinkingBlock{foreign, signed}, `{"budget_tokens":2048,"type":"enabled"}`, "thinking text tool_use", false},
		{"model that cannot reason", &providers.Reasoning{BudgetTokens: 2048}, 0, &no, []providers.ThinkingBlock{signed}, "",
			"text tool_use", true},
		{"no thinking asked: history thinking stripped", nil, 0, &yes, []providers.ThinkingBlock{signed, redacted}, "",
			"text tool_use", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := newUpstream(t, 200, "application/json", `{"id":"m","type":"message","content":[],"stop_reason":"end_turn","usage":{}}`)
			req := toolTurn(t, tc.thinking...)
			req.Reasoning = tc.reasoning
			ep := endpoint(u, "claude-x")
			ep.MaxTokens, ep.Reasoning = tc.epMax, tc.canReason
			a, _ := providers.For("anthropic")
			if _, _, err := a.Do(bg, nil, ep, req); err != nil {
				t.Fatal(err)
			}
			sent := u.sent(t)
			got := ""
			if th, ok := sent["thinking"]; ok {
				b, _ := json.Marshal(th)
				got = string(b)
			}
			if got != tc.want {
				t.Errorf("thinking %s, want %s", got, tc.want)
			}
			if _, ok := sent["temperature"]; ok != tc.temp {
				t.Errorf("temperature sent: %v, want %v", ok, tc.temp)
			}
			msgs := sent["messages"].([]any)
			var types []string
			for _, b := range msgs[1].(map[string]any)["content"].([]any) {
				types = append(types, b.(map[string]any)["type"].(string))
			}
			if strings.Join(types, " ") != tc.blocks {
				t.Errorf("assistant blocks %v, want %s", types, tc.blocks)
			}
			body := sentJSON(t, u)
			if strings.Contains(body, "gemini thoughts") {
				t.Errorf("an unsigned block reached Anthropic: %s", body)
			}
			if strings.Contains(tc.blocks, "thinking ") &&
				!strings.Contains(body, `{"signature":"sig-A","thinking":"let me think","type":"thinking"}`) {
				t.Errorf("the signed block did not go back unchanged: %s", body)
			}
		})
	}

	// A prefill (a final assistant turn) must start with signed thinking too, or thinking is left out.
	u := newUpstream(t, 200, "application/json", `{"id":"m","type":"message","content":[],"stop_reason":"end_turn","usage":{}}`)
	req := mustRequest(t, `{"model":"p","max_tokens":4000,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"The answer is"}]}`)
	req.Reasoning = &providers.Reasoning{BudgetTokens: 2048}
	a, _ := providers.For("anthropic")
	if _, _, err := a.Do(bg, nil, endpoint(u, "claude-x"), req); err != nil {
		t.Fatal(err)
	}
	if _, ok := u.sent(t)["thinking"]; ok {
		t.Errorf("thinking sent with a prefill that has none: %s", sentJSON(t, u))
	}
	// The request the router holds is shared between attempts: translation must not change it.
	if len(req.Messages) != 2 || req.Reasoning.BudgetTokens != 2048 {
		t.Errorf("request modified: %+v", req)
	}
}

func TestAnthropicThinkingStream(t *testing.T) {
	body := "event: message_start\n" + `data: {"type":"message_start","message":{"id":"msg_t","model":"claude-x","usage":{"input_tokens":9,"output_tokens":1}}}` + "\n\n" +
		"event: content_block_start\n" + `data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}` + "\n\n" +
		"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me "}}` + "\n\n" +
		"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"think."}}` + "\n\n" +
		"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig-1"}}` + "\n\n" +
		"event: content_block_stop\n" + `data: {"type":"content_block_stop","index":0}` + "\n\n" +
		"event: content_block_start\n" + `data: {"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"enc-2"}}` + "\n\n" +
		"event: content_block_stop\n" + `data: {"type":"content_block_stop","index":1}` + "\n\n" +
		"event: content_block_start\n" + `data: {"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}}` + "\n\n" +
		"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"Hi."}}` + "\n\n" +
		"event: content_block_stop\n" + `data: {"type":"content_block_stop","index":2}` + "\n\n" +
		"event: message_delta\n" + `data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":40}}` + "\n\n" +
		"event: message_stop\n" + `data: {"type":"message_stop"}` + "\n\n"
	u := newUpstream(t, 200, "text/event-stream", body)
	a, _ := providers.For("anthropic")
	req := mustRequest(t, `{"model":"p","max_tokens":4000,"stream":true,"messages":[{"role":"user","content":"x"}]}`)
	req.Reasoning = &providers.Reasoning{BudgetTokens: 1024}
	sr, err := a.Stream(bg, nil, endpoint(u, "claude-x"), req)
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := drain(t, sr)
	if err != nil {
		t.Fatal(err)
	}
	var reasoning, sigs, redacted []string
	for _, c := range chunks {
		for _, ch := range c.Choices {
			if d := ch.Delta.ReasoningContent; d != nil {
				reasoning = append(reasoning, *d)
			}
			if s := ch.Delta.ThinkingSignature; s != "" {
				sigs = append(sigs, s)
			}
			if r := ch.Delta.RedactedThinking; r != "" {
				redacted = append(redacted, r)
			}
		}
	}
	if strings.Join(reasoning, "") != "Let me think." || strings.Join(sigs, ",") != "sig-1" || strings.Join(redacted, ",") != "enc-2" {
		t.Errorf("reasoning %q signatures %q redacted %q", reasoning, sigs, redacted)
	}
	if got := assemble(chunks); got.content != "Hi." || got.finish != "stop" {
		t.Errorf("assembled %+v", got)
	}
	// Thinking tokens are part of output_tokens: billed as output.
	if sr.Usage().OutputTokens != 40 {
		t.Errorf("usage %+v", sr.Usage())
	}
}

func TestGeminiThinkingRequest(t *testing.T) {
	yes, no := true, false
	cases := []struct {
		name      string
		reasoning *providers.Reasoning
		canReason *bool
		want      string // generationConfig.thinkingConfig, "" for none
	}{
		{"budget", &providers.Reasoning{BudgetTokens: 2048}, &yes, `{"includeThoughts":true,"thinkingBudget":2048}`},
		{"budget lowered to what every thinking model takes", &providers.Reasoning{BudgetTokens: 60000}, nil,
			`{"includeThoughts":true,"thinkingBudget":24576}`},
		{"adaptive is dynamic", &providers.Reasoning{Adaptive: true}, &yes, `{"includeThoughts":true,"thinkingBudget":-1}`},
		{"display omitted hides the thoughts", &providers.Reasoning{BudgetTokens: 1024, Display: "omitted"}, &yes, `{"thinkingBudget":1024}`},
		{"model that cannot reason", &providers.Reasoning{BudgetTokens: 2048}, &no, ""},
		{"none asked", nil, &yes, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := newUpstream(t, 200, "application/json", `{"candidates":[{"content":{"parts":[{"text":"ok"}]},"finishReason":"STOP"}]}`)
			req := toolTurn(t, providers.ThinkingBlock{Text: "anthropic thoughts", Signature: "sig-A"})
			req.Reasoning = tc.reasoning
			ep := endpoint(u, "gemini-2.5-flash")
			ep.Reasoning = tc.canReason
			a, _ := providers.For("gemini")
			if _, _, err := a.Do(bg, nil, ep, req); err != nil {
				t.Fatal(err)
			}
			gc := u.sent(t)["generationConfig"].(map[string]any)
			got := ""
			if th, ok := gc["thinkingConfig"]; ok {
				b, _ := json.Marshal(th)
				got = string(b)
			}
			if got != tc.want {
				t.Errorf("thinkingConfig %s, want %s", got, tc.want)
			}
			if gc["maxOutputTokens"] != float64(4000) {
				t.Errorf("maxOutputTokens %v: thinking must stay within the request's limit", gc["maxOutputTokens"])
			}
			if body := sentJSON(t, u); strings.Contains(body, "anthropic thoughts") || strings.Contains(body, "sig-A") {
				t.Errorf("another provider's thinking reached Gemini: %s", body)
			}
		})
	}
}

func TestGeminiThoughtsStream(t *testing.T) {
	body := `data: {"candidates":[{"content":{"parts":[{"text":"Pondering ","thought":true}],"role":"model"},"index":0}],"modelVersion":"gemini-2.5-flash"}` + "\r\n\r\n" +
		`data: {"candidates":[{"content":{"parts":[{"text":"deeply.","thought":true}],"role":"model"},"index":0}]}` + "\r\n\r\n" +
		`data: {"candidates":[{"content":{"parts":[{"text":"Answer."}],"role":"model"},"finishReason":"STOP","index":0}],` +
		`"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":2,"thoughtsTokenCount":7}}` + "\r\n\r\n"
	u := newUpstream(t, 200, "text/event-stream", body)
	a, _ := providers.For("gemini")
	req := mustRequest(t, `{"model":"p","max_tokens":4000,"stream":true,"messages":[{"role":"user","content":"x"}]}`)
	req.Reasoning = &providers.Reasoning{BudgetTokens: 1024}
	sr, err := a.Stream(bg, nil, endpoint(u, "gemini-2.5-flash"), req)
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := drain(t, sr)
	if err != nil {
		t.Fatal(err)
	}
	var reasoning string
	for _, c := range chunks {
		for _, ch := range c.Choices {
			if d := ch.Delta.ReasoningContent; d != nil {
				reasoning += *d
			}
		}
	}
	if got := assemble(chunks); reasoning != "Pondering deeply." || got.content != "Answer." {
		t.Errorf("reasoning %q content %q", reasoning, got.content)
	}
	if u := sr.Usage(); u.OutputTokens != 9 || u.ReasoningTokens != 7 {
		t.Errorf("usage %+v: thoughts must count as output", u)
	}
}

func TestOpenAIReasoningEffort(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		budget int
		want   string
	}{{1024, "low"}, {4095, "low"}, {4096, "medium"}, {16383, "medium"}, {16384, "high"}, {64000, "high"}} {
		if got := providers.OpenAIReasoningEffort(&providers.Reasoning{BudgetTokens: tc.budget}); got != tc.want {
			t.Errorf("budget %d: %q, want %q", tc.budget, got, tc.want)
		}
	}
	if got := providers.OpenAIReasoningEffort(&providers.Reasoning{Adaptive: true}); got != "" {
		t.Errorf("adaptive: %q", got)
	}

	cases := []struct {
		name      string
		provider  string
		canReason *bool
		raw       bool
		want      any // reasoning_effort sent, nil for none
	}{
		{"OpenAI reasoning model", "openai", &yes, false, "medium"},
		{"OpenAI model that does not reason", "openai", &no, false, nil},
		{"OpenAI model the catalog does not know", "openai", nil, false, nil},
		{"other compatible provider", "groq", &yes, false, nil},
		{"a client's own body is left alone", "openai", &yes, true, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := newUpstream(t, 200, "application/json", `{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}`)
			req := mustRequest(t, `{"model":"p","max_tokens":12000,"seed":7,"messages":[{"role":"user","content":"x"}]}`)
			req.Reasoning = &providers.Reasoning{BudgetTokens: 8000}
			if tc.raw {
				req.Raw = []byte(`{"model":"p","max_tokens":12000,"seed":7,"messages":[{"role":"user","content":"x"}]}`)
			}
			ep := endpoint(u, "o4-mini")
			ep.Reasoning = tc.canReason
			a, _ := providers.For(tc.provider)
			if _, _, err := a.Do(bg, nil, ep, req); err != nil {
				t.Fatal(err)
			}
			sent := u.sent(t)
			if sent["reasoning_effort"] != tc.want || sent["seed"] != float64(7) {
				t.Errorf("sent %s", sentJSON(t, u))
			}
			if len(req.Extra) != 1 {
				t.Errorf("the shared request's Extra was modified: %v", req.Extra)
			}
		})
	}
}

// TestOpenAICompatibleReasoningContent: reasoning_content, as DeepSeek sends it, is kept in answers and
// stream deltas, and never sent back upstream in history.
func TestOpenAICompatibleReasoningContent(t *testing.T) {
	u := newUpstream(t, 200, "application/json", `{"id":"c","object":"chat.completion","choices":[{"index":0,
	  "message":{"role":"assistant","content":"42","reasoning_content":"6 times 7"},"finish_reason":"stop"}]}`)
	a, _ := providers.For("deepseek")
	req := toolTurn(t, providers.ThinkingBlock{Text: "earlier thoughts", Signature: "sig"})
	resp, _, err := a.Do(bg, nil, endpoint(u, "deepseek-reasoner"), req)
	if err != nil {
		t.Fatal(err)
	}
	if rc := resp.Choices[0].Message.ReasoningContent; rc == nil || *rc != "6 times 7" {
		t.Errorf("reasoning_content %v", rc)
	}
	if b := resp.Choices[0].Message.ThinkingBlocks(); len(b) != 1 || b[0] != (providers.ThinkingBlock{Text: "6 times 7"}) {
		t.Errorf("thinking blocks %+v", b)
	}
	if body := sentJSON(t, u); strings.Contains(body, "earlier thoughts") {
		t.Errorf("history thinking sent to an OpenAI-compatible provider: %s", body)
	}

	s := newUpstream(t, 200, "text/event-stream",
		`data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"6x7"},"finish_reason":null}]}`+"\n\n"+
			`data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"42"},"finish_reason":"stop"}]}`+"\n\n"+
			"data: [DONE]\n\n")
	sr, err := a.Stream(bg, nil, endpoint(s, "deepseek-reasoner"), mustRequest(t, `{"model":"p","messages":[{"role":"user","content":"x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := drain(t, sr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(chunks[0])
	if !strings.Contains(string(b), `"reasoning_content":"6x7"`) {
		t.Errorf("re-encoded chunk lost reasoning_content: %s", b)
	}
}

// TestReasoningFromEffort: a chat-completions request's reasoning_effort becomes best-effort reasoning when the
// request is decoded, and stays in Extra, as the client sent it, for OpenAI-compatible targets.
func TestReasoningFromEffort(t *testing.T) {
	for _, tc := range []struct {
		effort string // the JSON value, "" for no field
		budget int    // 0 for no reasoning
	}{
		{`"minimal"`, 1024}, {`"low"`, 1024}, {`"medium"`, 8192}, {`"high"`, 24576}, {`"xhigh"`, 32768},
		{`"max"`, 32768}, {`"none"`, 0}, {`null`, 0}, {`"HIGH"`, 0}, {`"extreme"`, 0}, {`3`, 0}, {`{"effort":"high"}`, 0}, {"", 0},
	} {
		body := `{"model":"p","messages":[{"role":"user","content":"x"}]}`
		if tc.effort != "" {
			body = `{"model":"p","reasoning_effort":` + tc.effort + `,"messages":[{"role":"user","content":"x"}]}`
		}
		req := mustRequest(t, body)
		switch r := req.Reasoning; {
		case tc.budget == 0 && r != nil:
			t.Errorf("%s: reasoning %+v, want none", tc.effort, r)
		case tc.budget != 0 && (r == nil || r.BudgetTokens != tc.budget || !r.BestEffort || r.Adaptive):
			t.Errorf("%s: reasoning %+v, want a best-effort budget of %d", tc.effort, r, tc.budget)
		}
		if tc.effort != "" && string(req.Extra["reasoning_effort"]) != tc.effort {
			t.Errorf("%s: Extra holds %s", tc.effort, req.Extra["reasoning_effort"])
		}
		// The tiers an OpenAI target knows map back to themselves.
		if tc.effort == `"low"` || tc.effort == `"medium"` || tc.effort == `"high"` {
			if got := providers.OpenAIReasoningEffort(req.Reasoning); `"`+got+`"` != tc.effort {
				t.Errorf("%s maps back to %q", tc.effort, got)
			}
		}
	}

	// An OpenAI target re-encoding the request (Raw unset) sends the client's own value, not the tier's name.
	u := newUpstream(t, 200, "application/json", `{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}`)
	req := mustRequest(t, `{"model":"p","reasoning_effort":"minimal","messages":[{"role":"user","content":"x"}]}`)
	yes := true
	ep := endpoint(u, "o4-mini")
	ep.Reasoning = &yes
	a, _ := providers.For("openai")
	if _, _, err := a.Do(bg, nil, ep, req); err != nil {
		t.Fatal(err)
	}
	if got := u.sent(t)["reasoning_effort"]; got != "minimal" {
		t.Errorf("reasoning_effort sent %v, want the client's minimal", got)
	}
}

// TestBestEffortThinking: reasoning from a chat client's reasoning_effort is fitted to the request on Anthropic
// and Gemini targets: at most half the output limit, and on Anthropic none at all when the request's sampling
// settings or tool_choice rule thinking out there (the client's settings are sent instead). Explicit thinking
// (an Anthropic client's) keeps its budget: TestAnthropicThinkingRequest.
func TestBestEffortThinking(t *testing.T) {
	cases := []struct {
		name      string
		body      string // the request's fields besides model and messages
		epMax     int
		anthropic string // thinking sent to Anthropic, "" for none
		gemini    string // thinkingConfig sent to Gemini, "" for none
		kept      string // a field Anthropic must still receive as the client set it
	}{
		{"half of max_tokens", `"reasoning_effort":"high","max_tokens":4000`, 0,
			`{"budget_tokens":2000,"type":"enabled"}`, `{"includeThoughts":true,"thinkingBudget":2000}`, ""},
		{"the tier within the model's output cap", `"reasoning_effort":"medium"`, 64000,
			`{"budget_tokens":8192,"type":"enabled"}`, `{"includeThoughts":true,"thinkingBudget":8192}`, ""},
		{"xhigh lowered to what every Gemini model takes", `"reasoning_effort":"xhigh"`, 0,
			`{"budget_tokens":2048,"type":"enabled"}`, `{"includeThoughts":true,"thinkingBudget":24576}`, ""},
		{"too small a limit to think within", `"reasoning_effort":"low","max_tokens":1000`, 0, "", "", `"max_tokens":1000`},
		{"temperature 1 allows thinking", `"reasoning_effort":"low","temperature":1,"max_tokens":4000`, 0,
			`{"budget_tokens":1024,"type":"enabled"}`, `{"includeThoughts":true,"thinkingBudget":1024}`, ""},
		{"another temperature rules it out on Anthropic", `"reasoning_effort":"low","temperature":0.2,"max_tokens":4000`, 0,
			"", `{"includeThoughts":true,"thinkingBudget":1024}`, `"temperature":0.2`},
		{"top_p below 0.95 rules it out on Anthropic", `"reasoning_effort":"low","top_p":0.5,"max_tokens":4000`, 0,
			"", `{"includeThoughts":true,"thinkingBudget":1024}`, `"top_p":0.5`},
		{"top_p 0.95 allows thinking", `"reasoning_effort":"low","top_p":0.95,"max_tokens":4000`, 0,
			`{"budget_tokens":1024,"type":"enabled"}`, `{"includeThoughts":true,"thinkingBudget":1024}`, `"top_p":0.95`},
		{"a forced tool rules it out on Anthropic", `"reasoning_effort":"low","max_tokens":4000,"tool_choice":"required",` + weatherTool, 0,
			"", `{"includeThoughts":true,"thinkingBudget":1024}`, `"tool_choice":{"type":"any"}`},
		{"a named tool rules it out on Anthropic", `"reasoning_effort":"low","max_tokens":4000,"tool_choice":{"type":"function","function":{"name":"get_weather"}},` + weatherTool, 0,
			"", `{"includeThoughts":true,"thinkingBudget":1024}`, `"tool_choice":{"name":"get_weather","type":"tool"}`},
		{"tool_choice auto allows thinking", `"reasoning_effort":"low","max_tokens":4000,"tool_choice":"auto",` + weatherTool, 0,
			`{"budget_tokens":1024,"type":"enabled"}`, `{"includeThoughts":true,"thinkingBudget":1024}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"model":"p",` + tc.body + `,"messages":[{"role":"user","content":"x"}]}`
			for _, p := range []struct{ provider, model, response, want string }{
				{"anthropic", "claude-x", `{"id":"m","type":"message","content":[],"stop_reason":"end_turn","usage":{}}`, tc.anthropic},
				{"gemini", "gemini-2.5-flash", `{"candidates":[{"content":{"parts":[{"text":"ok"}]},"finishReason":"STOP"}]}`, tc.gemini},
			} {
				u := newUpstream(t, 200, "application/json", p.response)
				req := mustRequest(t, body)
				ep := endpoint(u, p.model)
				ep.MaxTokens = tc.epMax
				a, _ := providers.For(p.provider)
				if _, _, err := a.Do(bg, nil, ep, req); err != nil {
					t.Fatal(err)
				}
				sent := u.sent(t)
				th, ok := sent["thinking"]
				if p.provider == "gemini" {
					th, ok = nil, false
					if gc, _ := sent["generationConfig"].(map[string]any); gc != nil {
						th, ok = gc["thinkingConfig"]
					}
				}
				got := ""
				if ok {
					b, _ := json.Marshal(th)
					got = string(b)
				}
				if got != p.want {
					t.Errorf("%s: thinking %s, want %s", p.provider, got, p.want)
				}
				// The decision event's reasoning_dropped comes from the same translation as what was sent.
				if dropped := providers.ReasoningDropped(p.provider, ep, req); dropped != (got == "") {
					t.Errorf("%s: ReasoningDropped %v with thinking %q sent", p.provider, dropped, got)
				}
				if providers.ReasoningDropped(providers.ProviderOpenAI, ep, req) {
					t.Error("openai: ReasoningDropped, but OpenAI-compatible targets get the client's value")
				}
				if all := sentJSON(t, u); p.provider == "anthropic" && tc.kept != "" && !strings.Contains(all, tc.kept) {
					t.Errorf("anthropic: %s not sent: %s", tc.kept, all)
				}
			}
		})
	}
}

const weatherTool = `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]`
