package router_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/llmroute/llmroute/internal/router"
)

// TestStreamsUnderLoadAreNeverTruncated sends many streams at once over keep-alive connections, for each
// provider wire, with request bodies large enough to span several reads, while some clients walk away after
// the first chunk. Every stream that is read to its end must be whole: each event parses, the text equals the
// non-streaming answer to the same prompt, usage arrives when asked for, and [DONE] ends it. This is the
// failure a plain reverse proxy showed on keep-alive connections (0.25-0.85% of streams cut short), so the
// test counts connections too, to prove the streams did share them.
func TestStreamsUnderLoadAreNeverTruncated(t *testing.T) {
	const workers, perWorker = 8, 40
	for _, tg := range []target{openaiTarget, anthropicTarget, geminiTarget} {
		t.Run(string(tg.provider), func(t *testing.T) {
			r := newRig(t, rigOptions{}, tg)
			var conns atomic.Int64 // counted as the client dials them
			var d net.Dialer
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers, DisableCompression: true,
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					conns.Add(1)
					return d.DialContext(ctx, network, addr)
				}}}
			defer client.CloseIdleConnections()

			// A prompt of about 6 KB: the fake echoes its first words, so every answer is the same.
			prompt := "stream these words back " + strings.Repeat("padding ", 750)
			want := r.content(client, prompt)
			if want == "" {
				t.Fatal("the reference answer is empty")
			}

			var whole, abandoned atomic.Int64
			var mu sync.Mutex
			var bad []string
			report := func(format string, a ...any) {
				mu.Lock()
				defer mu.Unlock()
				if len(bad) < 10 {
					bad = append(bad, fmt.Sprintf(format, a...))
				}
			}
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for i := range perWorker {
						n := w*perWorker + i
						usage := n%2 == 0
						leave := n%9 == 4 // walk away after the first chunk
						got, err := r.stream(client, prompt, usage, leave)
						switch {
						case err != nil:
							report("stream %d: %v", n, err)
						case leave:
							abandoned.Add(1)
						case got.text != want:
							report("stream %d: text %q, want %q", n, got.text, want)
						case usage != got.usage:
							report("stream %d: usage chunk present=%v, asked=%v", n, got.usage, usage)
						default:
							whole.Add(1)
						}
					}
				})
			}
			wg.Wait()
			for _, b := range bad {
				t.Error(b)
			}
			total := int64(workers * perWorker)
			if whole.Load()+abandoned.Load() != total {
				t.Fatalf("%d whole + %d abandoned streams of %d", whole.Load(), abandoned.Load(), total)
			}
			// Keep-alive held: new connections come only from the workers' first requests, the reference
			// request, and the connections the abandoned streams closed.
			if c := conns.Load(); c > int64(workers)+1+abandoned.Load() {
				t.Errorf("%d connections for %d streams: keep-alive was not used", c, total)
			}
			t.Logf("%d whole streams, %d abandoned, over %d connections", whole.Load(), abandoned.Load(), conns.Load())
		})
	}
}

type streamed struct {
	text  string
	usage bool
}

// content returns the text of the non-streaming answer to prompt.
func (r *rig) content(client *http.Client, prompt string) string {
	r.t.Helper()
	body, _ := json.Marshal(map[string]any{"model": "chat", "messages": []map[string]string{{"role": "user", "content": prompt}}})
	resp, err := client.Post(r.api.URL+"/v1/chat/completions", "application/json", strings.NewReader(string(body)))
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || len(out.Choices) != 1 {
		r.t.Fatalf("reference request: status %d, %v", resp.StatusCode, err)
	}
	return out.Choices[0].Message.Content
}

// stream sends a streaming request and reads it to its end, or, with leave, only to its first chunk before
// closing it. Anything but a whole stream (an event that does not parse, an error event, no [DONE]) is an error.
func (r *rig) stream(client *http.Client, prompt string, usage, leave bool) (streamed, error) {
	req := map[string]any{"model": "chat", "stream": true, "messages": []map[string]string{{"role": "user", "content": prompt}}}
	if usage {
		req["stream_options"] = map[string]bool{"include_usage": true}
	}
	body, _ := json.Marshal(req)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hreq, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.api.URL+"/v1/chat/completions", strings.NewReader(string(body)))
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(hreq)
	if err != nil {
		return streamed{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get(router.HeaderTarget) == "" {
		return streamed{}, fmt.Errorf("status %d, target %q", resp.StatusCode, resp.Header.Get(router.HeaderTarget))
	}
	var out streamed
	var text strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			return out, fmt.Errorf("not an SSE data line: %q", line)
		}
		if data == "[DONE]" {
			if sc.Scan() && sc.Text() != "" || sc.Scan() {
				return out, fmt.Errorf("data after [DONE]: %q", sc.Text())
			}
			out.text = text.String()
			return out, nil
		}
		var chunk struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
			Usage *struct {
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
			Error *json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			return out, fmt.Errorf("event does not parse (%w): %q", err, data)
		}
		if chunk.Error != nil {
			return out, fmt.Errorf("error event: %s", *chunk.Error)
		}
		for _, c := range chunk.Choices {
			text.WriteString(c.Delta.Content)
		}
		if chunk.Usage != nil {
			if chunk.Usage.CompletionTokens <= 0 {
				return out, fmt.Errorf("usage without completion tokens: %q", data)
			}
			out.usage = true
		}
		if leave {
			return out, nil // closing the body walks away from the rest of the stream
		}
	}
	return out, fmt.Errorf("stream ended without [DONE] after %q (read error: %w)", text.String(), sc.Err())
}
