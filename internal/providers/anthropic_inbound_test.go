package providers_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"

	"github.com/llmroute/llmroute/internal/providers"
)

func TestDecodeAnthropicRequest(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{{
		name: "system string, sampling, stop sequences, user id, ignored hints",
		in: `{"model":"chat","max_tokens":300,"system":"be terse","temperature":0.2,"top_p":0.9,"top_k":40,
		      "service_tier":"auto","speed":"standard","stop_sequences":["END","STOP"],"metadata":{"user_id":"u-1"},
		      "thinking":{"type":"disabled"},"cache_control":{"type":"ephemeral"},
		      "messages":[{"role":"user","content":"hello"}]}`,
		want: `{"model":"chat","max_tokens":300,"temperature":0.2,"top_p":0.9,"stop":["END","STOP"],"user":"u-1",
		      "messages":[{"role":"system","content":"be terse"},{"role":"user","content":"hello"}]}`,
	}, {
		name: "system blocks become one system message each; empty ones and null fields vanish",
		in: `{"model":"chat","max_tokens":5,"container":null,"metadata":{"user_id":null},
		      "system":[{"type":"text","text":"rules","cache_control":{"type":"ephemeral"}},{"type":"text","text":""},{"type":"text","text":"more"}],
		      "messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		want: `{"model":"chat","max_tokens":5,"messages":[{"role":"system","content":"rules"},{"role":"system","content":"more"},
		      {"role":"user","content":"hi"}]}`,
	}, {
		name: "stream asks for usage",
		in:   `{"model":"chat","max_tokens":1,"stream":true,"messages":[{"role":"user","content":"x"}]}`,
		want: `{"model":"chat","max_tokens":1,"stream":true,"stream_options":{"include_usage":true},
		      "messages":[{"role":"user","content":"x"}]}`,
	}, {
		name: "multi-turn: images, thinking kept aside (see TestDecodeAnthropicThinking), tool use and results before the rest of the turn",
		in: `{"model":"chat","max_tokens":100,"messages":[
		      {"role":"user","content":[{"type":"text","text":"what is this?"},
		        {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0K"}},
		        {"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}}]},
		      {"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"sig"},
		        {"type":"text","text":"Let me look."},
		        {"type":"tool_use","id":"toolu_1","name":"lookup","input":{"q": "cat"}},
		        {"type":"tool_use","id":"toolu_2","name":"noargs","input":{}}]},
		      {"role":"user","content":[{"type":"text","text":"here you go"},
		        {"type":"tool_result","tool_use_id":"toolu_1","content":"a cat"},
		        {"type":"tool_result","tool_use_id":"toolu_2","is_error":true,"content":[{"type":"text","text":"boom"},{"type":"text","text":"again"}]}]},
		      {"role":"assistant","content":[{"type":"redacted_thinking","data":"x"}]},
		      {"role":"assistant","content":"It is a cat."},
		      {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_3"}]}]}`,
		want: `{"model":"chat","max_tokens":100,"messages":[
		      {"role":"user","content":[{"type":"text","text":"what is this?"},
		        {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0K"}},
		        {"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"}}]},
		      {"role":"assistant","content":"Let me look.","tool_calls":[
		        {"id":"toolu_1","type":"function","function":{"name":"lookup","arguments":"{\"q\":\"cat\"}"}},
		        {"id":"toolu_2","type":"function","function":{"name":"noargs","arguments":"{}"}}]},
		      {"role":"tool","tool_call_id":"toolu_1","content":"a cat"},
		      {"role":"tool","tool_call_id":"toolu_2","content":"Error: boom\nagain"},
		      {"role":"user","content":"here you go"},
		      {"role":"assistant","content":"It is a cat."},
		      {"role":"tool","tool_call_id":"toolu_3","content":""}]}`,
	}, {
		name: "tools with auto choice and parallel use disabled",
		in: `{"model":"chat","max_tokens":10,"tool_choice":{"type":"auto","disable_parallel_tool_use":true},
		      "tools":[{"name":"get_weather","description":"weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}},
		                "cache_control":{"type":"ephemeral"}},
		               {"type":"custom","name":"strict_one","input_schema":{"type":"object"},"strict":true}],
		      "messages":[{"role":"user","content":"x"}]}`,
		want: `{"model":"chat","max_tokens":10,"tool_choice":"auto","parallel_tool_calls":false,
		      "tools":[{"type":"function","function":{"name":"get_weather","description":"weather",
		                 "parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},
		               {"type":"function","function":{"name":"strict_one","parameters":{"type":"object"},"strict":true}}],
		      "messages":[{"role":"user","content":"x"}]}`,
	}, {
		name: "tool choice any",
		in: `{"model":"chat","max_tokens":10,"tool_choice":{"type":"any"},"tools":[{"name":"f","input_schema":{"type":"object"}}],
		      "messages":[{"role":"user","content":"x"}]}`,
		want: `{"model":"chat","max_tokens":10,"tool_choice":"required","tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
		      "messages":[{"role":"user","content":"x"}]}`,
	}, {
		name: "tool choice tool",
		in: `{"model":"chat","max_tokens":10,"tool_choice":{"type":"tool","name":"f"},"tools":[{"name":"f","input_schema":{"type":"object"}}],
		      "messages":[{"role":"user","content":"x"}]}`,
		want: `{"model":"chat","max_tokens":10,"tool_choice":{"type":"function","function":{"name":"f"}},
		      "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"messages":[{"role":"user","content":"x"}]}`,
	}, {
		name: "tool choice none keeps parallel use alone",
		in: `{"model":"chat","max_tokens":10,"tool_choice":{"type":"none","disable_parallel_tool_use":true},
		      "tools":[{"name":"f","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"x"}]}`,
		want: `{"model":"chat","max_tokens":10,"tool_choice":"none","tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
		      "messages":[{"role":"user","content":"x"}]}`,
	}, {
		name: "tool choice without tools is dropped",
		in:   `{"model":"chat","max_tokens":10,"tool_choice":{"type":"any"},"messages":[{"role":"user","content":"x"}]}`,
		want: `{"model":"chat","max_tokens":10,"messages":[{"role":"user","content":"x"}]}`,
	}, {
		name: "structured output",
		in: `{"model":"chat","max_tokens":10,"output_config":{"effort":"low","format":{"type":"json_schema","schema":{"type":"object"}}},
		      "messages":[{"role":"user","content":"x"}]}`,
		want: `{"model":"chat","max_tokens":10,"response_format":{"type":"json_schema","json_schema":{"name":"output","schema":{"type":"object"}}},
		      "messages":[{"role":"user","content":"x"}]}`,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := providers.DecodeAnthropicRequest([]byte(tc.in), nil)
			if err != nil {
				t.Fatal(err)
			}
			jsonEqual(t, "request", req, tc.want)
		})
	}
}

func TestDecodeAnthropicRequestErrors(t *testing.T) {
	const msgs = `"messages":[{"role":"user","content":"x"}]`
	cases := []struct{ name, in, want string }{
		{"malformed JSON", `{"model":`, "invalid JSON body"},
		{"not an object", `[1]`, "must be a JSON object"},
		{"empty body", ``, "must be a JSON object"},
		{"no model", `{"max_tokens":1,` + msgs + `}`, "model is required"},
		{"no max_tokens", `{"model":"chat",` + msgs + `}`, "max_tokens is required"},
		{"null max_tokens", `{"model":"chat","max_tokens":null,` + msgs + `}`, "max_tokens is required"},
		{"zero max_tokens", `{"model":"chat","max_tokens":0,` + msgs + `}`, "max_tokens must be at least 1, got 0"},
		{"negative max_tokens", `{"model":"chat","max_tokens":-3,` + msgs + `}`, "max_tokens must be at least 1, got -3"},
		{"fractional max_tokens", `{"model":"chat","max_tokens":1.5,` + msgs + `}`, "max_tokens: expected an integer, got number"},
		{"string max_tokens", `{"model":"chat","max_tokens":"10",` + msgs + `}`, "max_tokens: expected an integer, got string"},
		{"no messages", `{"model":"chat","max_tokens":1,"messages":[]}`, "at least one message"},
		{"only thinking", `{"model":"chat","max_tokens":1,"system":"s","messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"t"}]}]}`, "nothing to send"},
		{"system role", `{"model":"chat","max_tokens":1,"messages":[{"role":"system","content":"x"}]}`, `messages[0]: role must be "user" or "assistant"`},
		{"no content", `{"model":"chat","max_tokens":1,"messages":[{"role":"user"}]}`, "messages[0]: content is required"},
		{"numeric content", `{"model":"chat","max_tokens":1,"messages":[{"role":"user","content":3}]}`, "content must be a string or an array"},
		{"block of wrong type", `{"model":"chat","max_tokens":1,"messages":[{"role":"user","content":[{"type":"text","text":5}]}]}`, "expected a string, got number"},
		{"document block", `{"model":"chat","max_tokens":1,"messages":[{"role":"user","content":[{"type":"document","source":{}}]}]}`, `content block type "document" is not supported in user messages`},
		{"server tool block", `{"model":"chat","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"server_tool_use","id":"s","name":"web_search","input":{}}]}]}`, `"server_tool_use" is not supported in assistant messages`},
		{"image without source", `{"model":"chat","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image"}]}]}`, "image needs a source"},
		{"file image source", `{"model":"chat","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]}`, `image source type "file" is not supported`},
		{"base64 without data", `{"model":"chat","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png"}}]}]}`, "needs media_type and data"},
		{"ftp image", `{"model":"chat","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"ftp://x/y.png"}}]}]}`, "http(s) url"},
		{"tool result without id", `{"model":"chat","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]}`, "tool_result needs tool_use_id"},
		{"image in tool result", `{"model":"chat","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{"type":"url","url":"https://x"}}]}]}]}`, `tool_result content block type "image" is not supported`},
		{"tool use without id", `{"model":"chat","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use","name":"f","input":{}}]}]}`, "tool_use needs id and name"},
		{"tool use input array", `{"model":"chat","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":[1]}]}]}`, "tool_use input: must be a JSON object"},
		{"server tool", `{"model":"chat","max_tokens":1,"tools":[{"type":"web_search_20250305","name":"web_search"}],` + msgs + `}`, `tools[0]: tool type "web_search_20250305" is not supported`},
		{"tool without name", `{"model":"chat","max_tokens":1,"tools":[{"input_schema":{"type":"object"}}],` + msgs + `}`, "tools[0]: name is required"},
		{"tool without schema", `{"model":"chat","max_tokens":1,"tools":[{"name":"f"}],` + msgs + `}`, "tools[0]: input_schema is required"},
		{"tool choice type", `{"model":"chat","max_tokens":1,"tool_choice":{"type":"required"},` + msgs + `}`, `tool_choice: type must be auto, any, tool or none, got "required"`},
		{"tool choice tool without name", `{"model":"chat","max_tokens":1,"tool_choice":{"type":"tool"},` + msgs + `}`, `type "tool" needs a name`},
		{"thinking budget below 1024", `{"model":"chat","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1023},` + msgs + `}`,
			"thinking.enabled.budget_tokens: Input should be greater than or equal to 1024, got 1023"},
		{"thinking budget not below max_tokens", `{"model":"chat","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":2048},` + msgs + `}`,
			"`max_tokens` must be greater than `thinking.budget_tokens` (got max_tokens 2048, budget_tokens 2048)"},
		{"thinking without budget", `{"model":"chat","max_tokens":2048,"thinking":{"type":"enabled"},` + msgs + `}`,
			"thinking.enabled.budget_tokens: Field required"},
		{"fractional budget", `{"model":"chat","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1500.5},` + msgs + `}`,
			"thinking.budget_tokens: expected an integer, got number"},
		{"adaptive with budget", `{"model":"chat","max_tokens":2048,"thinking":{"type":"adaptive","budget_tokens":1024},` + msgs + `}`,
			"thinking.adaptive.budget_tokens: Extra inputs are not permitted"},
		{"unknown thinking type", `{"model":"chat","max_tokens":2048,"thinking":{"type":"deep"},` + msgs + `}`,
			`thinking.type: Input tag "deep" does not match any of the expected tags: "enabled", "adaptive", "disabled"`},
		{"thinking type missing", `{"model":"chat","max_tokens":2048,"thinking":{},` + msgs + `}`, "thinking.type: Field required"},
		{"thinking display", `{"model":"chat","max_tokens":2048,"thinking":{"type":"adaptive","display":"full"},` + msgs + `}`,
			`thinking.adaptive.display: Input should be "summarized" or "omitted", got "full"`},
		{"temperature with thinking", `{"model":"chat","max_tokens":2048,"temperature":0.5,"thinking":{"type":"enabled","budget_tokens":1024},` + msgs + `}`,
			"`temperature` may only be set to 1 when thinking is enabled"},
		{"top_p with thinking", `{"model":"chat","max_tokens":2048,"top_p":0.9,"thinking":{"type":"adaptive"},` + msgs + `}`,
			"`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled"},
		{"top_k with thinking", `{"model":"chat","max_tokens":2048,"top_k":5,"thinking":{"type":"adaptive"},` + msgs + `}`,
			"`top_k` must be unset when thinking is enabled"},
		{"forced tool with thinking", `{"model":"chat","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},"tool_choice":{"type":"any"},
			"tools":[{"name":"f","input_schema":{"type":"object"}}],` + msgs + `}`, "Thinking may not be enabled when tool_choice forces tool use"},
		{"prefill without thinking", `{"model":"chat","max_tokens":2048,"thinking":{"type":"adaptive"},"messages":[{"role":"user","content":"x"},
			{"role":"assistant","content":"The answer is"}]}`, "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`"},
		{"redacted thinking without data", `{"model":"chat","max_tokens":1,"messages":[{"role":"user","content":"x"},
			{"role":"assistant","content":[{"type":"redacted_thinking"},{"type":"text","text":"hi"}]},{"role":"user","content":"y"}]}`,
			"messages[1]: content[0]: redacted_thinking needs data"},
		{"thinking block in a user turn", `{"model":"chat","max_tokens":1,"messages":[{"role":"user","content":[{"type":"thinking","thinking":"t","signature":"s"}]}]}`,
			`content block type "thinking" is not supported in user messages`},
		{"inference geo", `{"model":"chat","max_tokens":1,"inference_geo":"us",` + msgs + `}`, "inference_geo is not supported: the route"},
		{"mcp servers", `{"model":"chat","max_tokens":1,"mcp_servers":[],` + msgs + `}`, "mcp_servers is not supported"},
		{"unknown field", `{"model":"chat","max_tokens":1,"zeta":1,"frobnicate":true,` + msgs + `}`, `unknown or unsupported field "frobnicate"`},
		{"temperature above 1", `{"model":"chat","max_tokens":1,"temperature":1.5,` + msgs + `}`, "temperature must be between 0 and 1"},
		{"negative top_p", `{"model":"chat","max_tokens":1,"top_p":-0.1,` + msgs + `}`, "top_p must be between 0 and 1"},
		{"output format", `{"model":"chat","max_tokens":1,"output_config":{"format":{"type":"xml"}},` + msgs + `}`, "output_config.format"},
		{"system image", `{"model":"chat","max_tokens":1,"system":[{"type":"image"}],` + msgs + `}`, `system[0]: only text blocks are allowed, got "image"`},
		{"system number", `{"model":"chat","max_tokens":1,"system":7,` + msgs + `}`, "system: content must be a string or an array"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := providers.DecodeAnthropicRequest([]byte(tc.in), nil)
			if err == nil {
				t.Fatalf("accepted: %+v", req)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "anthropicInbound") || strings.Contains(err.Error(), "Go struct") {
				t.Errorf("error names Go types: %q", err)
			}
		})
	}
}

// FuzzDecodeAnthropicRequest checks that no body makes the decoder panic, and that whatever it accepts is a
// request the router can route and send: a route, a positive token limit, roles it knows, and valid JSON.
func FuzzDecodeAnthropicRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"chat","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"chat","max_tokens":5,"system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}}]}]}`,
		`{"model":"chat","max_tokens":5,"tools":[{"name":"f","input_schema":{}}],"tool_choice":{"type":"tool","name":"f"},"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{"a":1}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"r"}]}]}]}`,
		`{"model":"chat","max_tokens":5,"stream":true,"output_config":{"format":{"type":"json_schema","schema":{}}},"messages":[{"role":"user","content":"x"}]}`,
		`{"model":"chat","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"redacted_thinking","data":"d"},{"type":"tool_use","id":"t","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t"}]}]}`,
		`{"model":"chat","max_tokens":5,"thinking":{"type":"adaptive","display":"omitted"},"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"thinking"}]}]}`,
		`{"model":"","max_tokens":-1}`, `[]`, `{"model":"chat","max_tokens":1,"messages":[{"role":"user","content":null}]}`,
	} {
		f.Add(s)
	}
	roles := map[string]bool{providers.RoleSystem: true, providers.RoleUser: true, providers.RoleAssistant: true, providers.RoleTool: true}
	f.Fuzz(func(t *testing.T, in string) {
		req, err := providers.DecodeAnthropicRequest([]byte(in), nil)
		if err != nil {
			if req != nil {
				t.Fatalf("error %v with a request", err)
			}
			return
		}
		if req.Model == "" || req.MaxTokens == nil || *req.MaxTokens < 1 {
			t.Fatalf("accepted an unroutable request from %q: %+v", in, req)
		}
		turns := 0
		for _, m := range req.Messages {
			if !roles[m.Role] {
				t.Fatalf("role %q from %q", m.Role, in)
			}
			if m.Role != providers.RoleSystem {
				turns++
			}
		}
		if turns == 0 {
			t.Fatalf("accepted a request with nothing to send from %q", in)
		}
		b, err := json.Marshal(req)
		if err != nil || !json.Valid(b) {
			t.Fatalf("accepted request does not encode (%v): %q", err, in)
		}
	})
}

