// Package providers translates the router's neutral request model (the OpenAI chat-completions wire format,
// which is also what clients send) to each upstream provider's wire format and back.
//
// Three adapters exist: the OpenAI-compatible one (openai, groq, mistral, deepseek, xai and any compatible
// endpoint), Anthropic Messages, and Gemini generateContent. Every adapter returns responses and stream chunks in
// the OpenAI shape, a normalized Usage for cost accounting, and errors a classifier can inspect:
// *UpstreamError for non-2xx answers, ErrMalformedResponse for a 200 that cannot be parsed,
// ErrStreamInterrupted for a stream that ends without its terminator, and transport errors wrapped unchanged so
// errors.Is(err, context.DeadlineExceeded) keeps working.
//
// Keys travel as keys.Secret and are revealed only where an adapter sets the authentication header. Error
// strings are redacted even when a provider echoes the presented key back in its error body.
package providers
