package providers

import (
	"bufio"
	"bytes"
	"io"
)

// sseEvent is one dispatched server-sent event.
type sseEvent struct {
	Event string
	Data  []byte
}

// sseReader parses text/event-stream. It uses bufio.Reader rather than bufio.Scanner because a single data line
// (a large tool-call argument, a Gemini chunk) can exceed any fixed token limit.
type sseReader struct {
	r     *bufio.Reader
	event string
	data  bytes.Buffer
	has   bool
	err   error // sticky: bufio.Reader hands a read error out only once
}

func newSSEReader(r io.Reader) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(r, 32<<10)}
}

// next returns the next event. At the end of input it returns any event whose lines were complete (some servers
// omit the final blank line), then the read error: io.EOF for a clean close, or the transport error.
func (s *sseReader) next() (sseEvent, error) {
	if s.err != nil {
		return sseEvent{}, s.err
	}
	for {
		line, err := s.r.ReadBytes('\n')
		if err != nil {
			s.err = err
			// A trailing line without a newline is a cut line: discard it, per the SSE spec.
			if s.has {
				return s.dispatch(), nil
			}
			return sseEvent{}, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if s.has {
				return s.dispatch(), nil
			}
			continue
		}
		if line[0] == ':' { // comment / keep-alive
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			s.event = string(value)
			s.has = true
		case "data":
			if s.data.Len() > 0 {
				s.data.WriteByte('\n')
			}
			s.data.Write(value)
			s.has = true
		}
	}
}

func (s *sseReader) dispatch() sseEvent {
	ev := sseEvent{Event: s.event, Data: bytes.Clone(s.data.Bytes())}
	s.event = ""
	s.data.Reset()
	s.has = false
	return ev
}
