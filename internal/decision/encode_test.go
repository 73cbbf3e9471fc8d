package decision

import (
	"encoding/json"
	"testing"
)

func BenchmarkMarshalEvent(b *testing.B) {
	e := fullEvent()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeEvent is what the decision log does per event.
func BenchmarkEncodeEvent(b *testing.B) {
	e := fullEvent()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.encode(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEncodeEqualsMarshal: the decision log's fast path writes exactly what json.Marshal writes.
func TestEncodeEqualsMarshal(t *testing.T) {
	for _, e := range []*Event{fullEvent(), ev("minimal"), {RequestID: "no-name"}} {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.encode()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("encode:\n%s\nMarshal:\n%s", got, want)
		}
	}
}
