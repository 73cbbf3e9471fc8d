package router_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/fakeprovider"
	"github.com/llmroute/llmroute/internal/providers"
	"github.com/llmroute/llmroute/internal/router"
)

var (
	o4Target       = target{name: "o4", provider: v1alpha1.ProviderOpenAI, model: "o4-mini", key: "sk-test-o4"}
	deepseekTarget = target{name: "ds", provider: v1alpha1.ProviderDeepSeek, model: "deepseek-reasoner", key: "sk-test-ds",
		reasoningContent: true}
)

// thinkingText asks with thinking enabled (budget 1024 of max_tokens 2048), as Claude Code does.
func thinkingText(text string) anthropic.MessageNewParams {
	p := userText(text)
	p.MaxTokens = 2048
	p.Thinking = anthropic.ThinkingConfigParamOfEnabled(1024)
	return p
}

// blocks summarises content as type:detail: thinking:<text>/signed or /unsigned, text:<text>, tool_use:<name>,
// redacted_thinking.
func blocks(m anthropic.Message) []string {
	var out []string
	for _, c := range m.Content {
		switch c.Type {
		case "thinking":
			signed := "unsigned"
			if c.Signature != "" {
				signed = "signed"
			}
			out = append(out, "thinking:"+c.Thinking+"/"+signed)
		case "text":
			out = append(out, "text:"+c.Text)
		case "tool_use":
			out = append(out, "tool_use:"+c.Name)
		default:
			out = append(out, c.Type)
		}
	}
	return out
}

// streamMessage reads a stream with the SDK's Accumulate and returns the message and the delta types seen.
func streamMessage(t *testing.T, client anthropic.Client, p anthropic.MessageNewParams, opts ...option.RequestOption) (anthropic.Message, []string) {
	t.Helper()
	stream := client.Messages.NewStreaming(context.Background(), p, opts...)
	defer stream.Close()
	var msg anthropic.Message
	var deltas []string
	for stream.Next() {
		ev := stream.Current()
		if ev.Type == "content_block_delta" {
			deltas = append(deltas, ev.Delta.Type)
		}
		if err := msg.Accumulate(ev); err != nil {
			t.Fatalf("accumulate %s: %v", ev.Type, err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	return msg, deltas
}

// TestAnthropicClientThinkingPerProvider asks each kind of target for extended thinking through the official
// client, streaming and not: Anthropic answers with signed thinking, Gemini and DeepSeek with unsigned
// thinking (thought parts, reasoning_content), an OpenAI reasoning model thinks (reasoning_effort) without
// showing it, and a model that cannot think answers without being sent anything it would reject. Thinking
// tokens are output tokens: in the usage, the decision event and the cost.
func TestAnthropicClientThinkingPerProvider(t *testing.T) {
	const prompt = "think about Oslo weather"
	const reply = "text:fake reply to: " + prompt
	const thought = "thinking:thinking about: " + prompt
	cases := []struct {
		tg        target
		price     [2]float64 // input, output USD per million tokens (catalog)
		want      []string
		sent      string // in the provider's request
		notSent   string
		output    int64 // 7 reply words + the thinking
		reasoning bool  // the provider itemizes reasoning tokens
	}{
		{anthropicTarget, [2]float64{1, 5}, []string{thought + "/signed", reply}, `"thinking":{"type":"enabled","budget_tokens":1024}`, `"temperature"`, 13, false},
		{geminiTarget, [2]float64{0.3, 2.5}, []string{thought + "/unsigned", reply}, `"thinkingConfig":{"thinkingBudget":1024,"includeThoughts":true}`, "thinking about", 13, true},
		{deepseekTarget, [2]float64{0.14, 0.28}, []string{thought + "/unsigned", reply}, `"max_tokens":2048`, "reasoning_effort", 13, true},
		{o4Target, [2]float64{1.1, 4.4}, []string{reply}, `"reasoning_effort":"low"`, "thinking", 11, true},
		{openaiTarget, [2]float64{0.15, 0.6}, []string{reply}, `"max_completion_tokens":2048`, "reasoning_effort", 7, false},
	}
	for _, tc := range cases {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stream=%v", tc.tg.model, stream), func(t *testing.T) {
				r := newRig(t, rigOptions{}, tc.tg)
				client := r.anthropicClient()
				var resp *http.Response
				var msg anthropic.Message
				var deltas []string
				if stream {
					msg, deltas = streamMessage(t, client, thinkingText(prompt), option.WithResponseInto(&resp))
				} else {
					m, err := client.Messages.New(context.Background(), thinkingText(prompt), option.WithResponseInto(&resp))
					if err != nil {
						t.Fatal(err)
					}
					msg = *m
				}
				if got := strings.Join(blocks(msg), " | "); got != strings.Join(tc.want, " | ") {
					t.Errorf("content\n got %s\nwant %s", got, strings.Join(tc.want, " | "))
				}
				if msg.StopReason != anthropic.StopReasonEndTurn {
					t.Errorf("stop reason %q", msg.StopReason)
				}
				if stream && tc.tg.name == "claude" && !strings.Contains(strings.Join(deltas, " "), "thinking_delta signature_delta text_delta") {
					t.Errorf("delta sequence %v", deltas)
				}
				body := string(r.fakes[tc.tg.name].LastRequestBody())
				if !strings.Contains(body, tc.sent) || strings.Contains(body, tc.notSent) {
					t.Errorf("provider request lacks %s or has %s: %s", tc.sent, tc.notSent, body)
				}
				ev := r.event(resp.Header.Get(router.HeaderRequestID))
				u := ev.Final.Usage
				if u == nil || msg.Usage.OutputTokens != tc.output || u.OutputTokens != tc.output || (u.ReasoningTokens > 0) != tc.reasoning {
					t.Fatalf("usage %d output tokens, decision %+v; want %d output tokens", msg.Usage.OutputTokens, u, tc.output)
				}
				if want := (float64(u.InputTokens)*tc.price[0] + float64(u.OutputTokens)*tc.price[1]) / 1e6; math.Abs(ev.Final.CostUSD-want) > 1e-12 {
					t.Errorf("cost %v, want %v: thinking tokens must be billed as output", ev.Final.CostUSD, want)
				}
			})
		}
	}
}

