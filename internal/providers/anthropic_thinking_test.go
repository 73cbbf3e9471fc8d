package providers_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"

	"github.com/llmroute/llmroute/internal/providers"
)

func TestDecodeAnthropicThinking(t *testing.T) {
	const msgs = `"messages":[{"role":"user","content":"x"}]`
	for _, tc := range []struct {
		name, in string
		want     *providers.Reasoning
	}{
		{"enabled", `{"model":"chat","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},` + msgs + `}`,
			&providers.Reasoning{BudgetTokens: 1024}},
		{"enabled with display, temperature 1, top_p 0.95, auto tools", `{"model":"chat","max_tokens":32000,"temperature":1,"top_p":0.95,
		  "tool_choice":{"type":"auto"},"tools":[{"name":"f","input_schema":{"type":"object"}}],
		  "thinking":{"type":"enabled","budget_tokens":31999,"display":"summarized"},` + msgs + `}`,
			&providers.Reasoning{BudgetTokens: 31999, Display: "summarized"}},
		{"adaptive", `{"model":"chat","max_tokens":10,"thinking":{"type":"adaptive","display":"omitted"},` + msgs + `}`,
			&providers.Reasoning{Adaptive: true, Display: "omitted"}},
		{"disabled", `{"model":"chat","max_tokens":10,"temperature":0.2,"thinking":{"type":"disabled"},` + msgs + `}`, nil},
		{"null", `{"model":"chat","max_tokens":10,"top_k":3,"thinking":null,` + msgs + `}`, nil},
		{"prefill starting with thinking", `{"model":"chat","max_tokens":2048,"thinking":{"type":"adaptive"},"messages":[
		  {"role":"user","content":"x"},{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"text","text":"So"}]}]}`,
			&providers.Reasoning{Adaptive: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := providers.DecodeAnthropicRequest([]byte(tc.in), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(req.Reasoning, tc.want) {
				t.Errorf("reasoning %+v, want %+v", req.Reasoning, tc.want)
			}
		})
	}

	// With the interleaved-thinking beta flag the budget is the whole turn's and may exceed max_tokens, as
	// Anthropic allows then; without the flag the same body is refused. The flags are carried for Anthropic
	// targets either way.
	interleaved := `{"model":"chat","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":8000},` + msgs + `}`
	betas := []string{"output-128k-2025-02-19", providers.AnthropicBetaInterleavedThinking}
	req, err := providers.DecodeAnthropicRequest([]byte(interleaved), betas)
	if err != nil {
		t.Fatal(err)
	}
	if want := (&providers.Reasoning{BudgetTokens: 8000, Interleaved: true}); !reflect.DeepEqual(req.Reasoning, want) ||
		!reflect.DeepEqual(req.AnthropicBeta, betas) {
		t.Errorf("interleaved: reasoning %+v, betas %v; want %+v, %v", req.Reasoning, req.AnthropicBeta, want, betas)
	}
	if _, err := providers.DecodeAnthropicRequest([]byte(interleaved), betas[:1]); err == nil ||
		!strings.Contains(err.Error(), "`max_tokens` must be greater than `thinking.budget_tokens` (got max_tokens 2048, budget_tokens 8000)") {
		t.Errorf("without the interleaved flag: %v", err)
	}
	// Interleaved or not, the budget's own rules hold.
	if _, err := providers.DecodeAnthropicRequest([]byte(`{"model":"chat","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1000},`+msgs+`}`), betas); err == nil ||
		!strings.Contains(err.Error(), "greater than or equal to 1024") {
		t.Errorf("interleaved, budget below 1024: %v", err)
	}

	// count_tokens takes thinking without max_tokens: the budget is not compared with the 1 the router plans.
	req, err = providers.DecodeAnthropicCountTokens([]byte(`{"model":"chat","thinking":{"type":"enabled","budget_tokens":4096},`+msgs+`}`), nil)
	if err != nil {
		t.Fatalf("count_tokens with thinking: %v", err)
	}
	if want := (&providers.Reasoning{BudgetTokens: 4096}); !reflect.DeepEqual(req.Reasoning, want) || !req.CountTokens {
		t.Errorf("count_tokens: reasoning %+v, counting %v; want %+v", req.Reasoning, req.CountTokens, want)
	}
	if _, err := providers.DecodeAnthropicCountTokens([]byte(`{"model":"chat","thinking":{"type":"enabled","budget_tokens":512},`+msgs+`}`), nil); err == nil ||
		!strings.Contains(err.Error(), "greater than or equal to 1024") {
		t.Errorf("count_tokens, budget below 1024: %v", err)
	}

	// History: thinking blocks stay with their turn, signature and order included; a turn of nothing but
	// thinking is dropped as before.
	req, err = providers.DecodeAnthropicRequest([]byte(`{"model":"chat","max_tokens":4096,
	  "thinking":{"type":"enabled","budget_tokens":2048},"messages":[
	  {"role":"user","content":"weather?"},
	  {"role":"assistant","content":[{"type":"thinking","thinking":"need a tool","signature":"sig-1"},
	    {"type":"redacted_thinking","data":"enc-2"},{"type":"thinking","thinking":"from gemini","signature":""},
	    {"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}]},
	  {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"3C"}]},
	  {"role":"assistant","content":[{"type":"thinking","thinking":"cut off","signature":"sig-3"}]},
	  {"role":"user","content":"and tomorrow?"}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Messages) != 4 {
		t.Fatalf("messages %+v", req.Messages)
	}
	want := []providers.ThinkingBlock{{Text: "need a tool", Signature: "sig-1"}, {RedactedData: "enc-2"}, {Text: "from gemini"}}
	if got := req.Messages[1].Thinking; !reflect.DeepEqual(got, want) || len(req.Messages[1].ToolCalls) != 1 {
		t.Errorf("thinking %+v, want %+v", got, want)
	}
	if b, _ := json.Marshal(req); strings.Contains(string(b), "need a tool") || strings.Contains(string(b), "sig-1") {
		t.Errorf("thinking leaks into the OpenAI shape: %s", b)
	}
}

func TestMarshalAnthropicMessageThinking(t *testing.T) {
	signed := providers.ChatResponse{ID: "msg_1", Model: "claude-x", Choices: []providers.Choice{{FinishReason: "stop",
		Message: providers.ResponseMessage{Content: ptr("Hi."), ReasoningContent: ptr("hmm"),
			Thinking: []providers.ThinkingBlock{{Text: "hmm", Signature: "sig-1"}, {RedactedData: "enc-2"}}}}}}
	unsigned := providers.ChatResponse{ID: "x", Model: "gemini-2.5-flash", Choices: []providers.Choice{{FinishReason: "stop",
		Message: providers.ResponseMessage{Content: ptr("Hi."), ReasoningContent: ptr("thought summary")}}}}
	for _, tc := range []struct {
		name     string
		resp     providers.ChatResponse
		thinking bool
		want     string
	}{
		{"Anthropic's blocks with their signatures", signed, true, `[{"type":"thinking","thinking":"hmm","signature":"sig-1"},
		  {"type":"redacted_thinking","data":"enc-2"},{"type":"text","text":"Hi."}]`},
		{"reasoning text from a provider that signs nothing", unsigned, true, `[{"type":"thinking","thinking":"thought summary","signature":""},
		  {"type":"text","text":"Hi."}]`},
		{"no thinking asked, none shown", unsigned, false, `[{"type":"text","text":"Hi."}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := providers.MarshalAnthropicMessage(&tc.resp, "r", "chat", tc.thinking)
			if err != nil {
				t.Fatal(err)
			}
			var got struct{ Content any }
			_ = json.Unmarshal(b, &got)
			jsonEqual(t, "content", got.Content, tc.want)
			var m anthropic.Message
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			// What the SDK sends back for the turn must carry the block as it came.
			p := m.ToParam()
			pb, _ := json.Marshal(p)
			if tc.thinking && !strings.Contains(string(pb), `"type":"thinking"`) {
				t.Errorf("SDK param lost the thinking block: %s", pb)
			}
		})
	}
}

func TestAnthropicStreamEncoderThinking(t *testing.T) {
	reason := func(s string) providers.ChunkChoice {
		return providers.ChunkChoice{Delta: providers.Delta{ReasoningContent: ptr(s)}}
	}
	sig := func(s string) providers.ChunkChoice {
		return providers.ChunkChoice{Delta: providers.Delta{ThinkingSignature: s}}
	}
	text := func(s string) providers.ChunkChoice {
		return providers.ChunkChoice{Delta: providers.Delta{Content: ptr(s)}}
	}
	stop := providers.ChunkChoice{FinishReason: ptr("stop")}
	cases := []struct {
		name     string
		thinking bool
		chunks   []providers.ChunkChoice
		events   string
		content  string // blocks as type:text/signature
	}{{
		name:     "Anthropic: thinking, signature, redacted, a second thinking block, text",
		thinking: true,
		chunks: []providers.ChunkChoice{{Delta: providers.Delta{Role: "assistant", Content: ptr("")}}, reason("Let me "), reason("think."),
			sig("sig-1"), {Delta: providers.Delta{RedactedThinking: "enc-2"}}, reason("More."), sig("sig-3"), text("Hi."), stop},
		events: "message_start content_block_start content_block_delta content_block_delta content_block_delta content_block_stop " +
			"content_block_start content_block_stop content_block_start content_block_delta content_block_delta content_block_stop " +
			"content_block_start content_block_delta content_block_stop message_delta message_stop",
		content: "thinking:Let me think./sig-1 redacted_thinking:enc-2 thinking:More./sig-3 text:Hi.",
	}, {
		name:     "omitted display: a signature alone is a thinking block",
		thinking: true,
		chunks:   []providers.ChunkChoice{sig("sig-1"), text("Hi."), stop},
		events:   "message_start content_block_start content_block_delta content_block_stop content_block_start content_block_delta content_block_stop message_delta message_stop",
		content:  "thinking:/sig-1 text:Hi.",
	}, {
		name:     "Gemini or DeepSeek: unsigned reasoning and text in one chunk",
		thinking: true,
		chunks: []providers.ChunkChoice{reason("Pondering"),
			{Delta: providers.Delta{ReasoningContent: ptr(" more"), Content: ptr("Answer")}}, stop},
		events:  "message_start content_block_start content_block_delta content_block_delta content_block_stop content_block_start content_block_delta content_block_stop message_delta message_stop",
		content: "thinking:Pondering more/ text:Answer",
	}, {
		name:     "no thinking asked: reasoning is not shown",
		thinking: false,
		chunks:   []providers.ChunkChoice{reason("Pondering"), sig("s"), text("Answer"), stop},
		events:   "message_start content_block_start content_block_delta content_block_stop message_delta message_stop",
		content:  "text:Answer",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			enc := providers.NewAnthropicStreamEncoder("r", "chat", tc.thinking)
			buf, err := enc.Start(nil, chunk(tc.chunks[0]), providers.Usage{InputTokens: 3})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.chunks[1:] {
				if buf, err = enc.Chunk(buf, chunk(c)); err != nil {
					t.Fatal(err)
				}
			}
			if buf, err = enc.Finish(buf, providers.Usage{InputTokens: 3, OutputTokens: 30}); err != nil {
				t.Fatal(err)
			}
			got, msg := accumulateSSE(t, buf)
			if got != tc.events {
				t.Errorf("events\n got %s\nwant %s", got, tc.events)
			}
			var blocks []string
			for _, b := range msg.Content {
				switch b.Type {
				case "thinking":
					blocks = append(blocks, "thinking:"+b.Thinking+"/"+b.Signature)
				case "redacted_thinking":
					blocks = append(blocks, "redacted_thinking:"+b.Data)
				case "text":
					blocks = append(blocks, "text:"+b.Text)
				}
			}
			if got := strings.Join(blocks, " "); got != tc.content {
				t.Errorf("content\n got %s\nwant %s", got, tc.content)
			}
		})
	}
}
