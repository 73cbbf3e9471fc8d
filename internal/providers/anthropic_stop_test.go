package providers_test

import (
	"strings"
	"testing"

	"github.com/llmroute/llmroute/internal/providers"
)

// TestAnthropicMatchedStopSequence checks that the adapter keeps which stop sequence ended an answer, which the
// OpenAI shape cannot carry but the Anthropic Messages endpoint reports, and only when one did.
func TestAnthropicMatchedStopSequence(t *testing.T) {
	a, _ := providers.For("anthropic")
	req := `{"model":"p","stop":["END"],"messages":[{"role":"user","content":"x"}]}`
	for _, tc := range []struct{ reason, seq, want string }{
		{"stop_sequence", `"END"`, "END"},
		{"end_turn", "null", ""},
		{"stop_sequence", "null", ""},
	} {
		body := `{"id":"m","type":"message","role":"assistant","model":"c","content":[{"type":"text","text":"a"}],
		  "stop_reason":"` + tc.reason + `","stop_sequence":` + tc.seq + `,"usage":{"input_tokens":1,"output_tokens":1}}`
		u := newUpstream(t, 200, "application/json", body)
		resp, _, err := a.Do(bg, nil, endpoint(u, "c"), mustRequest(t, req))
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Choices[0].StopSequence; got != tc.want || resp.Choices[0].FinishReason != "stop" {
			t.Errorf("%s/%s: stop sequence %q finish %q, want %q", tc.reason, tc.seq, got, resp.Choices[0].FinishReason, tc.want)
		}

		stream := strings.Replace(anthropicStreamBody, `"stop_reason":"tool_use","stop_sequence":null`,
			`"stop_reason":"`+tc.reason+`","stop_sequence":`+tc.seq, 1) + "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
		su := newUpstream(t, 200, "text/event-stream", stream)
		sr, err := a.Stream(bg, nil, endpoint(su, "c"), mustRequest(t, req))
		if err != nil {
			t.Fatal(err)
		}
		chunks, err := drain(t, sr)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		for _, c := range chunks {
			for _, ch := range c.Choices {
				if ch.FinishReason != nil {
					got = ch.StopSequence
				}
			}
		}
		if got != tc.want {
			t.Errorf("stream %s/%s: stop sequence %q, want %q", tc.reason, tc.seq, got, tc.want)
		}
	}
}
