package providers

import (
	"encoding/json"
	"reflect"
	"testing"
)

// slowExtra is the reference: a full decode into a map of raw messages minus the known names.
func slowExtra(data []byte, known []string) (map[string]json.RawMessage, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, err
	}
	for _, k := range known {
		delete(all, k)
	}
	if len(all) == 0 {
		return nil, nil
	}
	return all, nil
}

func checkScanExtra(t *testing.T, in string) {
	t.Helper()
	if !json.Valid([]byte(in)) {
		return
	}
	want, werr := slowExtra([]byte(in), chatRequestFields)
	got, ok := scanExtra([]byte(in), chatRequestFields)
	if !ok {
		return // the caller falls back to slowExtra
	}
	if werr != nil {
		t.Fatalf("%s: scan accepted what the decoder rejects: %v", in, werr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %q\nwant %q", in, got, want)
	}
}

func TestScanExtraMatchesMapDecode(t *testing.T) {
	for _, in := range []string{
		`{}`, ` { } `, `{"model":"x"}`, `{"model":"x","seed":1}`,
		`{"seed" : 1 , "n":2,"logprobs":true,"x":null,"y":false}`,
		`{"a":{"b":[1,2,{"c":"}]"}]},"model":"m"}`,
		`{"a":"q\"uo}te\\","b":[ ]}`,
		`{"seed":1,"seed":2}`, `{"model":1,"model":2,"z":-1.5e3}`,
		"{\n\t\"messages\": [ {\"role\":\"user\"} ],\r\n\"extra\": [1, 2]\n}",
		`{"Model":"case","MODEL":1}`, `{"mo\u0064el":1}`, `null`, `[1]`, `{"a":"é\u00e9"}`,
		`{"a":1.0,"b":-0,"c":1e-7,"d":"","e":{}}`,
	} {
		checkScanExtra(t, in)
	}
}

func FuzzScanExtra(f *testing.F) {
	f.Add(`{"model":"x","seed":1,"a":{"b":[1,"]"]}}`)
	f.Fuzz(func(t *testing.T, in string) { checkScanExtra(t, in) })
}

func FuzzPlainString(f *testing.F) {
	for _, s := range []string{`"abc"`, `"a\"b"`, `""`, `"é"`, "\"\xff\"", `"a`, `"a"b"`, "\"\t\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := plainString([]byte(in))
		if !ok {
			return
		}
		var want string
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatalf("%q: fast path accepted what the decoder rejects: %v", in, err)
		}
		if got != want {
			t.Fatalf("%q: got %q, want %q", in, got, want)
		}
	})
}