// TestAnthropicClientThinkingToolRoundTrip runs an agent loop with thinking against the Anthropic fake, which
// (as Anthropic) rejects a tool-use continuation whose thinking block is missing or not signed by it: the
// signature must survive the router both ways.
func TestAnthropicClientThinkingToolRoundTrip(t *testing.T) {
	weather := anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{Name: "get_weather", Description: anthropic.String("the weather"),
		InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"input": map[string]any{"type": "string"}}}}}
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			r := newRig(t, rigOptions{}, anthropicTarget)
			client := r.anthropicClient()
			p := thinkingText("use get_weather for Oslo")
			p.Tools = []anthropic.ToolUnionParam{weather}
			ask := func() anthropic.Message {
				if stream {
					m, _ := streamMessage(t, client, p)
					return m
				}
				m, err := client.Messages.New(context.Background(), p)
				if err != nil {
					t.Fatal(err)
				}
				return *m
			}
			msg := ask()
			if got := strings.Join(blocks(msg), " | "); got != "thinking:thinking about: use get_weather for Oslo/signed | tool_use:get_weather" ||
				msg.StopReason != anthropic.StopReasonToolUse {
				t.Fatalf("first turn %s (%s)", got, msg.StopReason)
			}
			sig := msg.Content[0].Signature

			p.Messages = append(p.Messages, msg.ToParam(),
				anthropic.NewUserMessage(anthropic.NewToolResultBlock(msg.Content[1].ID, "3 degrees and rain", false)))
			final := ask()
			if got := strings.Join(blocks(final), " | "); got != "thinking:thinking about the tool result/signed | text:fake reply after tool result" {
				t.Errorf("after the tool result: %s", got)
			}
			body := string(r.fakes["claude"].LastRequestBody())
			if !strings.Contains(body, `"signature":"`+sig+`"`) || !strings.Contains(body, `"thinking":{"type":"enabled","budget_tokens":1024}`) {
				t.Errorf("the signed thinking block did not go back: %s", body)
			}
		})
	}
}