func TestMarshalAnthropicMessage(t *testing.T) {
	usage := &providers.ResponseUsage{PromptTokens: 520, CompletionTokens: 50, TotalTokens: 570,
		PromptTokensDetails: &providers.PromptTokensDetails{CachedTokens: 400}}
	cases := []struct {
		name string
		resp providers.ChatResponse
		want string
	}{{
		name: "text, end_turn, cached usage",
		resp: providers.ChatResponse{ID: "chatcmpl-1", Model: "gpt-4o-mini", Usage: usage,
			Choices: []providers.Choice{{Message: providers.ResponseMessage{Role: "assistant", Content: ptr("hi")}, FinishReason: "stop"}}},
		want: `{"id":"msg_chatcmpl-1","type":"message","role":"assistant","model":"gpt-4o-mini",
		        "content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","stop_sequence":null,
		        "usage":{"input_tokens":120,"output_tokens":50,"cache_read_input_tokens":400,"cache_creation_input_tokens":0}}`,
	}, {
		name: "tool calls; empty arguments are an empty input; missing id made up",
		resp: providers.ChatResponse{ID: "msg_2", Model: "m",
			Choices: []providers.Choice{{Message: providers.ResponseMessage{Role: "assistant", Content: ptr("Checking."), ToolCalls: []providers.ToolCall{
				{ID: "call_1", Type: "function", Function: providers.FunctionCall{Name: "get_weather", Arguments: ` {"city":"Oslo"} `}},
				{Type: "function", Function: providers.FunctionCall{Name: "noargs", Arguments: ""}}}}, FinishReason: "tool_calls"}}},
		want: `{"id":"msg_2","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"Checking."},
		        {"type":"tool_use","id":"call_1","name":"get_weather","input":{"city":"Oslo"}},
		        {"type":"tool_use","id":"toolu_2_1","name":"noargs","input":{}}],
		        "stop_reason":"tool_use","stop_sequence":null,
		        "usage":{"input_tokens":0,"output_tokens":0,"cache_read_input_tokens":0,"cache_creation_input_tokens":0}}`,
	}, {
		name: "tool calls with finish stop still mean tool_use; no id and no model fall back",
		resp: providers.ChatResponse{Choices: []providers.Choice{{Message: providers.ResponseMessage{ToolCalls: []providers.ToolCall{
			{ID: "c", Function: providers.FunctionCall{Name: "f", Arguments: "{}"}}}}, FinishReason: "stop"}}},
		want: `{"id":"msg_req1","type":"message","role":"assistant","model":"chat","content":[{"type":"tool_use","id":"c","name":"f","input":{}}],
		        "stop_reason":"tool_use","stop_sequence":null,
		        "usage":{"input_tokens":0,"output_tokens":0,"cache_read_input_tokens":0,"cache_creation_input_tokens":0}}`,
	}, {
		name: "length is max_tokens",
		resp: providers.ChatResponse{ID: "x", Model: "m", Choices: []providers.Choice{{Message: providers.ResponseMessage{Content: ptr("trunc")}, FinishReason: "length"}}},
		want: `{"id":"msg_x","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"trunc"}],
		        "stop_reason":"max_tokens","stop_sequence":null,
		        "usage":{"input_tokens":0,"output_tokens":0,"cache_read_input_tokens":0,"cache_creation_input_tokens":0}}`,
	}, {
		name: "content filter is refusal, with the refusal text",
		resp: providers.ChatResponse{ID: "x", Model: "m", Choices: []providers.Choice{{Message: providers.ResponseMessage{Content: nil, Refusal: ptr("I can't help with that.")}, FinishReason: "content_filter"}}},
		want: `{"id":"msg_x","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"I can't help with that."}],
		        "stop_reason":"refusal","stop_sequence":null,
		        "usage":{"input_tokens":0,"output_tokens":0,"cache_read_input_tokens":0,"cache_creation_input_tokens":0}}`,
	}, {
		name: "matched stop sequence; empty text leaves no block",
		resp: providers.ChatResponse{ID: "x", Model: "m", Choices: []providers.Choice{{Message: providers.ResponseMessage{Content: ptr("")}, FinishReason: "stop", StopSequence: "END"}}},
		want: `{"id":"msg_x","type":"message","role":"assistant","model":"m","content":[],
		        "stop_reason":"stop_sequence","stop_sequence":"END",
		        "usage":{"input_tokens":0,"output_tokens":0,"cache_read_input_tokens":0,"cache_creation_input_tokens":0}}`,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := providers.MarshalAnthropicMessage(&tc.resp, "req1", "chat", false)
			if err != nil {
				t.Fatal(err)
			}
			var got any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			jsonEqual(t, "message", got, tc.want)
			// The official SDK must read it back.
			var m anthropic.Message
			if err := json.Unmarshal(b, &m); err != nil || m.Type != "message" || string(m.StopReason) == "" {
				t.Errorf("SDK decode: %v %+v", err, m)
			}
		})
	}
}

