package fakeprovider

import (
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// protocol is one wire format: how to route, authenticate, parse, render and fail.
type protocol interface {
	// route checks method-independent path shape; model and stream come from the path where the format puts
	// them there (Gemini). detail names the unknown path for the 404.
	route(r *http.Request) (detail, model string, stream, ok bool)
	// key returns the presented API key.
	key(r *http.Request) (string, bool)
	parse(body []byte) (*call, error)
	render(buf []byte, c *call, res *result) []byte
	// renderStream emits SSE events in order and stops when emit reports false (the client went away).
	renderStream(c *call, res *result, emit func([]byte) bool)
	writeError(w http.ResponseWriter, kind errKind, detail string)
	writeStatus(w http.ResponseWriter, status int)
}

// call is the wire-neutral summary of a request: just what the deterministic model needs.
type call struct {
	model        string
	words        int    // whitespace-separated words across all message text
	messages     int    // number of messages (system prompt counted as one)
	lastText     string // text of the last user message
	lastIsTool   bool   // the last message is a tool result
	maxTokens    int    // 0 = no limit
	stream       bool
	includeUsage bool
	tools        []string
	forceTool    string // a named tool the choice forces
	forceAny     bool   // the choice forces some tool
	// thinking is the thinking the request asks for: 0 none, > 0 a budget in tokens, dynamicThinking when the
	// model decides.
	thinking int
	// thinkingLevel is Gemini's thinkingConfig.thinkingLevel, lower-cased; checkModel refuses it on a model
	// before Gemini 3.
	thinkingLevel string
	// hideThinking: think, but return no thinking text (Anthropic display omitted, Gemini includeThoughts
	// false, OpenAI, which never shows its reasoning).
	hideThinking bool
}

// dynamicThinking is call.thinking when the model decides how much to think.
const dynamicThinking = -1

// count adds the words of one text.
func (c *call) count(text string) { c.words += countWords(text) }

// Neutral finish reasons; each protocol spells them its own way.
const (
	finishStop = iota
	finishLength
	finishTool
	finishFilter
)

// result is the deterministic answer to a call.
type result struct {
	id        int64
	thought   []string // thinking words, before the reply; each is one output (reasoning) token and one stream chunk
	redacted  bool     // the thinking is an Anthropic redacted_thinking block
	words     []string // reply words; each is one output token and one stream chunk
	tool      string   // tool to call, "" for a text answer
	toolArgs  string   // JSON object
	finish    int
	input     int
	cached    int
	output    int
	reasoning int
}

// maxReplyWords bounds the echo so a huge prompt does not make a huge answer.
const maxReplyWords = 16

func (s *Server) respond(c *call, f Fault) *result {
	res := &result{id: s.nextID(), input: c.words + c.messages}
	res.cached = min(s.opts.CachedInputTokens, res.input)
	res.thought = think(c)
	res.redacted = len(res.thought) > 0 && strings.Contains(c.lastText, RedactedThinkingTrigger)
	room := c.maxTokens // for the reply, once the thinking is done
	if room > 0 {
		room = max(room-len(res.thought), 0)
	}
	switch {
	case f.ContentFilter:
		res.finish = finishFilter
	case !c.lastIsTool && s.pickTool(c) != "":
		res.tool = s.pickTool(c)
		res.toolArgs = `{"input":` + string(appendString(nil, c.lastText)) + `}`
		if f.BadToolArguments && (s.opts.Provider == "" || s.opts.Provider == OpenAI) {
			res.toolArgs = `{"input": unquoted`
		}
		res.finish = finishTool
		res.output = 1
	default:
		if c.lastIsTool {
			res.words = []string{"fake ", "reply ", "after ", "tool ", "result"}
		} else {
			res.words = append(res.words, "fake ", "reply ", "to:")
			for w := range strings.FieldsSeq(c.lastText) {
				if len(res.words) >= maxReplyWords {
					break
				}
				res.words = append(res.words, " "+w)
			}
		}
		if c.maxTokens > 0 && len(res.words) > room {
			res.words = res.words[:room]
			res.finish = finishLength
		}
		res.output = len(res.words)
	}
	res.reasoning = s.opts.ReasoningTokens
	if c.maxTokens > 0 {
		res.reasoning = max(min(res.reasoning, c.maxTokens-res.output-len(res.thought)), 0)
		res.output = min(res.output, c.maxTokens)
	}
	res.reasoning += len(res.thought)
	res.output += res.reasoning
	return res
}

// RedactedThinkingTrigger in the last user text makes the Anthropic fake answer with a redacted_thinking block,
// as Anthropic's API does for this string.
const RedactedThinkingTrigger = "ANTHROPIC_MAGIC_STRING_TRIGGER_REDACTED_THINKING_46C9A13E193C177646C7398A98432ECCCE4C1253"

// think returns the thinking words of a call: "thinking about: " and the first words of the last user text (or
// about the tool result), within the budget and leaving at least one token of the limit for the reply.
func think(c *call) []string {
	if c.thinking == 0 {
		return nil
	}
	words := []string{"thinking ", "about:"}
	if c.lastIsTool {
		words = []string{"thinking ", "about ", "the ", "tool ", "result"}
	} else {
		for w := range strings.FieldsSeq(c.lastText) {
			if len(words) >= maxReplyWords {
				break
			}
			words = append(words, " "+w)
		}
	}
	n := len(words)
	if c.thinking > 0 {
		n = min(n, c.thinking)
	}
	if c.maxTokens > 0 {
		n = min(n, c.maxTokens-1)
	}
	return words[:max(n, 0)]
}

// thoughtText is the thinking as one string.
func (r *result) thoughtText() string { return strings.Join(r.thought, "") }

// pickTool applies the documented tool rule.
func (s *Server) pickTool(c *call) string {
	if len(c.tools) == 0 {
		return ""
	}
	if c.forceTool != "" {
		return c.forceTool
	}
	for _, t := range c.tools {
		if t != "" && strings.Contains(c.lastText, t) {
			return t
		}
	}
	if c.forceAny {
		return c.tools[0]
	}
	return ""
}

// text is the reply as one string.
func (r *result) text() string { return strings.Join(r.words, "") }

// countWords counts whitespace-separated words without allocating.
func countWords(s string) int {
	n, in := 0, false
	for _, r := range s {
		space := r == ' ' || r == '\n' || r == '\t' || r == '\r' || r == '\v' || r == '\f' || r == 0x85 || r == 0xA0
		if !space && !in {
			n++
		}
		in = !space
	}
	return n
}

// errKind selects a provider error body.
type errKind int

const (
	errAuth errKind = iota
	errNotFound
	errModelNotFound
	errBadRequest
	errContextTooLong
)

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Hand-written because the response side is on the benchmark's hot
// path and json.Marshal of a string allocates and reflects.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

func appendInt(b []byte, n int) []byte { return strconv.AppendInt(b, int64(n), 10) }