// TestMessagesThinkingFailoverToGemini: a thinking request whose Anthropic primary answers 503 is served by the
// Gemini secondary, with Gemini's thoughts as unsigned thinking blocks. Sending that answer back to the
// recovered Anthropic target must not make it answer 400, whether the conversation goes on with a new question
// (the foreign block is dropped and Claude thinks anew) or with a tool result (Anthropic would require the tool
// turn's own signed thinking, so that turn goes without thinking).
func TestMessagesThinkingFailoverToGemini(t *testing.T) {
	weather := anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{Name: "get_weather",
		InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"input": map[string]any{"type": "string"}}}}}
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			r := newRig(t, rigOptions{}, withFault(anthropicTarget, broken503), geminiTarget)
			client := r.anthropicClient()
			ask := func(p anthropic.MessageNewParams) (anthropic.Message, *http.Response) {
				var resp *http.Response
				if stream {
					m, _ := streamMessage(t, client, p, option.WithResponseInto(&resp))
					return m, resp
				}
				m, err := client.Messages.New(context.Background(), p, option.WithResponseInto(&resp))
				if err != nil {
					t.Fatalf("%v", err)
				}
				return *m, resp
			}

			p := thinkingText("plan a trip")
			msg, resp := ask(p)
			if got := strings.Join(blocks(msg), " | "); got != "thinking:thinking about: plan a trip/unsigned | text:fake reply to: plan a trip" {
				t.Errorf("failover answer %s", got)
			}
			checkHeaders(t, resp.Header, "gem", "2", true)
			ev := r.event(resp.Header.Get(router.HeaderRequestID))
			if ev.Final.Reason != "fallback_succeeded" || ev.Attempts[0].Reason != "provider_5xx" {
				t.Errorf("decision %+v %+v", ev.Final, ev.Attempts)
			}
			// Gemini's worst case includes the thinking budget beside maxOutputTokens; Anthropic's does not.
			plain := userText("plan a trip")
			plain.MaxTokens = 2048
			_, presp := ask(plain)
			pev := r.event(presp.Header.Get(router.HeaderRequestID))
			for i, c := range ev.Candidates {
				pc := pev.Candidates[i]
				if c.EstMaxCostUSD == nil || pc.EstMaxCostUSD == nil {
					t.Fatalf("candidate %s without cost", c.Target)
				}
				extra := *c.EstMaxCostUSD - *pc.EstMaxCostUSD
				want := 0.0
				if c.Target == "gem" {
					want = 1024 * 2.5 / 1e6
				}
				if math.Abs(extra-want) > 1e-9 {
					t.Errorf("%s: thinking adds %v to the worst case, want %v", c.Target, extra, want)
				}
			}

			r.fakes["claude"].SetFault(fakeprovider.Fault{})
			// A new question after the foreign thinking: Claude thinks, without the block it could not verify.
			p.Messages = append(p.Messages, msg.ToParam(), anthropic.NewUserMessage(anthropic.NewTextBlock("and the hotel?")))
			next, resp := ask(p)
			if got := strings.Join(blocks(next), " | "); got != "thinking:thinking about: and the hotel?/signed | text:fake reply to: and the hotel?" ||
				resp.Header.Get(router.HeaderTarget) != "claude" {
				t.Errorf("Anthropic after Gemini: %s from %s", got, resp.Header.Get(router.HeaderTarget))
			}
			if body := string(r.fakes["claude"].LastRequestBody()); strings.Contains(body, "thinking about: plan a trip") {
				t.Errorf("the unsigned block reached Anthropic: %s", body)
			}

			// A tool call Gemini made while thinking, whose result goes to Claude.
			r.fakes["claude"].SetFault(broken503)
			tp := thinkingText("use get_weather for Oslo")
			tp.Tools = []anthropic.ToolUnionParam{weather}
			use, _ := ask(tp)
			if got := strings.Join(blocks(use), " | "); got != "thinking:thinking about: use get_weather for Oslo/unsigned | tool_use:get_weather" {
				t.Fatalf("Gemini tool turn %s", got)
			}
			r.fakes["claude"].SetFault(fakeprovider.Fault{})
			tp.Messages = append(tp.Messages, use.ToParam(),
				anthropic.NewUserMessage(anthropic.NewToolResultBlock(use.Content[1].ID, "3 degrees", false)))
			after, resp := ask(tp)
			if got := strings.Join(blocks(after), " | "); got != "text:fake reply after tool result" || resp.Header.Get(router.HeaderTarget) != "claude" {
				t.Errorf("tool result to Anthropic: %s from %s", got, resp.Header.Get(router.HeaderTarget))
			}
			if body := string(r.fakes["claude"].LastRequestBody()); strings.Contains(body, `"thinking"`) {
				t.Errorf("thinking sent with a tool turn Anthropic did not sign: %s", body)
			}
		})
	}
}