func TestMarshalAnthropicMessageErrors(t *testing.T) {
	withArgs := func(args string) *providers.ChatResponse {
		return &providers.ChatResponse{ID: "x", Choices: []providers.Choice{{FinishReason: "tool_calls",
			Message: providers.ResponseMessage{ToolCalls: []providers.ToolCall{{ID: "c", Function: providers.FunctionCall{Name: "lookup", Arguments: args}}}}}}}
	}
	for name, resp := range map[string]*providers.ChatResponse{
		"invalid JSON arguments": withArgs(`{"q":`),
		"array arguments":        withArgs(`[1]`),
		"string arguments":       withArgs(`"q"`),
		"no choices":             {ID: "x", Choices: []providers.Choice{}},
		"nil":                    nil,
	} {
		_, err := providers.MarshalAnthropicMessage(resp, "r", "m", false)
		if !errors.Is(err, providers.ErrMalformedResponse) {
			t.Errorf("%s: err = %v, want ErrMalformedResponse", name, err)
		}
		if resp != nil && len(resp.Choices) > 0 && !strings.Contains(err.Error(), `"lookup"`) {
			t.Errorf("%s: error does not name the tool: %v", name, err)
		}
	}
}

// sseEvent is one event as an SSE client sees it.
type sseEvent struct{ name, data string }

