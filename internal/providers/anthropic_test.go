package providers_test

import (
	"errors"
	"testing"

	"github.com/llmroute/llmroute/internal/providers"
)

const anthropicOK = `{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"ok"}],
 "stop_reason":"end_turn","usage":{"input_tokens":10,"output_tokens":3}}`

func TestAnthropicRequestTranslation(t *testing.T) {
	cases := []struct {
		name string
		ep   func(*providers.Endpoint)
		req  string
		want string
	}{{
		name: "system and developer hoisted, same-role turns merged, default max_tokens",
		req: `{"model":"p","messages":[{"role":"system","content":"be terse"},{"role":"user","content":"a"},
		       {"role":"developer","content":[{"type":"text","text":"no jokes"}]},{"role":"user","content":"b"},
		       {"role":"assistant","content":"c"},{"role":"user","content":""},{"role":"user","content":"d"}]}`,
		want: `{"model":"claude-x","system":"be terse\n\nno jokes","max_tokens":4096,"messages":[
		       {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
		       {"role":"assistant","content":[{"type":"text","text":"c"}]},
		       {"role":"user","content":[{"type":"text","text":"d"}]}]}`,
	}, {
		name: "images: data URL to base64, https to url",
		req: `{"model":"p","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"see"},
		       {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0K"}},
		       {"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"}}]}]}`,
		want: `{"model":"claude-x","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"see"},
		       {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0K"}},
		       {"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}}]}]}`,
	}, {
		name: "tools, tool_choice, tool calls and results, stop, temperature clamp, user, endpoint cap",
		ep:   func(ep *providers.Endpoint) { ep.MaxTokens = 300 },
		req: `{"model":"p","max_completion_tokens":1000,"temperature":1.7,"top_p":0.9,"stop":["END","STOP"],"user":"u-1",
		       "tools":[{"type":"function","function":{"name":"get_weather","description":"weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},
		                {"type":"function","function":{"name":"noargs"}}],
		       "tool_choice":"required",
		       "messages":[{"role":"user","content":"weather in Oslo?"},
		        {"role":"assistant","content":null,"tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}},
		                                                       {"id":"toolu_2","type":"function","function":{"name":"noargs","arguments":""}}]},
		        {"role":"tool","tool_call_id":"toolu_1","content":"3C"},{"role":"tool","tool_call_id":"toolu_2","content":"done"}]}`,
		want: `{"model":"claude-x","max_tokens":300,"temperature":1,"top_p":0.9,"stop_sequences":["END","STOP"],"metadata":{"user_id":"u-1"},
		       "tools":[{"name":"get_weather","description":"weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}},
		                {"name":"noargs","input_schema":{"type":"object","properties":{}}}],
		       "tool_choice":{"type":"any"},
		       "messages":[{"role":"user","content":[{"type":"text","text":"weather in Oslo?"}]},
		        {"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Oslo"}},
		                                      {"type":"tool_use","id":"toolu_2","name":"noargs","input":{}}]},
		        {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"3C"},
		                                  {"type":"tool_result","tool_use_id":"toolu_2","content":"done"}]}]}`,
	}, {
		name: "specific function choice and JSON schema mode",
		req: `{"model":"p","max_tokens":50,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
		       "tool_choice":{"type":"function","function":{"name":"f"}},
		       "response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"object"}}},
		       "messages":[{"role":"system","content":"sys"},{"role":"user","content":"x"}]}`,
		want: `{"model":"claude-x","max_tokens":50,"system":"sys\n\nRespond with a single valid JSON object and nothing else: no Markdown code fences, no text before or after it. The JSON object must conform to this JSON Schema:\n{\"type\":\"object\"}",
		       "tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"f"},
		       "messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`,
	}, {
		name: "endpoint max tokens used when the request has none; none tool choice",
		ep:   func(ep *providers.Endpoint) { ep.MaxTokens = 77 },
		req: `{"model":"p","tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none",
		       "response_format":{"type":"json_object"},"messages":[{"role":"user","content":"x"}]}`,
		want: `{"model":"claude-x","max_tokens":77,
		       "system":"Respond with a single valid JSON object and nothing else: no Markdown code fences, no text before or after it.",
		       "tools":[{"name":"f","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"none"},
		       "messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := newUpstream(t, 200, "application/json", anthropicOK)
			ep := endpoint(u, "claude-x")
			if tc.ep != nil {
				tc.ep(&ep)
			}
			a, _ := providers.For("anthropic")
			if _, _, err := a.Do(bg, nil, ep, mustRequest(t, tc.req)); err != nil {
				t.Fatal(err)
			}
			if u.path != "/v1/messages" || u.header.Get("x-api-key") != canary || u.header.Get("anthropic-version") != "2023-06-01" {
				t.Errorf("path %q headers %v", u.path, u.header)
			}
			if u.header.Get("Authorization") != "" {
				t.Errorf("Authorization header sent to Anthropic")
			}
			jsonEqual(t, "request", u.sent(t), tc.want)
		})
	}
}

func TestAnthropicUnsupportedContent(t *testing.T) {
	a, _ := providers.For("anthropic")
	u := newUpstream(t, 200, "application/json", anthropicOK)
	for _, req := range []string{
		`{"model":"p","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]}`,
		`{"model":"p","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,raw"}}]}]}`,
		`{"model":"p","messages":[{"role":"function","content":"x"}]}`,
	} {
		if _, _, err := a.Do(bg, nil, endpoint(u, "m"), mustRequest(t, req)); !errors.Is(err, providers.ErrUnsupportedRequest) {
			t.Errorf("%s: err = %v", req, err)
		}
	}
	if u.calls != 0 {
		t.Errorf("unsupported requests reached the network: %d", u.calls)
	}
}

func TestAnthropicResponseTranslation(t *testing.T) {
	cases := []struct {
		stop, finish string
	}{{"end_turn", "stop"}, {"stop_sequence", "stop"}, {"max_tokens", "length"}, {"tool_use", "tool_calls"}, {"refusal", "content_filter"}}
	for _, tc := range cases {
		body := `{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[
		  {"type":"thinking","thinking":"hmm","signature":"s"},{"type":"text","text":"Let me check. "},
		  {"type":"tool_use","id":"toolu_9","name":"get_weather","input":{"city": "Oslo"}}],
		  "stop_reason":"` + tc.stop + `",
		  "usage":{"input_tokens":100,"cache_read_input_tokens":400,"cache_creation_input_tokens":20,"output_tokens":50}}`
		u := newUpstream(t, 200, "application/json", body)
		a, _ := providers.For("anthropic")
		resp, usage, err := a.Do(bg, nil, endpoint(u, "claude-x"), mustRequest(t, `{"model":"p","messages":[{"role":"user","content":"x"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		want := `{"id":"msg_1","object":"chat.completion","created":` + itoa(resp.Created) + `,"model":"claude-x",
		  "choices":[{"index":0,"message":{"role":"assistant","content":"Let me check. ","reasoning_content":"hmm",
		   "tool_calls":[{"id":"toolu_9","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]},
		   "finish_reason":"` + tc.finish + `"}],
		  "usage":{"prompt_tokens":520,"completion_tokens":50,"total_tokens":570,"prompt_tokens_details":{"cached_tokens":400}}}`
		jsonEqual(t, tc.stop, resp, want)
		if usage != (providers.Usage{InputTokens: 520, OutputTokens: 50, CachedInputTokens: 400}) {
			t.Errorf("usage %+v", usage)
		}
		if th := resp.Choices[0].Message.Thinking; len(th) != 1 || th[0] != (providers.ThinkingBlock{Text: "hmm", Signature: "s"}) {
			t.Errorf("thinking %+v", th)
		}
	}
}

const anthropicStreamBody = "event: message_start\n" +
	`data: {"type":"message_start","message":{"id":"msg_s","type":"message","role":"assistant","model":"claude-x","content":[],"stop_reason":null,"usage":{"input_tokens":25,"cache_read_input_tokens":5,"output_tokens":1}}}` + "\n\n" +
	"event: content_block_start\n" +
	`data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}` + "\n\n" +
	"event: ping\ndata: {\"type\": \"ping\"}\n\n" +
	"event: content_block_delta\n" +
	`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking"}}` + "\n\n" +
	"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
	"event: content_block_start\n" +
	`data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}` + "\n\n" +
	"event: content_block_delta\n" +
	`data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": "}}` + "\n\n" +
	"event: content_block_delta\n" +
	`data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"Oslo\"}"}}` + "\n\n" +
	"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n" +
	"event: message_delta\n" +
	`data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":42}}` + "\n\n"

func TestAnthropicStream(t *testing.T) {
	u := newUpstream(t, 200, "text/event-stream", anthropicStreamBody+"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	a, _ := providers.For("anthropic")
	sr, err := a.Stream(bg, nil, endpoint(u, "claude-x"), mustRequest(t, `{"model":"p","stream":true,"messages":[{"role":"user","content":"x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if u.sent(t)["stream"] != true {
		t.Errorf("stream not requested upstream")
	}
	chunks, err := drain(t, sr)
	if err != nil {
		t.Fatal(err)
	}
	got := assemble(chunks)
	if got.content != "Checking" || got.finish != "tool_calls" || len(got.tools) != 1 {
		t.Fatalf("assembled %+v", got)
	}
	if tc := got.tools[0]; tc.ID != "toolu_1" || tc.Function.Name != "get_weather" || tc.Function.Arguments != `{"city": "Oslo"}` {
		t.Errorf("tool call %+v", tc)
	}
	want := providers.Usage{InputTokens: 30, OutputTokens: 42, CachedInputTokens: 5}
	if sr.Usage() != want || got.usage.PromptTokens != 30 || got.usage.CompletionTokens != 42 {
		t.Errorf("usage %+v / %+v", sr.Usage(), got.usage)
	}
	if chunks[0].Choices[0].Delta.Role != "assistant" || chunks[0].ID != "msg_s" || chunks[0].Object != "chat.completion.chunk" {
		t.Errorf("first chunk %+v", chunks[0])
	}
}

func TestAnthropicStreamWithoutMessageStopIsInterrupted(t *testing.T) {
	u := newUpstream(t, 200, "text/event-stream", anthropicStreamBody)
	a, _ := providers.For("anthropic")
	sr, err := a.Stream(bg, nil, endpoint(u, "claude-x"), mustRequest(t, `{"model":"p","messages":[{"role":"user","content":"x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := drain(t, sr); !errors.Is(err, providers.ErrStreamInterrupted) {
		t.Fatalf("err = %v, want ErrStreamInterrupted", err)
	}
}

func TestAnthropicStreamErrorEvent(t *testing.T) {
	body := "event: message_start\n" +
		`data: {"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":1}}}` + "\n\n" +
		"event: error\n" + `data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}` + "\n\n"
	u := newUpstream(t, 200, "text/event-stream", body)
	a, _ := providers.For("anthropic")
	sr, err := a.Stream(bg, nil, endpoint(u, "c"), mustRequest(t, `{"model":"p","messages":[{"role":"user","content":"x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = drain(t, sr)
	var se *providers.StreamEventError
	if !errors.As(err, &se) || se.Type != "overloaded_error" || !errors.Is(err, providers.ErrStreamInterrupted) {
		t.Fatalf("err = %v", err)
	}
}

func TestAnthropicUpstreamError(t *testing.T) {
	u := newUpstream(t, 529, "application/json", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
	a, _ := providers.For("anthropic")
	_, err := a.Stream(bg, nil, endpoint(u, "c"), mustRequest(t, `{"model":"p","messages":[{"role":"user","content":"x"}]}`))
	var ue *providers.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 529 || ue.Message() != "Overloaded" {
		t.Fatalf("err = %v", err)
	}
}
