package providers

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sync/atomic"
	"unicode/utf8"

	gojson "github.com/goccy/go-json"
	segjson "github.com/segmentio/encoding/json"
)

// unmarshalJSON decodes data into v (a non-nil pointer) exactly as encoding/json.Unmarshal would, but faster on
// the bodies the router decodes on every request: the client's chat request and the provider's answer or
// stream chunks.
//
// Why a second decoder: profiles of `llmroute serve` under the loopback bench put encoding/json at a tenth of
// the router's CPU, and github.com/goccy/go-json, a drop-in decoder with the same struct-tag, Unmarshaler and
// RawMessage semantics, decodes those bodies three to four times faster. Only valid input on the successful
// path is goccy's: when it reports an error (or panics on input it does not expect), encoding/json decodes the
// same bytes into a zeroed v, so every error a client or a test sees is encoding/json's, word for word, and an
// input goccy rejects but encoding/json accepts still decodes. FuzzUnmarshalJSONMatchesStdlib holds the two to
// the same results.
func unmarshalJSON(data []byte, v any) error { return decodeJSON(data, v, false) }

// unmarshalValid is unmarshalJSON for input already known to be one syntactically valid JSON value: the data
// an UnmarshalJSON method receives from a decoder. json.Unmarshaler's contract guarantees it ("the input can
// be assumed to be a valid encoding of a JSON value"), and on the router's paths the enclosing body was
// checked by unmarshalJSON or by encoding/json, which validates before it decodes. It saves validating each
// nested message's bytes again after the whole body was. Input from anywhere else must use unmarshalJSON.
func unmarshalValid(data []byte, v any) error { return decodeJSON(data, v, true) }

func decodeJSON(data []byte, v any, valid bool) (err error) {
	// goccy does not check the syntax of values it skips (an unknown field's value may be any garbage), so a
	// validator runs first, at a fraction of the cost of a decoder; invalid input goes to encoding/json for
	// its error. The validator is github.com/segmentio/encoding's: it accepts what encoding/json.Valid does,
	// about five times faster (0.3 against 1.6 µs on a 500-byte answer; encoding/json's was the largest
	// single item of the router's own CPU in BenchmarkHandler, about 10%), and goccySafe covers the one
	// difference known, nesting depth. FuzzFastPathValidation holds them to encoding/json's answer.
	// encoding/json also replaces invalid UTF-8 in strings with U+FFFD where goccy keeps the bytes: such
	// input is rare, and it takes the reference path too (json.Valid accepts invalid UTF-8, so valid input is
	// still checked for it).
	if stdlibOnly.Load() || !utf8.Valid(data) || (!valid && !segjson.Valid(data)) || !goccySafe(data) {
		return json.Unmarshal(data, v)
	}
	defer func() {
		if recover() != nil {
			err = stdlibUnmarshal(data, v)
		}
	}()
	if gojson.Unmarshal(data, v) != nil {
		return stdlibUnmarshal(data, v)
	}
	return nil
}

// goccySafe reports whether data, valid JSON, is free of the two inputs that encoding/json and goccy treat
// differently although both validators in decodeJSON accept them:
//   - nesting deeper than encoding/json's limit of 10,000 levels, which encoding/json refuses (and
//     segmentio's validator accepts);
//   - an integer of 19 digits or more, which goccy lets overflow an int field without an error (for example
//     max_tokens 9227000000000000000) where encoding/json refuses it.
//
// Such input takes encoding/json's path. A run of 19 digits after a decimal point is sent there too: rare,
// and only slower. Valid input lets the scan skip a string to its closing quote, the first one not escaped.
func goccySafe(data []byte) bool {
	depth, digits := 0, 0
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c == '"' {
			for {
				j := bytes.IndexByte(data[i+1:], '"')
				if j < 0 {
					return true // not valid JSON: the validator before this refuses it
				}
				i += 1 + j
				if !escaped(data, i) {
					break
				}
			}
			digits = 0
			continue
		}
		if '0' <= c && c <= '9' {
			if digits++; digits >= 19 {
				return false
			}
			continue
		}
		digits = 0
		switch c {
		case '[', '{':
			if depth++; depth > maxNestingDepth {
				return false
			}
		case ']', '}':
			depth--
		}
	}
	return true
}

// escaped reports whether data[i] follows an odd run of backslashes, which makes it part of an escape.
func escaped(data []byte, i int) bool {
	n := 0
	for i--; i >= 0 && data[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// maxNestingDepth is encoding/json's limit on nested arrays and objects.
const maxNestingDepth = 10000

// stdlibUnmarshal zeroes what v points to (a failed decode may have filled part of it) and decodes with
// encoding/json.
func stdlibUnmarshal(data []byte, v any) error {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv.Elem().SetZero()
	}
	return json.Unmarshal(data, v)
}

// stdlibOnly makes unmarshalJSON plain encoding/json: the differential tests decode with it set to get the
// reference result. Nothing else sets it.
var stdlibOnly atomic.Bool
