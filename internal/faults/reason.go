// Package faults is llmroute's failure taxonomy: a closed set of reason codes, each in one of four classes, and
// a classifier that turns what an HTTP client saw (error, status, headers, body) into a reason code, a class and
// a sanitized message.
//
// The class decides what the attempt loop does next:
//   - transient: the provider or the network had a bad moment; count it in the breaker and fail over.
//   - hard: this target cannot serve any request as configured (bad key, no access, no such model); fail over,
//     and the breaker keeps the target out.
//   - semantic: the request itself is wrong (too long, filtered, invalid schema); another provider would reject
//     it too, so stop and return the provider's error.
//   - local: a decision taken by the router without calling the provider (caps, breaker, budget, deadline).
//
// Reason codes appear in decision events, metrics and RoutePolicy status, so the set is a public contract: add
// to it, never rename.
package faults

import "slices"

// Class groups reason codes by what the router does about them.
type Class string

// Classes of failure.
const (
	// ClassTransient: the network or provider failed in a way that may not repeat; the target may be retried
	// later and the request may fail over to another target.
	ClassTransient Class = "transient"
	// ClassHard: the target cannot serve requests as configured (credentials, permissions, model name).
	ClassHard Class = "hard"
	// ClassSemantic: the request itself was rejected on its content; failing over would only repeat the rejection.
	ClassSemantic Class = "semantic"
	// ClassLocal: the router decided without a network call (caps, breaker, budget, deadline, bookkeeping).
	ClassLocal Class = "local"
)

// Reason is a reason code: why an attempt failed, why a candidate was excluded, or how a request ended.
// The set is closed: Valid reports whether a value belongs to it.
type Reason string

// Reason codes. The class of each is given by ClassOf.
const (
	// ReasonTimeout (transient): the attempt timed out, at the client or as a 408 from the provider.
	ReasonTimeout Reason = "timeout"
	// ReasonConnectError (transient): the connection could not be established (DNS, refused, unreachable).
	ReasonConnectError Reason = "connect_error"
	// ReasonConnectionReset (transient): the connection broke after it was established, before a full response.
	ReasonConnectionReset Reason = "connection_reset"
	// ReasonProvider5xx (transient): the provider answered 5xx (including Anthropic's 529 overloaded).
	ReasonProvider5xx Reason = "provider_5xx"
	// ReasonRateLimited (transient): the provider answered 429; RetryAfter carries its Retry-After, if any.
	ReasonRateLimited Reason = "rate_limited"
	// ReasonInvalidCredentials (hard): the provider rejected the key (401); the key is quarantined until rotated.
	ReasonInvalidCredentials Reason = "invalid_credentials"
	// ReasonPermissionDenied (hard): the key is valid but may not use this model or endpoint (403, 402).
	ReasonPermissionDenied Reason = "permission_denied"
	// ReasonModelNotFound (hard): the provider does not know the configured model (404).
	ReasonModelNotFound Reason = "model_not_found"
	// ReasonBadRequest (semantic): the provider rejected the request (400, 422 and other 4xx).
	ReasonBadRequest Reason = "bad_request"
	// ReasonSchemaMismatch (semantic): the provider rejected the response_format / JSON schema.
	ReasonSchemaMismatch Reason = "schema_mismatch"
	// ReasonContentFiltered (semantic): the provider's safety filter refused the request.
	ReasonContentFiltered Reason = "content_filtered"
	// ReasonContextTooLarge (semantic): the prompt does not fit the model's context window.
	ReasonContextTooLarge Reason = "context_too_large"
	// ReasonMalformedResponse (transient): the provider answered 2xx with a body that could not be decoded, or
	// with a status that makes no sense here (1xx, 3xx, out of range).
	ReasonMalformedResponse Reason = "malformed_response"
	// ReasonOverHardCostCap (local): the target's worst-case cost exceeds the hard cost cap.
	ReasonOverHardCostCap Reason = "over_hard_cost_cap"
	// ReasonUnknownPrice (local): the model has no known price, and a hard cost cap is set.
	ReasonUnknownPrice Reason = "unknown_price"
	// ReasonUnboundedOutput (local): no output-token bound is known, so worst-case cost cannot be computed.
	ReasonUnboundedOutput Reason = "unbounded_output"
	// ReasonOverLatencySLA (local): the target's observed latency exceeds the SLA or the time left.
	ReasonOverLatencySLA Reason = "over_latency_sla"
	// ReasonMissingCapability (local): the model lacks a capability the request or policy requires.
	ReasonMissingCapability Reason = "missing_capability"
	// ReasonBreakerOpen (local): the target's breaker is open (cooling down or probing).
	ReasonBreakerOpen Reason = "breaker_open"
	// ReasonQuarantined (local): the target's key was rejected as invalid and has not been rotated since.
	ReasonQuarantined Reason = "quarantined"
	// ReasonAlreadyTried (local): the target was already attempted for this request.
	ReasonAlreadyTried Reason = "already_tried"
	// ReasonRetryBudgetExhausted (local): the retry budget allows no more fallback attempts right now.
	ReasonRetryBudgetExhausted Reason = "retry_budget_exhausted"
	// ReasonDeadlineExceeded (local): the request's overall deadline ran out (or its caller went away).
	ReasonDeadlineExceeded Reason = "deadline_exceeded"
	// ReasonStreamInterrupted (transient): a stream died after its first byte reached the client, so it could not
	// fail over; the client got an explicit error event.
	ReasonStreamInterrupted Reason = "stream_interrupted"
	// ReasonUsageOutlier (local): the reported usage is implausible for the request (recorded, not fatal).
	ReasonUsageOutlier Reason = "usage_outlier"
	// ReasonNoEligibleTarget (local): every candidate was excluded or failed.
	ReasonNoEligibleTarget Reason = "no_eligible_target"
	// ReasonFallbackSucceeded (no class): the request succeeded on a target other than the first attempted.
	ReasonFallbackSucceeded Reason = "fallback_succeeded"
	// ReasonOK (no class): the attempt or request succeeded.
	ReasonOK Reason = "ok"
	// ReasonKeyUnavailable (local): no key could be resolved for the target.
	ReasonKeyUnavailable Reason = "key_unavailable"
	// ReasonRouterOverloaded (local): the router was already serving its limit of requests (serve
	// --max-in-flight), so it refused this one with 503 and Retry-After before reading it.
	ReasonRouterOverloaded Reason = "router_overloaded"
)