// accumulateSSE feeds an encoded stream to the official SDK's accumulator, as a client would, checking that
// each event's name matches its data's type. It returns the event names, space-separated, and the message.
func accumulateSSE(t *testing.T, buf []byte) (names string, msg anthropic.Message) {
	t.Helper()
	var list []string
	for _, ev := range parseSSE(t, string(buf)) {
		list = append(list, ev.name)
		var u anthropic.MessageStreamEventUnion
		if err := json.Unmarshal([]byte(ev.data), &u); err != nil {
			t.Fatalf("event %s: %v", ev.data, err)
		}
		if u.Type != ev.name {
			t.Errorf("event name %s, data type %s", ev.name, u.Type)
		}
		if err := msg.Accumulate(u); err != nil {
			t.Fatalf("SDK accumulate %s: %v", ev.data, err)
		}
	}
	return strings.Join(list, " "), msg
}

func parseSSE(t *testing.T, s string) []sseEvent {
	t.Helper()
	var out []sseEvent
	for _, raw := range strings.Split(strings.TrimSuffix(s, "\n\n"), "\n\n") {
		name, data, ok := strings.Cut(raw, "\ndata: ")
		if !ok || !strings.HasPrefix(name, "event: ") || strings.Contains(data, "\n") {
			t.Fatalf("malformed event %q", raw)
		}
		out = append(out, sseEvent{strings.TrimPrefix(name, "event: "), data})
	}
	return out
}

