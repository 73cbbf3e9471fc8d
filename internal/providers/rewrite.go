package providers

import (
	"encoding/json"
	"strconv"
)

// fieldEdit replaces one top-level field of a JSON object, or removes it when value is nil.
type fieldEdit struct {
	name  string
	value []byte
}

// rewriteObject returns a copy of data, a valid JSON object, with the edits applied: an edited field keeps its
// place (every occurrence, should the client have repeated it), a removed one disappears, and edited fields
// data lacks are appended. ok is false when data cannot be scanned (see eachField); the caller re-encodes then.
func rewriteObject(data []byte, edits []fieldEdit) (out []byte, ok bool) {
	out = make([]byte, 0, len(data)+64)
	out = append(out, '{')
	seen := make([]bool, len(edits))
	ok = eachField(data, func(name []byte, start, end int) {
		idx := -1
		for i, e := range edits {
			if string(name) == e.name {
				idx = i
				break
			}
		}
		if idx >= 0 && edits[idx].value == nil {
			seen[idx] = true
			return
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		// eachField only yields names without escapes, so quoting them back is a plain copy.
		out = append(append(append(out, '"'), name...), '"', ':')
		if idx >= 0 {
			seen[idx] = true
			out = append(out, edits[idx].value...)
		} else {
			out = append(out, data[start:end]...)
		}
	})
	if !ok {
		return nil, false
	}
	for i, e := range edits {
		if !seen[i] && e.value != nil {
			if len(out) > 1 {
				out = append(out, ',')
			}
			out = strconv.AppendQuote(out, e.name) // names are ASCII identifiers: Go and JSON quoting agree
			out = append(out, ':')
			out = append(out, e.value...)
		}
	}
	return append(out, '}'), true
}

// jsonString returns s as a JSON string.
func jsonString(s string) []byte {
	b, _ := json.Marshal(s) // a string always encodes
	return b
}
