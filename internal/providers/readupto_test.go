package providers

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadUpTo(t *testing.T) {
	body := strings.Repeat("0123456789", 100) // 1000 bytes
	cases := []struct {
		name        string
		size, limit int64
		want        int // bytes returned
	}{
		{"unknown size", -1, 4096, 1000},
		{"exact size", 1000, 4096, 1000},
		{"announced shorter than the body", 10, 4096, 1000},
		{"announced longer than the body", 5000, 8192, 1000},
		{"announced beyond the limit", 5000, 4096, 1000},
		{"body over the limit, size unknown", -1, 100, 101},
		{"body over the limit, announced short", 50, 100, 101},
	}
	for _, c := range cases {
		for _, reader := range []struct {
			name string
			wrap func(io.Reader) io.Reader
		}{
			{"plain", func(r io.Reader) io.Reader { return r }},
			{"one byte at a time", iotest.OneByteReader},
			{"data with EOF", iotest.DataErrReader},
		} {
			t.Run(c.name+"/"+reader.name, func(t *testing.T) {
				got, err := readUpTo(reader.wrap(strings.NewReader(body)), c.size, c.limit)
				if err != nil {
					t.Fatalf("readUpTo: %v", err)
				}
				if !bytes.Equal(got, []byte(body[:c.want])) {
					t.Fatalf("got %d bytes, want the body's first %d", len(got), c.want)
				}
			})
		}
	}
}

func TestReadUpToReportsReadErrors(t *testing.T) {
	boom := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(boom))
	got, err := readUpTo(r, 100, 4096)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if string(got) != "partial" {
		t.Fatalf("got %q, want the bytes read before the error", got)
	}
}