func chunk(c providers.ChunkChoice) *providers.StreamChunk {
	return &providers.StreamChunk{ID: "chatcmpl-9", Model: "gpt-x", Choices: []providers.ChunkChoice{c}}
}

func TestAnthropicStreamEncoder(t *testing.T) {
	toolCall := func(idx int, id, name, args string) providers.ChunkChoice {
		return providers.ChunkChoice{Delta: providers.Delta{ToolCalls: []providers.ToolCall{{Index: ptr(idx), ID: id,
			Function: providers.FunctionCall{Name: name, Arguments: args}}}}}
	}
	text := func(s string) providers.ChunkChoice {
		return providers.ChunkChoice{Delta: providers.Delta{Content: ptr(s)}}
	}
	finish := func(r, seq string) providers.ChunkChoice {
		return providers.ChunkChoice{FinishReason: ptr(r), StopSequence: seq}
	}

	cases := []struct {
		name     string
		chunks   []providers.ChunkChoice
		usage    providers.Usage
		events   string
		stop     anthropic.StopReason
		stopSeq  string
		content  string // text blocks joined by |, tool_use blocks as name(input)
		outUsage [3]int64
	}{{
		name:    "text with a matched stop sequence and cached usage",
		chunks:  []providers.ChunkChoice{{Delta: providers.Delta{Role: "assistant", Content: ptr("")}}, text("Hello"), text(" world"), finish("stop", "END")},
		usage:   providers.Usage{InputTokens: 30, OutputTokens: 7, CachedInputTokens: 10},
		events:  "message_start content_block_start content_block_delta content_block_delta content_block_stop message_delta message_stop",
		stop:    "stop_sequence",
		stopSeq: "END",
		content: "Hello world", outUsage: [3]int64{20, 7, 10},
	}, {
		name: "text then two tool calls streamed in fragments",
		chunks: []providers.ChunkChoice{text("Let me check."), toolCall(0, "call_a", "get_weather", ""),
			toolCall(0, "", "", `{"city":`), toolCall(0, "", "", `"Oslo"}`), toolCall(1, "call_b", "noargs", ""),
			finish("tool_calls", "")},
		usage: providers.Usage{InputTokens: 5, OutputTokens: 9},
		events: "message_start content_block_start content_block_delta content_block_stop " +
			"content_block_start content_block_delta content_block_delta content_block_stop " +
			"content_block_start content_block_stop message_delta message_stop",
		stop:    "tool_use",
		content: `Let me check.|get_weather({"city":"Oslo"})|noargs({})`, outUsage: [3]int64{5, 9, 0},
	}, {
		name:    "length, and a tool call whose whole arguments come at once (Gemini)",
		chunks:  []providers.ChunkChoice{toolCall(0, "call_0", "f", `{"a":1}`), text("after"), finish("length", "")},
		events:  "message_start content_block_start content_block_delta content_block_stop content_block_start content_block_delta content_block_stop message_delta message_stop",
		stop:    "max_tokens", // cut by the limit: the truth, even though a tool was called before
		content: `f({"a":1})|after`,
	}, {
		name:    "content filter without text",
		chunks:  []providers.ChunkChoice{finish("content_filter", "")},
		events:  "message_start message_delta message_stop",
		stop:    "refusal",
		content: "",
	}, {
		name:    "length",
		chunks:  []providers.ChunkChoice{text("cut"), finish("length", "")},
		events:  "message_start content_block_start content_block_delta content_block_stop message_delta message_stop",
		stop:    "max_tokens",
		content: "cut",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			enc := providers.NewAnthropicStreamEncoder("req1", "chat", false)
			buf, err := enc.Start(nil, chunk(tc.chunks[0]), providers.Usage{InputTokens: tc.usage.InputTokens})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.chunks[1:] {
				if buf, err = enc.Chunk(buf, chunk(c)); err != nil {
					t.Fatal(err)
				}
			}
			// A usage-only chunk, as adapters end with, adds nothing.
			if buf, err = enc.Chunk(buf, &providers.StreamChunk{Choices: []providers.ChunkChoice{}, Usage: tc.usage.OpenAI()}); err != nil {
				t.Fatal(err)
			}
			if buf, err = enc.Finish(buf, tc.usage); err != nil {
				t.Fatal(err)
			}
			got, msg := accumulateSSE(t, buf)
			if got != tc.events {
				t.Errorf("events\n got %s\nwant %s", got, tc.events)
			}
			var content []string
			for _, b := range msg.Content {
				switch b.Type {
				case "text":
					content = append(content, b.Text)
				case "tool_use":
					content = append(content, b.Name+"("+string(b.Input)+")")
				}
			}
			if got := strings.Join(content, "|"); got != tc.content {
				t.Errorf("content %q, want %q", got, tc.content)
			}
			if msg.StopReason != tc.stop || msg.StopSequence != tc.stopSeq {
				t.Errorf("stop %q %q, want %q %q", msg.StopReason, msg.StopSequence, tc.stop, tc.stopSeq)
			}
			if msg.ID != "msg_chatcmpl-9" || msg.Model != "gpt-x" || msg.Role != "assistant" {
				t.Errorf("message head %q %q %q", msg.ID, msg.Model, msg.Role)
			}
			if got := [3]int64{msg.Usage.InputTokens, msg.Usage.OutputTokens, msg.Usage.CacheReadInputTokens}; got != tc.outUsage {
				t.Errorf("usage %v, want %v", got, tc.outUsage)
			}
		})
	}
}

