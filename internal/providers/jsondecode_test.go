package providers

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	segjson "github.com/segmentio/encoding/json"
)

// decodeBoth decodes in as each of the router's hot-path types twice, with encoding/json alone (the reference)
// and with unmarshalJSON, and fails on any difference in error text or result.
func decodeBoth(t *testing.T, in []byte) {
	t.Helper()
	for _, newV := range []func() any{
		func() any { return new(ChatRequest) },
		func() any { return new(ChatResponse) },
		func() any { return new(StreamChunk) },
		func() any { return new(map[string]any) },
	} {
		want, got := newV(), newV()
		stdlibOnly.Store(true)
		werr := stdlibUnmarshal(in, want)
		stdlibOnly.Store(false)
		gerr := unmarshalJSON(in, got)
		if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
			t.Fatalf("%T from %q:\nencoding/json: %v\nunmarshalJSON: %v", want, in, werr, gerr)
		}
		if werr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%T from %q:\nencoding/json: %+v\nunmarshalJSON: %+v", want, in, want, got)
		}
	}
}

// The decode seeds: real request and answer shapes, and the corners where JSON decoders have differed
// (escapes, invalid UTF-8, duplicate and differently cased names, number forms, nulls, trailing bytes).
var decodeSeeds = []string{
	`{"model":"chat","max_tokens":64,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Hi"}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA","detail":"low"}}]}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":{"type":"function","function":{"name":"f"}},"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object"},"strict":true}},"stop":["a","b"],"stream":true,"stream_options":{"include_usage":true},"seed":7,"logit_bias":{"1":2}}`,
	`{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},{"role":"tool","tool_call_id":"c1","content":"ok","x-extra":[1]}],"stop":"s","tool_choice":"auto"}`,
	`{"id":"chatcmpl-1","object":"chat.completion","created":1733450000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":31,"completion_tokens":24,"total_tokens":55,"prompt_tokens_details":{"cached_tokens":3},"completion_tokens_details":{"reasoning_tokens":5}},"service_tier":"default","system_fingerprint":"fp"}`,
	`{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":"He","tool_calls":[{"index":0,"id":"t","function":{"name":"f","arguments":"{"}}]},"finish_reason":null}],"usage":null}`,
	`{"model":"\u00e9\ud83d\ude00\"\\\/\b\f\n\r\t","messages":[]}`,
	"{\"model\":\"bad \xff utf8\",\"messages\":[{\"role\":\"user\",\"content\":\"\xc3\"}]}",
	`{"model":"a","model":"b","MODEL":"c","Messages":[{"ROLE":"user"}]}`,
	`{"model":"m","max_tokens":1e2,"temperature":-0.0,"top_p":1E-3,"messages":[]}`,
	`{"model":"m","max_tokens":1.5,"messages":[]}`,
	`{"model":"m","max_tokens":"64","messages":[]}`,
	`{"model":"m","max_tokens":99999999999999999999,"messages":[]}`,
	`{"model":"m","max_tokens":9227000000000000000,"messages":[]}`, `{"model":"m","MAX_TOKENS":-9300000000000000000}`,
	`{"model":"m","max_tokens":922700000000000000,"seed":1234567890123456789,"messages":[]}`,
	`{"model":null,"messages":null,"tools":null,"stop":null,"max_tokens":null}`,
	`{"model":"m","messages":[{"role":"user","content":5}]}`,
	`{"model":"m","messages":{}}`,
	`{"choices":[{"message":{"content":[1]}}]}`,
	`{"model":"m"} trailing`, `{"model":"m",}`, `{"model":'m'}`, `[1,2]`, `"s"`, `null`, ``, ` `, `{`, `{"a":[[[[[[[[[[[[[[1]]]]]]]]]]]]]]}`,
}

func TestUnmarshalJSONMatchesStdlib(t *testing.T) {
	for _, in := range decodeSeeds {
		decodeBoth(t, []byte(in))
	}
}

func FuzzUnmarshalJSONMatchesStdlib(f *testing.F) {
	for _, in := range decodeSeeds {
		f.Add([]byte(in))
	}
	f.Fuzz(decodeBoth)
}

// validSeeds are the corners of JSON syntax where validators differ, plus nesting at encoding/json's limit,
// with brackets inside strings and escaped quotes that a depth count must not take for structure.
var validSeeds = []string{
	``, ` `, `1 2`, `01`, `-`, `1.`, `.5`, `1e`, `1E+2`, `-0`, `[-]`, `"\u12"`, `"\x"`, "\"\t\"", `[1,]`, `{"a":1,}`,
	`nul`, `truex`, " {} ", "{}\x00", "\ufeff{}", `"\ud800"`, `{"a" 1}`, "\x1c1", `{"a":"]]}}\"[["}`, `[[]]]`,
	strings.Repeat("[", maxNestingDepth) + strings.Repeat("]", maxNestingDepth),
	strings.Repeat("[", maxNestingDepth+1) + strings.Repeat("]", maxNestingDepth+1),
	strings.Repeat(`{"a":`, maxNestingDepth) + `1` + strings.Repeat("}", maxNestingDepth),
	strings.Repeat(`{"a":`, maxNestingDepth+1) + `1` + strings.Repeat("}", maxNestingDepth+1),
	`["` + strings.Repeat(`[\"`, 2*maxNestingDepth+4) + `"]`, // miscounted if an escaped quote ended the string
	strings.Repeat(`[{"[":"\"{"},`, maxNestingDepth) + `1` + strings.Repeat("]", maxNestingDepth),
}

// TestFastPathValidation holds decodeJSON's checks before goccy (segmentio's validator, then goccySafe) to
// encoding/json.Valid: input they pass must be valid JSON, or goccy would decode garbage; and valid JSON must
// pass segmentio's validator, or the fast path would be lost.
func TestFastPathValidation(t *testing.T) {
	for _, in := range append(slices.Clone(validSeeds), decodeSeeds...) {
		validBoth(t, []byte(in))
	}
}

func FuzzFastPathValidation(f *testing.F) {
	for _, in := range append(slices.Clone(validSeeds), decodeSeeds...) {
		f.Add([]byte(in))
	}
	f.Fuzz(validBoth)
}

func validBoth(t *testing.T, in []byte) {
	t.Helper()
	std, seg := json.Valid(in), segjson.Valid(in)
	if seg && goccySafe(in) && !std {
		t.Fatalf("%.80q...: invalid JSON passes the fast path's checks", in)
	}
	if std && !seg {
		t.Fatalf("%.80q...: valid JSON fails segmentio's validator", in)
	}
}