// TestMessagesThinkingValidation: thinking requests Anthropic would refuse are refused before any provider is
// called, with Anthropic's messages, whichever targets the route has.
func TestMessagesThinkingValidation(t *testing.T) {
	r := newRig(t, rigOptions{}, geminiTarget)
	const msgs = `"messages":[{"role":"user","content":"x"}]`
	cases := []struct{ name, body, msg string }{
		{"budget below 1024", `{"model":"chat","max_tokens":4096,"thinking":{"type":"enabled","budget_tokens":512},` + msgs + `}`,
			"thinking.enabled.budget_tokens: Input should be greater than or equal to 1024, got 512"},
		{"budget not below max_tokens", `{"model":"chat","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":4096},` + msgs + `}`,
			"`max_tokens` must be greater than `thinking.budget_tokens` (got max_tokens 2048, budget_tokens 4096)"},
		{"temperature with thinking", `{"model":"chat","max_tokens":4096,"temperature":0.7,"thinking":{"type":"enabled","budget_tokens":1024},` + msgs + `}`,
			"`temperature` may only be set to 1 when thinking is enabled"},
		{"unknown thinking type", `{"model":"chat","max_tokens":4096,"thinking":{"type":"extended"},` + msgs + `}`,
			`thinking.type: Input tag "extended" does not match any of the expected tags: "enabled", "adaptive", "disabled"`},
		{"forced tool with thinking", `{"model":"chat","max_tokens":4096,"thinking":{"type":"adaptive"},"tool_choice":{"type":"tool","name":"f"},
		  "tools":[{"name":"f","input_schema":{"type":"object"}}],` + msgs + `}`, "Thinking may not be enabled when tool_choice forces tool use"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := r.rawPost("/v1/messages", c.body, nil)
			typ, code, msg, _ := anthropicErrorBody(t, body)
			if resp.StatusCode != 400 || typ != "invalid_request_error" || code != "bad_request" || !strings.Contains(msg, c.msg) {
				t.Errorf("%d %s %s %q, want 400 containing %q", resp.StatusCode, typ, code, msg, c.msg)
			}
		})
	}
	if n := r.fakes["gem"].Requests(); n != 0 {
		t.Errorf("refused requests reached the provider: %d", n)
	}
	// The official client sees Anthropic's typed error.
	p := thinkingText("x")
	p.Thinking = anthropic.ThinkingConfigParamOfEnabled(100)
	client := r.anthropicClient()
	_, err := client.Messages.New(context.Background(), p)
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Type() != "invalid_request_error" ||
		!strings.Contains(err.Error(), "budget_tokens") {
		t.Errorf("client error %v", err)
	}
	// Adaptive thinking and display omitted are served.
	p = userText("adapt")
	p.Thinking = anthropic.ThinkingConfigParamUnion{OfAdaptive: &anthropic.ThinkingConfigAdaptiveParam{Display: "omitted"}}
	if _, err := client.Messages.New(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if body := string(r.fakes["gem"].LastRequestBody()); !strings.Contains(body, `"thinkingConfig":{"thinkingBudget":-1}`) {
		t.Errorf("adaptive, omitted: %s", body)
	}
}

