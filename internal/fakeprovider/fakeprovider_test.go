package fakeprovider_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/llmroute/llmroute/internal/fakeprovider"
	"github.com/llmroute/llmroute/internal/keys"
	"github.com/llmroute/llmroute/internal/providers"
)

const key = "sk-fake-test-key-0123456789"

var formats = []string{fakeprovider.OpenAI, fakeprovider.Anthropic, fakeprovider.Gemini}

func start(t *testing.T, opts fakeprovider.Options) *fakeprovider.Server {
	t.Helper()
	if opts.Key == "" {
		opts.Key = key
	}
	s, err := fakeprovider.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func request(t *testing.T, s string) *providers.ChatRequest {
	t.Helper()
	var r providers.ChatRequest
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func ep(s *fakeprovider.Server, k string) providers.Endpoint {
	return providers.Endpoint{BaseURL: s.URL(), Model: "fake-model", Key: keys.NewSecret(k)}
}

func adapter(t *testing.T, format string) providers.Adapter {
	t.Helper()
	a, err := providers.For(format)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// collect reads a stream as a client would.
func collect(t *testing.T, sr providers.StreamReader) (content string, tool *providers.ToolCall, finish string, err error) {
	t.Helper()
	defer sr.Close()
	for {
		c, err := sr.Next()
		if errors.Is(err, io.EOF) {
			return content, tool, finish, nil
		}
		if err != nil {
			return content, tool, finish, err
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil {
				content += *ch.Delta.Content
			}
			for _, tc := range ch.Delta.ToolCalls {
				if tool == nil {
					tool = &providers.ToolCall{}
				}
				if tc.Function.Name != "" {
					tool.Function.Name = tc.Function.Name
				}
				tool.Function.Arguments += tc.Function.Arguments
			}
			if ch.FinishReason != nil {
				finish = *ch.FinishReason
			}
		}
	}
}

const basic = `{"model":"route","max_tokens":100,"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello there world"}]}`

func TestWireFormatsServedFaithfully(t *testing.T) {
	for _, f := range formats {
		t.Run(f, func(t *testing.T) {
			s := start(t, fakeprovider.Options{Provider: f})
			a := adapter(t, f)
			resp, usage, err := a.Do(context.Background(), nil, ep(s, key), request(t, basic))
			if err != nil {
				t.Fatal(err)
			}
			if got := *resp.Choices[0].Message.Content; got != "fake reply to: hello there world" {
				t.Errorf("content %q", got)
			}
			if resp.Choices[0].FinishReason != "stop" {
				t.Errorf("finish %q", resp.Choices[0].FinishReason)
			}
			// 5 words (system 2 + user 3) + 2 messages; 6 reply words.
			if usage != (providers.Usage{InputTokens: 7, OutputTokens: 6}) {
				t.Errorf("usage %+v", usage)
			}
			if body := s.LastRequestBody(); usage.InputTokens > len(body) {
				t.Errorf("input tokens %d exceed request bytes %d", usage.InputTokens, len(body))
			}

			sr, err := a.Stream(context.Background(), nil, ep(s, key), request(t, basic))
			if err != nil {
				t.Fatal(err)
			}
			content, _, finish, err := collect(t, sr)
			if err != nil || content != "fake reply to: hello there world" || finish != "stop" {
				t.Errorf("stream: %q %q %v", content, finish, err)
			}
			if sr.Usage() != usage {
				t.Errorf("stream usage %+v, want %+v", sr.Usage(), usage)
			}
			if s.Requests() != 2 || s.Calls() != 2 {
				t.Errorf("requests %d calls %d", s.Requests(), s.Calls())
			}
		})
	}
}

func TestMaxTokensBoundsOutput(t *testing.T) {
	for _, f := range formats {
		s := start(t, fakeprovider.Options{Provider: f, ReasoningTokens: 5, CachedInputTokens: 3})
		req := request(t, `{"model":"m","max_tokens":4,"messages":[{"role":"user","content":"one two three four five"}]}`)
		resp, usage, err := adapter(t, f).Do(context.Background(), nil, ep(s, key), req)
		if err != nil {
			t.Fatal(err)
		}
		if *resp.Choices[0].Message.Content != "fake reply to: one" || resp.Choices[0].FinishReason != "length" {
			t.Errorf("%s: %q %q", f, *resp.Choices[0].Message.Content, resp.Choices[0].FinishReason)
		}
		// 4 reply words fill the limit, so no room is left for reasoning tokens.
		if usage != (providers.Usage{InputTokens: 6, OutputTokens: 4, CachedInputTokens: 3}) {
			t.Errorf("%s: usage %+v", f, usage)
		}
		req = request(t, `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`)
		_, usage, err = adapter(t, f).Do(context.Background(), nil, ep(s, key), req)
		if err != nil {
			t.Fatal(err)
		}
		wantReasoning := 5
		if f == fakeprovider.Anthropic {
			wantReasoning = 0 // Anthropic bills thinking inside output_tokens without itemizing it
		}
		if usage.OutputTokens != 9 || usage.ReasoningTokens != wantReasoning {
			t.Errorf("%s: usage with reasoning %+v", f, usage)
		}
	}
}

func TestToolCalls(t *testing.T) {
	req := `{"model":"m","max_tokens":50,"tool_choice":"required",
	  "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}],
	  "messages":[{"role":"user","content":"Oslo"}]}`
	for _, f := range formats {
		s := start(t, fakeprovider.Options{Provider: f})
		a := adapter(t, f)
		resp, _, err := a.Do(context.Background(), nil, ep(s, key), request(t, req))
		if err != nil {
			t.Fatal(err)
		}
		c := resp.Choices[0]
		if c.FinishReason != "tool_calls" || len(c.Message.ToolCalls) != 1 || c.Message.ToolCalls[0].Function.Name != "get_weather" ||
			c.Message.ToolCalls[0].Function.Arguments != `{"input":"Oslo"}` {
			t.Errorf("%s: %+v", f, c)
		}
		sr, err := a.Stream(context.Background(), nil, ep(s, key), request(t, req))
		if err != nil {
			t.Fatal(err)
		}
		_, tool, finish, err := collect(t, sr)
		if err != nil || finish != "tool_calls" || tool == nil || tool.Function.Arguments != `{"input":"Oslo"}` {
			t.Errorf("%s stream: %+v %q %v", f, tool, finish, err)
		}
		// Feeding the result back gets a text answer, through each format's tool-result encoding.
		follow := `{"model":"m","tools":[{"type":"function","function":{"name":"get_weather"}}],"tool_choice":"required","messages":[
		  {"role":"user","content":"Oslo"},
		  {"role":"assistant","tool_calls":[{"id":"` + c.Message.ToolCalls[0].ID + `","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},
		  {"role":"tool","tool_call_id":"` + c.Message.ToolCalls[0].ID + `","content":"3C"}]}`
		resp, _, err = a.Do(context.Background(), nil, ep(s, key), request(t, follow))
		if err != nil {
			t.Fatal(err)
		}
		if *resp.Choices[0].Message.Content != "fake reply after tool result" {
			t.Errorf("%s: follow-up %q", f, *resp.Choices[0].Message.Content)
		}
	}
}

func TestWrongKeyGetsProviderAuthError(t *testing.T) {
	wantStatus := map[string]int{fakeprovider.OpenAI: 401, fakeprovider.Anthropic: 401, fakeprovider.Gemini: 400}
	const presented = "sk-wrong-key-presented-999999"
	for _, f := range formats {
		s := start(t, fakeprovider.Options{Provider: f, EchoKey: true})
		_, _, err := adapter(t, f).Do(context.Background(), nil, ep(s, presented), request(t, basic))
		var ue *providers.UpstreamError
		if !errors.As(err, &ue) || ue.Status != wantStatus[f] {
			t.Fatalf("%s: err = %v", f, err)
		}
		// The fake really echoed the key (checked on the wire), and the adapter redacted it.
		raw := rawPost(t, s, f, presented)
		if !strings.Contains(raw, presented) {
			t.Errorf("%s: EchoKey did not echo: %s", f, raw)
		}
		if strings.Contains(err.Error(), presented) || strings.Contains(string(ue.Body), presented) {
			t.Errorf("%s: key leaked through the adapter: %v", f, err)
		}
		if s.Calls() != 0 || s.Requests() != 2 {
			t.Errorf("%s: calls %d requests %d", f, s.Calls(), s.Requests())
		}
	}
}

// rawPost sends a minimal request with the given key and returns the raw response body.
func rawPost(t *testing.T, s *fakeprovider.Server, format, k string) string {
	t.Helper()
	url := s.URL() + "/chat/completions"
	switch format {
	case fakeprovider.Anthropic:
		url = s.URL() + "/messages"
	case fakeprovider.Gemini:
		url = s.URL() + "/models/m:generateContent"
	}
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+k)
	req.Header.Set("x-api-key", k)
	req.Header.Set("x-goog-api-key", k)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestStatusFaultsAndRecovery(t *testing.T) {
	for _, f := range formats {
		s := start(t, fakeprovider.Options{Provider: f})
		a := adapter(t, f)
		s.SetFault(fakeprovider.Fault{Status: 503, RetryAfter: "3"})
		_, _, err := a.Do(context.Background(), nil, ep(s, key), request(t, basic))
		var ue *providers.UpstreamError
		if !errors.As(err, &ue) || ue.Status != 503 || ue.Header.Get("Retry-After") != "3" {
			t.Fatalf("%s: err = %v", f, err)
		}
		s.SetFault(fakeprovider.Fault{FailFirstN: 2, Status: 529})
		s.ResetCounters()
		for i := range 3 {
			_, _, err := a.Do(context.Background(), nil, ep(s, key), request(t, basic))
			if (i < 2) != (err != nil) {
				t.Errorf("%s: call %d err = %v", f, i, err)
			}
			if i < 2 && (!errors.As(err, &ue) || ue.Status != 529) {
				t.Errorf("%s: call %d err = %v, want 529", f, i, err)
			}
		}
		if s.Calls() != 3 || s.Requests() != 3 {
			t.Errorf("%s: calls %d requests %d", f, s.Calls(), s.Requests())
		}
		s.SetFault(fakeprovider.Fault{RetryAfter: "1"})
		if _, _, err := a.Do(context.Background(), nil, ep(s, key), request(t, basic)); !errors.As(err, &ue) || ue.Status != 429 {
			t.Errorf("%s: RetryAfter alone: %v", f, err)
		}
	}
}

func TestSemanticFaults(t *testing.T) {
	for _, f := range formats {
		s := start(t, fakeprovider.Options{Provider: f, Models: []string{"fake-model"}})
		a := adapter(t, f)
		var ue *providers.UpstreamError

		s.SetFault(fakeprovider.Fault{ContextTooLong: true})
		_, _, err := a.Do(context.Background(), nil, ep(s, key), request(t, basic))
		if !errors.As(err, &ue) || ue.Status != 400 || !strings.Contains(strings.ToLower(ue.Message()), "token") {
			t.Errorf("%s: context too long: %v", f, err)
		}
		s.SetFault(fakeprovider.Fault{BadRequest: true})
		if _, _, err = a.Do(context.Background(), nil, ep(s, key), request(t, basic)); !errors.As(err, &ue) || ue.Status != 400 {
			t.Errorf("%s: bad request: %v", f, err)
		}
		s.SetFault(fakeprovider.Fault{ContentFilter: true})
		resp, _, err := a.Do(context.Background(), nil, ep(s, key), request(t, basic))
		if err != nil || resp.Choices[0].FinishReason != "content_filter" {
			t.Errorf("%s: content filter: %v %+v", f, err, resp)
		}
		sr, err := a.Stream(context.Background(), nil, ep(s, key), request(t, basic))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, finish, err := collect(t, sr); err != nil || finish != "content_filter" {
			t.Errorf("%s: stream content filter: %q %v", f, finish, err)
		}
		s.SetFault(fakeprovider.Fault{})
		other := ep(s, key)
		other.Model = "no-such-model"
		if _, _, err = a.Do(context.Background(), nil, other, request(t, basic)); !errors.As(err, &ue) || ue.Status != 404 {
			t.Errorf("%s: unknown model: %v", f, err)
		}
	}
}

func TestMalformedAndCutStreams(t *testing.T) {
	for _, f := range formats {
		s := start(t, fakeprovider.Options{Provider: f})
		a := adapter(t, f)
		s.SetFault(fakeprovider.Fault{MalformedJSON: true})
		if _, _, err := a.Do(context.Background(), nil, ep(s, key), request(t, basic)); !errors.Is(err, providers.ErrMalformedResponse) {
			t.Errorf("%s: malformed: %v", f, err)
		}
		sr, err := a.Stream(context.Background(), nil, ep(s, key), request(t, basic))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := collect(t, sr); !errors.Is(err, providers.ErrMalformedResponse) {
			t.Errorf("%s: malformed stream: %v", f, err)
		}
		s.SetFault(fakeprovider.Fault{CutStreamAfter: 2})
		sr, err = a.Stream(context.Background(), nil, ep(s, key), request(t, basic))
		if err != nil {
			t.Fatal(err)
		}
		content, _, _, err := collect(t, sr)
		if !errors.Is(err, providers.ErrStreamInterrupted) {
			t.Errorf("%s: cut stream: content %q err %v", f, content, err)
		}
	}
}

// hooked starts a server whose handlers report when they block on a fault and when they return.
func hooked(t *testing.T, f string) (s *fakeprovider.Server, blocked, finished chan struct{}) {
	s = start(t, fakeprovider.Options{Provider: f})
	blocked, finished = make(chan struct{}, 8), make(chan struct{}, 8)
	fakeprovider.SetTestHooks(s, func() { blocked <- struct{}{} }, func() { finished <- struct{}{} })
	return s, blocked, finished
}

func TestHangAndLatencyReturnOnCancel(t *testing.T) {
	for _, fault := range []fakeprovider.Fault{{Hang: true}, {Latency: time.Hour}} {
		s, blocked, finished := hooked(t, fakeprovider.OpenAI)
		s.SetFault(fault)
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-blocked; cancel() }()
		_, _, err := adapter(t, fakeprovider.OpenAI).Do(ctx, nil, ep(s, key), request(t, basic))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%+v: err = %v", fault, err)
		}
		<-finished // the handler returned because the client left; the test times out otherwise
		if s.InFlight() != 0 {
			t.Errorf("%+v: in flight %d", fault, s.InFlight())
		}
	}
}

func TestCloseReleasesHangingRequests(t *testing.T) {
	s, blocked, finished := hooked(t, fakeprovider.Anthropic)
	s.SetFault(fakeprovider.Fault{Hang: true})
	errc := make(chan error, 1)
	go func() {
		_, _, err := adapter(t, fakeprovider.Anthropic).Do(context.Background(), nil, ep(s, key), request(t, basic))
		errc <- err
	}()
	<-blocked
	s.Close()
	<-finished
	if err := <-errc; err == nil {
		t.Errorf("a request cut by Close succeeded")
	}
}

func TestShortLatencyStillAnswers(t *testing.T) {
	s := start(t, fakeprovider.Options{Provider: fakeprovider.Gemini})
	s.SetFault(fakeprovider.Fault{Latency: time.Millisecond})
	if _, _, err := adapter(t, fakeprovider.Gemini).Do(context.Background(), nil, ep(s, key), request(t, basic)); err != nil {
		t.Fatal(err)
	}
	if got := s.Fault(); got.Latency != time.Millisecond {
		t.Errorf("Fault() = %+v", got)
	}
}

func TestRecordsLastRequest(t *testing.T) {
	s := start(t, fakeprovider.Options{Provider: fakeprovider.Gemini})
	if _, _, err := adapter(t, fakeprovider.Gemini).Do(context.Background(), nil, ep(s, key), request(t, basic)); err != nil {
		t.Fatal(err)
	}
	last := s.LastRequest()
	if last.Path != "/v1beta/models/fake-model:generateContent" || last.Header.Get("x-goog-api-key") != key ||
		strings.Contains(last.RawQuery, key) || !strings.Contains(string(last.Body), "hello there world") {
		t.Errorf("last request %+v", last)
	}
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") || !strings.HasSuffix(s.URL(), "/v1beta") {
		t.Errorf("URL %q", s.URL())
	}
}

