package controller

// Least privilege for the operator. Secrets: get to read ProviderKey Secrets and llmroute-config (uncached),
// list/watch for the metadata-only watch that triggers rotation, create/update/patch to write llmroute-config.
// No delete: llmroute-config is garbage collected through its owner references to the namespace's RoutePolicies.
// Pods: list/watch to find injected routers to poll. Events: both APIs, because the recorder may use either.
// Leases: only in the operator's own namespace (a Role, not the ClusterRole), for leader election.

// +kubebuilder:rbac:groups=llmroute.dev,resources=routepolicies;providerkeys,verbs=get;list;watch
// +kubebuilder:rbac:groups=llmroute.dev,resources=routepolicies/status;providerkeys/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups="",resources=pods,verbs=list;watch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=llmroute-system,resources=leases,verbs=get;create;update