func TestAnthropicStreamEncoderErrors(t *testing.T) {
	tc := func(idx int, id, name, args string) *providers.StreamChunk {
		return chunk(providers.ChunkChoice{Delta: providers.Delta{ToolCalls: []providers.ToolCall{{Index: ptr(idx), ID: id,
			Function: providers.FunctionCall{Name: name, Arguments: args}}}}})
	}
	// Arguments that do not add up to a JSON object fail when the block stops, never pass as an empty input.
	enc := providers.NewAnthropicStreamEncoder("r", "m", false)
	buf, err := enc.Start(nil, tc(0, "a", "lookup", `{"q":`), providers.Usage{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Finish(buf, providers.Usage{}); !errors.Is(err, providers.ErrMalformedResponse) || !strings.Contains(err.Error(), `"lookup"`) {
		t.Errorf("truncated arguments: err = %v", err)
	}
	// A nil chunk adds nothing rather than panicking.
	if out, err := enc.Chunk(nil, nil); err != nil || len(out) != 0 {
		t.Errorf("nil chunk: %q %v", out, err)
	}
	// Fragments of a call whose block already stopped cannot be placed.
	enc = providers.NewAnthropicStreamEncoder("r", "m", false)
	buf, _ = enc.Start(nil, tc(0, "a", "first", `{}`), providers.Usage{})
	buf, err = enc.Chunk(buf, tc(1, "b", "second", `{}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Chunk(buf, tc(0, "", "", `{"late":1}`)); !errors.Is(err, providers.ErrMalformedResponse) {
		t.Errorf("late fragment: err = %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
