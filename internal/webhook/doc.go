// Package webhook is the operator's mutating admission webhook: it injects the llmroute router as a sidecar
// into pods labelled llmroute.dev/inject=true, and wires the webhook server's serving certificate (generated
// and rotated by internal/certs, or provided as files by cert-manager).
//
// The mutation itself (Inject) is a pure function of a pod and Options, so it is tested without a server; the
// Injector adapts it to controller-runtime's admission.Handler and answers with a JSON patch computed from the
// raw request object, so fields this binary's API types do not know survive untouched.
//
// The MutatingWebhookConfiguration should select pods with an objectSelector on the label (the chart does), so
// the API server calls the webhook only for pods that asked for the router; the Injector checks the label
// again so a configuration without that selector cannot inject into every pod.
package webhook
