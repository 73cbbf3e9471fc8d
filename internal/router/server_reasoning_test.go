package router_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/faults"
	"github.com/llmroute/llmroute/internal/router"
)

// chatReasoning sends p through the rig's official OpenAI client, streaming or not, and returns the answer's
// reasoning_content, its content and the response's headers.
func chatReasoning(t *testing.T, r *rig, p openai.ChatCompletionNewParams, stream bool) (reasoning, content string, h http.Header) {
	t.Helper()
	var resp *http.Response
	if !stream {
		cc, err := r.client.Chat.Completions.New(context.Background(), p, option.WithResponseInto(&resp))
		if err != nil {
			t.Fatal(err)
		}
		if f, ok := cc.Choices[0].Message.JSON.ExtraFields["reasoning_content"]; ok {
			if err := json.Unmarshal([]byte(f.Raw()), &reasoning); err != nil {
				t.Fatalf("reasoning_content %s: %v", f.Raw(), err)
			}
		}
		return reasoning, cc.Choices[0].Message.Content, resp.Header
	}
	s := r.client.Chat.Completions.NewStreaming(context.Background(), p, option.WithResponseInto(&resp))
	defer s.Close()
	var rb, cb strings.Builder
	for s.Next() {
		for _, ch := range s.Current().Choices {
			cb.WriteString(ch.Delta.Content)
			if f, ok := ch.Delta.JSON.ExtraFields["reasoning_content"]; ok {
				var frag string
				if err := json.Unmarshal([]byte(f.Raw()), &frag); err != nil {
					t.Fatalf("reasoning_content %s: %v", f.Raw(), err)
				}
				rb.WriteString(frag)
			}
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return rb.String(), cb.String(), resp.Header
}

// TestChatCompletionsReasoningContent: the reasoning_content of a DeepSeek-style provider reaches an OpenAI
// client in answers and in stream deltas (which the router re-encodes).
func TestChatCompletionsReasoningContent(t *testing.T) {
	r := newRig(t, rigOptions{}, deepseekTarget)
	for _, stream := range []bool{false, true} {
		if reasoning, _, _ := chatReasoning(t, r, userMsg("six times seven"), stream); reasoning != "thinking about: six times seven" {
			t.Errorf("stream=%v: reasoning %q", stream, reasoning)
		}
	}
}

// TestChatCompletionsReasoningEffort: an OpenAI client's reasoning_effort makes Anthropic and Gemini targets think,
// in their own terms (thinking budget_tokens, thinkingConfig), and their reasoning comes back as
// reasoning_content, streams included; the thinking is billed as output. Settings Anthropic refuses together with
// thinking leave the thinking out, not the request failed; and a failover keeps the effort.
func TestChatCompletionsReasoningEffort(t *testing.T) {
	const prompt = "six times seven"
	const thought, reply = "thinking about: " + prompt, "fake reply to: " + prompt
	low := func() openai.ChatCompletionNewParams {
		p := userMsg(prompt)
		p.ReasoningEffort = shared.ReasoningEffortLow
		return p
	}
	for _, tc := range []struct {
		tg   target
		sent string
	}{
		{anthropicTarget, `"thinking":{"type":"enabled","budget_tokens":1024}`},
		{geminiTarget, `"thinkingConfig":{"thinkingBudget":1024,"includeThoughts":true}`},
	} {
		r := newRig(t, rigOptions{}, tc.tg)
		for _, stream := range []bool{false, true} {
			reasoning, content, h := chatReasoning(t, r, low(), stream)
			if reasoning != thought || content != reply {
				t.Errorf("%s stream=%v: reasoning %q content %q", tc.tg.name, stream, reasoning, content)
			}
			if body := string(r.fakes[tc.tg.name].LastRequestBody()); !strings.Contains(body, tc.sent) || strings.Contains(body, "reasoning_effort") {
				t.Errorf("%s: the provider was not asked to think as it understands it: %s", tc.tg.name, body)
			}
			ev := r.event(h.Get(router.HeaderRequestID))
			if ev.Attempts[0].ReasoningDropped {
				t.Errorf("%s stream=%v: the event says the reasoning was dropped, but it was sent", tc.tg.name, stream)
			}
			// 6 reply words and 5 thinking words, each a token in the fake.
			if u := ev.Final.Usage; u == nil || u.OutputTokens != 11 || (tc.tg.name == "gem" && u.ReasoningTokens != 5) {
				t.Errorf("%s stream=%v: usage %+v, want the thinking billed as output", tc.tg.name, stream, u)
			}
		}
		// Without reasoning_effort nothing thinks.
		if reasoning, content, _ := chatReasoning(t, r, userMsg(prompt), false); reasoning != "" || content != reply {
			t.Errorf("%s without effort: reasoning %q content %q", tc.tg.name, reasoning, content)
		}
	}

	// Anthropic refuses thinking with a temperature other than 1 (the fake too): the client's temperature wins.
	r := newRig(t, rigOptions{}, anthropicTarget)
	p := low()
	p.Temperature = openai.Float(0.2)
	reasoning, content, h := chatReasoning(t, r, p, false)
	if reasoning != "" || content != reply {
		t.Errorf("temperature 0.2: reasoning %q content %q", reasoning, content)
	}
	if body := string(r.fakes["claude"].LastRequestBody()); strings.Contains(body, `"thinking"`) || !strings.Contains(body, `"temperature":0.2`) {
		t.Errorf("temperature 0.2: %s", body)
	}
	// The decision event says so: the client asked for reasoning and did not get it.
	if ev := r.event(h.Get(router.HeaderRequestID)); len(ev.Attempts) != 1 || !ev.Attempts[0].ReasoningDropped {
		t.Errorf("temperature 0.2: attempts %+v, want reasoning_dropped", ev.Attempts)
	}
	// Without an effort there is nothing to drop.
	p = userMsg(prompt)
	p.Temperature = openai.Float(0.2)
	if _, _, h := chatReasoning(t, r, p, false); r.event(h.Get(router.HeaderRequestID)).Attempts[0].ReasoningDropped {
		t.Error("no effort asked: reasoning_dropped set")
	}

	// A broken Anthropic primary fails over to Gemini, which thinks at the same effort.
	broken := anthropicTarget
	broken.fault = broken503
	r = newRig(t, rigOptions{}, broken, geminiTarget)
	for _, stream := range []bool{false, true} {
		reasoning, content, h := chatReasoning(t, r, low(), stream)
		if reasoning != thought || content != reply || h.Get(router.HeaderTarget) != "gem" || h.Get(router.HeaderAttempts) != "2" {
			t.Errorf("failover stream=%v: reasoning %q content %q target %s attempts %s", stream, reasoning, content,
				h.Get(router.HeaderTarget), h.Get(router.HeaderAttempts))
		}
	}
	if body := string(r.fakes["claude"].LastRequestBody()); !strings.Contains(body, `"budget_tokens":1024`) {
		t.Errorf("the primary was not asked to think: %s", body)
	}
}

// TestChatCompletionsReasoningEffortUnderHardCap: a reasoning_effort budget is priced as the adapters send it, at
// most half the output limit, so a Gemini target (whose thinking is priced beside the limit) stays eligible under
// a cap the whole tier's budget would break, and a cap below even the fitted budget still refuses before any call.
func TestChatCompletionsReasoningEffortUnderHardCap(t *testing.T) {
	// 2,000 output tokens plus 1,000 fitted thinking at $2.50/M is about $0.0075 (with the catalog's margin);
	// the whole high budget, 24,576 more, would be about $0.066.
	for _, tc := range []struct {
		hardCap float64
		ok      bool
	}{{0.02, true}, {0.006, false}} {
		hardCap := tc.hardCap
		r := newRig(t, rigOptions{spec: func(s *v1alpha1.RoutePolicySpec) { s.Constraints.MaxCostPerRequestUSD = &hardCap }}, geminiTarget)
		p := userMsg("six times seven")
		p.ReasoningEffort = shared.ReasoningEffortHigh
		p.MaxCompletionTokens = openai.Int(2000)
		_, err := r.client.Chat.Completions.New(context.Background(), p)
		if tc.ok {
			if err != nil {
				t.Fatalf("cap %v: %v", hardCap, err)
			}
			if body := string(r.fakes["gem"].LastRequestBody()); !strings.Contains(body, `"thinkingBudget":1000`) {
				t.Errorf("cap %v: %s", hardCap, body)
			}
			continue
		}
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || (apiErr.Code != string(faults.ReasonOverHardCostCap) && apiErr.Code != string(faults.ReasonNoEligibleTarget)) ||
			r.fakes["gem"].Requests() != 0 {
			t.Fatalf("cap %v: err %v, %d provider requests; want a refusal before any call", hardCap, err, r.fakes["gem"].Requests())
		}
	}
}
