package v1alpha1

// Condition types.
const (
	// ConditionReady on a RoutePolicy: the policy is compiled into the router config. On a ProviderKey: the key
	// was read from its Secret.
	ConditionReady = "Ready"
	// ConditionResolvedRefs on a RoutePolicy: every target's ProviderKey exists and is Ready.
	ConditionResolvedRefs = "ResolvedRefs"
	// ConditionDegraded on a RoutePolicy: at least one target is not Healthy on the routers that report it.
	ConditionDegraded = "Degraded"
)

// Condition reasons. Each is a CamelCase word a person or a script can act on.
const (
	// ReasonCompiled: the policy is in the compiled router config.
	ReasonCompiled = "Compiled"
	// ReasonRefsNotResolved: Ready is False because a reference did not resolve; see ResolvedRefs.
	ReasonRefsNotResolved = "RefsNotResolved"
	// ReasonInvalidPolicy: the policy passed admission but cannot be compiled (for example a provider mismatch
	// between a target and its ProviderKey).
	ReasonInvalidPolicy = "InvalidPolicy"
	// ReasonResolved: every reference resolved.
	ReasonResolved = "Resolved"
	// ReasonProviderKeyNotFound: a target's keyRef names no ProviderKey.
	ReasonProviderKeyNotFound = "ProviderKeyNotFound"
	// ReasonProviderKeyNotReady: a target's ProviderKey exists but is not Ready.
	ReasonProviderKeyNotReady = "ProviderKeyNotReady"
	// ReasonProviderMismatch: a target's provider differs from its ProviderKey's provider.
	ReasonProviderMismatch = "ProviderMismatch"
	// ReasonSecretNotFound: the ProviderKey's Secret does not exist.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonKeyMissing: the Secret exists but has no entry named secretRef.key.
	ReasonKeyMissing = "KeyMissing"
	// ReasonKeyEmpty: the Secret entry exists but is empty or only whitespace.
	ReasonKeyEmpty = "KeyEmpty"
	// ReasonKeyLoaded: the key was read from its Secret.
	ReasonKeyLoaded = "KeyLoaded"
	// ReasonAllTargetsHealthy: Degraded is False; every target is Healthy.
	ReasonAllTargetsHealthy = "AllTargetsHealthy"
	// ReasonTargetsUnhealthy: Degraded is True; some targets cool down, probe or are quarantined.
	ReasonTargetsUnhealthy = "TargetsUnhealthy"
	// ReasonNoHealthyTargets: Degraded is True; no target is Healthy.
	ReasonNoHealthyTargets = "NoHealthyTargets"
	// ReasonNoReports: Degraded is Unknown; no router has reported on the policy recently.
	ReasonNoReports = "NoReports"
)
