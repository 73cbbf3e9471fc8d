package providers_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/llmroute/llmroute/internal/providers"
)

// sentBody returns what the upstream received, raw and normalised: decoded as a ChatRequest and encoded again,
// so that equivalent spellings (a "stop" string or list, a null or missing content, whitespace) compare equal.
func (u *upstream) sentBody(t *testing.T) ([]byte, map[string]any) {
	t.Helper()
	u.mu.Lock()
	body := bytes.Clone(u.body)
	u.mu.Unlock()
	var r providers.ChatRequest
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("adapter sent an invalid request %q: %v", body, err)
	}
	norm, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(norm, &m); err != nil {
		t.Fatal(err)
	}
	return body, m
}

// TestRawPassThroughMatchesReencoding: sending the client's raw body with the prepared fields rewritten gives
// the target the same request as re-encoding it would, for every rewrite the adapter makes, and keeps the
// client's bytes for everything else.
func TestRawPassThroughMatchesReencoding(t *testing.T) {
	bodies := map[string]string{
		"full":            fullRequest,
		"streaming":       `{"stream":true,"stream_options":{"include_usage":false},"model":"p","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":9000}`,
		"stream false":    `{ "model" : "p" , "stream" : false, "messages" : [ {"role":"user","content":"x"} ] , "max_tokens": 10 }`,
		"no limits":       `{"messages":[{"role":"user","content":"x"}],"model":"p","metadata":{"a":"b"}}`,
		"duplicate model": `{"model":"a","model":"p","messages":[{"role":"user","content":"x"}]}`,
		"escaped name":    `{"mod\u0065l":"p","messages":[{"role":"user","content":"x"}],"se\u0065d":3}`,
	}
	for name, body := range bodies {
		for _, provider := range []string{"openai", "mistral"} {
			for _, maxTokens := range []int{0, 64} {
				for _, stream := range []bool{false, true} {
					raw, viaRaw := sendBoth(t, provider, body, maxTokens, stream, true)
					_, viaEncode := sendBoth(t, provider, body, maxTokens, stream, false)
					if provider == "openai" {
						// Without Raw the request counts as translated, and OpenAI then gets max_completion_tokens
						// (TestTranslatedMaxTokensBecomesMaxCompletionTokensForOpenAI); compare the rest.
						for _, m := range []map[string]any{viaRaw, viaEncode} {
							if v, ok := m["max_tokens"]; ok && m["max_completion_tokens"] == nil {
								m["max_completion_tokens"] = v
								delete(m, "max_tokens")
							}
						}
					}
					if !reflect.DeepEqual(viaRaw, viaEncode) {
						t.Errorf("%s/%s/max=%d/stream=%v: raw path sent %+v\nre-encoding sends %+v\nraw body %s",
							name, provider, maxTokens, stream, viaRaw, viaEncode, raw)
					}
					if viaRaw["model"] != "target-model" {
						t.Errorf("%s: model = %v", name, viaRaw["model"])
					}
				}
			}
		}
	}
	// Untouched fields keep the client's bytes and order.
	raw, _ := sendBoth(t, "groq", fullRequest, 0, false, true)
	if !bytes.Contains(raw, []byte(`"logit_bias":{"50256": -100}`)) || !bytes.HasPrefix(raw, []byte(`{"model":"target-model","messages":`)) {
		t.Errorf("raw body not passed through: %s", raw)
	}
}

func sendBoth(t *testing.T, provider, body string, maxTokens int, stream, withRaw bool) ([]byte, map[string]any) {
	t.Helper()
	req := mustRequest(t, body)
	if withRaw {
		req.Raw = []byte(body)
	}
	a, err := providers.For(provider)
	if err != nil {
		t.Fatal(err)
	}
	var u *upstream
	if stream {
		u = newUpstream(t, 200, "text/event-stream", "data: [DONE]\n\n")
	} else {
		u = newUpstream(t, 200, "application/json", `{"choices":[]}`)
	}
	ep := endpoint(u, "target-model")
	ep.MaxTokens = maxTokens
	if stream {
		sr, err := a.Stream(bg, nil, ep, req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = drain(t, sr)
	} else if _, _, err := a.Do(bg, nil, ep, req); err != nil {
		t.Fatal(err)
	}
	if withRaw && string(req.Raw) != body {
		t.Fatalf("adapter changed the request's raw body")
	}
	return u.sentBody(t)
}

// TestTranslatedMaxTokensBecomesMaxCompletionTokensForOpenAI: a request that did not come as an OpenAI body
// (no Raw: translated from Anthropic's Messages API) asks OpenAI with max_completion_tokens, which its
// reasoning models require; other compatible providers keep max_tokens, and a client's own body keeps its field.
func TestTranslatedMaxTokensBecomesMaxCompletionTokensForOpenAI(t *testing.T) {
	const body = `{"model":"p","max_tokens":100,"messages":[{"role":"user","content":"x"}]}`
	for _, tc := range []struct {
		provider string
		raw      bool
		field    string
	}{{"openai", false, "max_completion_tokens"}, {"mistral", false, "max_tokens"}, {"openai", true, "max_tokens"}} {
		req := mustRequest(t, body)
		if tc.raw {
			req.Raw = []byte(body)
		}
		u := newUpstream(t, 200, "application/json", `{"choices":[]}`)
		a, _ := providers.For(tc.provider)
		if _, _, err := a.Do(bg, nil, endpoint(u, "m"), req); err != nil {
			t.Fatal(err)
		}
		sent := u.sent(t)
		other := map[string]string{"max_tokens": "max_completion_tokens", "max_completion_tokens": "max_tokens"}[tc.field]
		if sent[tc.field] != 100.0 || sent[other] != nil {
			t.Errorf("%s raw=%v: sent %v, want only %s", tc.provider, tc.raw, sent, tc.field)
		}
	}
}