func TestStartRejectsUnknownProvider(t *testing.T) {
	if _, err := fakeprovider.Start(fakeprovider.Options{Provider: "cohere"}); err == nil {
		t.Error("want an error")
	}
}

// TestGeminiCountTokensForms: the fake's countTokens takes bare contents or a whole generateContentRequest
// naming its model, answers with the input tokens generateContent bills for the same prompt, and refuses what
// the real API refuses with a 400.
func TestGeminiCountTokensForms(t *testing.T) {
	s := start(t, fakeprovider.Options{Provider: fakeprovider.Gemini})
	const path = "/models/fake-model:countTokens"
	contents := `"contents":[{"role":"user","parts":[{"text":"one two three"}]}]`
	billed, _, err := adapter(t, fakeprovider.Gemini).Do(context.Background(), nil, ep(s, key),
		request(t, `{"model":"m","messages":[{"role":"user","content":"one two three"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if billed.Usage == nil || billed.Usage.PromptTokens == 0 {
		t.Fatalf("generateContent billed no input tokens: %+v", billed.Usage)
	}
	want := `{"totalTokens":` + strconv.Itoa(billed.Usage.PromptTokens) + `}`
	for _, body := range []string{`{` + contents + `}`, `{"generateContentRequest":{"model":"models/fake-model",` + contents + `}}`} {
		if status, got := post(t, s, path, body); status != http.StatusOK || got != want {
			t.Errorf("%s: %d %s, want %s", body, status, got, want)
		}
	}
	for _, body := range []string{
		`{}`,
		`{` + contents + `,"generateContentRequest":{"model":"models/fake-model",` + contents + `}}`,
		`{"generateContentRequest":{` + contents + `}}`,
		`{` + contents + `,"generationConfig":{"maxOutputTokens":1}}`,
		`not json`,
	} {
		if status, got := post(t, s, path, body); status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", body, status, got)
		}
	}
}
