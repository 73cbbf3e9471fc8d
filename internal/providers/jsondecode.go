package providers

import (
	"encoding/json"
	"reflect"
	"sync/atomic"
	"unicode/utf8"

	gojson "github.com/goccy/go-json"
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
	// goccy does not check the syntax of values it skips (an unknown field's value may be any garbage), so
	// encoding/json's own validator runs first, at a fraction of the cost of its decoder; invalid input goes
	// to encoding/json for its error. encoding/json also replaces invalid UTF-8 in strings with U+FFFD where
	// goccy keeps the bytes: such input is rare, and it takes the reference path too (json.Valid accepts
	// invalid UTF-8, so valid input is still checked for it).
	if stdlibOnly.Load() || !utf8.Valid(data) || (!valid && !json.Valid(data)) {
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