// classes is the single source of truth for the enum: a reason is valid exactly when it has an entry.
// Success reasons map to the empty class.
var classes = map[Reason]Class{
	ReasonTimeout:              ClassTransient,
	ReasonConnectError:         ClassTransient,
	ReasonConnectionReset:      ClassTransient,
	ReasonProvider5xx:          ClassTransient,
	ReasonRateLimited:          ClassTransient,
	ReasonMalformedResponse:    ClassTransient,
	ReasonStreamInterrupted:    ClassTransient,
	ReasonInvalidCredentials:   ClassHard,
	ReasonPermissionDenied:     ClassHard,
	ReasonModelNotFound:        ClassHard,
	ReasonBadRequest:           ClassSemantic,
	ReasonSchemaMismatch:       ClassSemantic,
	ReasonContentFiltered:      ClassSemantic,
	ReasonContextTooLarge:      ClassSemantic,
	ReasonOverHardCostCap:      ClassLocal,
	ReasonUnknownPrice:         ClassLocal,
	ReasonUnboundedOutput:      ClassLocal,
	ReasonOverLatencySLA:       ClassLocal,
	ReasonMissingCapability:    ClassLocal,
	ReasonBreakerOpen:          ClassLocal,
	ReasonQuarantined:          ClassLocal,
	ReasonAlreadyTried:         ClassLocal,
	ReasonRetryBudgetExhausted: ClassLocal,
	ReasonDeadlineExceeded:     ClassLocal,
	ReasonUsageOutlier:         ClassLocal,
	ReasonNoEligibleTarget:     ClassLocal,
	ReasonKeyUnavailable:       ClassLocal,
	ReasonRouterOverloaded:     ClassLocal,
	ReasonFallbackSucceeded:    "",
	ReasonOK:                   "",
}

// ClassOf returns the class of a reason code. Success reasons (ok, fallback_succeeded) and values outside the
// enum have no class and return "".
func ClassOf(r Reason) Class { return classes[r] }

// Valid reports whether r is one of the documented reason codes.
func Valid(r Reason) bool {
	_, ok := classes[r]
	return ok
}

// AllReasons returns every reason code, sorted, in a fresh slice the caller may keep.
func AllReasons() []Reason {
	out := make([]Reason, 0, len(classes))
	for r := range classes {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// Valid reports whether c is one of the four classes.
func (c Class) Valid() bool {
	switch c {
	case ClassTransient, ClassHard, ClassSemantic, ClassLocal:
		return true
	}
	return false
}

// FailsOver reports whether a failure may move on to the next target, given the policy's fallback.failOverOn list of
// class names and reason codes. Only transient and hard failures can fail over, and only when their class or
// their exact reason is listed; semantic failures would be rejected everywhere, and local ones are the router's
// own decisions that the attempt loop handles itself.
func FailsOver(r Result, on []string) bool {
	if r.Class != ClassTransient && r.Class != ClassHard {
		return false
	}
	return slices.Contains(on, string(r.Class)) || slices.Contains(on, string(r.Reason))
}