// TestMessagesInterleavedThinking: with Anthropic's interleaved-thinking beta flag, budget_tokens is the budget
// of the whole assistant turn across its tool calls and may exceed max_tokens. The router accepts it (without
// the flag the same request is refused, as Anthropic refuses it), forwards flag and budget to Anthropic
// unchanged through an agent loop whose signed thinking goes back each step, and, when Anthropic fails, serves
// the turn from Gemini with the same budget. count_tokens takes thinking without max_tokens.
func TestMessagesInterleavedThinking(t *testing.T) {
	weather := anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{Name: "get_weather",
		InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"input": map[string]any{"type": "string"}}}}}
	interleaved := option.WithHeaderAdd("anthropic-beta", providers.AnthropicBetaInterleavedThinking)
	r := newRig(t, rigOptions{}, anthropicTarget, geminiTarget)
	client := r.anthropicClient()
	p := userText("use get_weather for Oslo")
	p.MaxTokens = 2048
	p.Thinking = anthropic.ThinkingConfigParamOfEnabled(8000)
	p.Tools = []anthropic.ToolUnionParam{weather}

	var apiErr *anthropic.Error
	if _, err := client.Messages.New(context.Background(), p); !errors.As(err, &apiErr) || apiErr.StatusCode != 400 ||
		!strings.Contains(err.Error(), "`max_tokens` must be greater than `thinking.budget_tokens` (got max_tokens 2048, budget_tokens 8000)") {
		t.Fatalf("without the flag: %v", err)
	}
	if n := r.fakes["claude"].Requests() + r.fakes["gem"].Requests(); n != 0 {
		t.Fatalf("a refused request reached a provider: %d", n)
	}

	use, err := client.Messages.New(context.Background(), p, interleaved)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(blocks(*use), " | "); got != "thinking:thinking about: use get_weather for Oslo/signed | tool_use:get_weather" {
		t.Fatalf("first step %s", got)
	}
	sent := r.fakes["claude"].LastRequest()
	if !strings.Contains(string(sent.Body), `"thinking":{"type":"enabled","budget_tokens":8000}`) ||
		!strings.Contains(string(sent.Body), `"max_tokens":2048`) ||
		!strings.Contains(sent.Header.Get("anthropic-beta"), providers.AnthropicBetaInterleavedThinking) {
		t.Errorf("first step sent %s with anthropic-beta %q", sent.Body, sent.Header.Get("anthropic-beta"))
	}
	sig := use.Content[0].Signature

	p.Messages = append(p.Messages, use.ToParam(),
		anthropic.NewUserMessage(anthropic.NewToolResultBlock(use.Content[1].ID, "3 degrees", false)))
	final, err := client.Messages.New(context.Background(), p, interleaved)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(blocks(*final), " | "); got != "thinking:thinking about the tool result/signed | text:fake reply after tool result" {
		t.Errorf("after the tool result: %s", got)
	}
	if body := string(r.fakes["claude"].LastRequestBody()); !strings.Contains(body, `"signature":"`+sig+`"`) ||
		!strings.Contains(body, `"budget_tokens":8000`) {
		t.Errorf("the step's signed thinking or the turn's budget did not go back: %s", body)
	}

	// Anthropic down: Gemini serves the turn with the same budget, and Gemini's worst case counts it.
	r.fakes["claude"].SetFault(broken503)
	var resp *http.Response
	q := p
	q.Messages = q.Messages[:1]
	if _, err := client.Messages.New(context.Background(), q, interleaved, option.WithResponseInto(&resp)); err != nil {
		t.Fatal(err)
	}
	if body := string(r.fakes["gem"].LastRequestBody()); !strings.Contains(body, `"thinkingConfig":{"thinkingBudget":8000,"includeThoughts":true}`) ||
		resp.Header.Get(router.HeaderTarget) != "gem" {
		t.Errorf("Gemini got %s (target %s)", body, resp.Header.Get(router.HeaderTarget))
	}
	r.fakes["claude"].SetFault(fakeprovider.Fault{})

	// count_tokens with thinking and no max_tokens, flag or not.
	for _, opts := range [][]option.RequestOption{nil, {interleaved}} {
		n, err := client.Messages.CountTokens(context.Background(), anthropic.MessageCountTokensParams{Model: "chat",
			Thinking: anthropic.ThinkingConfigParamOfEnabled(4096),
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("one two three"))}}, opts...)
		if err != nil || n.InputTokens <= 0 {
			t.Fatalf("count_tokens with thinking: %+v, %v", n, err)
		}
		if body := string(r.fakes["claude"].LastRequestBody()); !strings.Contains(body, `"thinking":{"type":"enabled","budget_tokens":4096}`) {
			t.Errorf("count_tokens sent %s", body)
		}
	}
}
