package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Provider names an LLM provider's wire protocol and default endpoint.
// +kubebuilder:validation:Enum=openai;anthropic;gemini;groq;mistral;deepseek;xai;openaiCompatible
type Provider string

// Providers llmroute speaks to. openaiCompatible is any endpoint that speaks the OpenAI chat completions wire
// format; it needs an explicit baseURL.
const (
	ProviderOpenAI           Provider = "openai"
	ProviderAnthropic        Provider = "anthropic"
	ProviderGemini           Provider = "gemini"
	ProviderGroq             Provider = "groq"
	ProviderMistral          Provider = "mistral"
	ProviderDeepSeek         Provider = "deepseek"
	ProviderXAI              Provider = "xai"
	ProviderOpenAICompatible Provider = "openaiCompatible"
)

// SecretKeySelector points at one entry of a Secret in the ProviderKey's namespace.
type SecretKeySelector struct {
	// name of the Secret in the same namespace as the ProviderKey.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key is the entry of the Secret's data that holds the API key.
	// +optional
	// +kubebuilder:default=apiKey
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key,omitempty"`
}

// ProviderKeySpec says which provider a key is for and where the key lives.
// +kubebuilder:validation:XValidation:rule="self.provider != 'openaiCompatible' || has(self.baseURL)",message="provider openaiCompatible needs a baseURL: there is no default endpoint to send the key to"
// +kubebuilder:validation:XValidation:rule="!has(self.baseURL) || !isURL(self.baseURL) || self.baseURL.startsWith('https://') || (self.inCluster && self.baseURL.startsWith('http://'))",message="baseURL must start with https:// (plain http:// is allowed only with inCluster: true, for endpoints inside the cluster)"
type ProviderKeySpec struct {
	// provider is the LLM provider this key authenticates to. It selects the wire protocol and the default
	// endpoint.
	// +required
	Provider Provider `json:"provider"`

	// secretRef names the Secret entry that holds the API key. The key is read by the operator, copied into the
	// compiled router config, and never written to status, events or logs: only its fingerprint is.
	// +required
	SecretRef SecretKeySelector `json:"secretRef"`

	// baseURL overrides the provider's default endpoint (for proxies, regional endpoints or openaiCompatible
	// servers). The key is only ever sent to this URL, never to one named in a request.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self)",message="baseURL must be an absolute URL such as https://api.example.com/v1"
	BaseURL string `json:"baseURL,omitempty"`

	// inCluster marks baseURL as an endpoint inside the cluster, which may then use plain http://.
	// +optional
	// +kubebuilder:default=false
	InCluster bool `json:"inCluster,omitempty"`
}

// ProviderKeyStatus reports whether the key could be read and which key is in use, by fingerprint only.
type ProviderKeyStatus struct {
	// observedGeneration is the generation of the spec this status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready says whether the key was read from its Secret.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// keyFingerprint identifies the key in use: the first 8 hex digits of its SHA-256. It is not the key and
	// cannot be turned back into it.
	// +optional
	// +kubebuilder:validation:MaxLength=16
	KeyFingerprint string `json:"keyFingerprint,omitempty"`

	// secretResourceVersion is the resourceVersion of the Secret the key was read from.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	SecretResourceVersion string `json:"secretResourceVersion,omitempty"`

	// lastRotationTime is when the key fingerprint last changed.
	// +optional
	LastRotationTime *metav1.Time `json:"lastRotationTime,omitempty"`
}

// ProviderKey makes an LLM provider's API key, stored in a Kubernetes Secret, available to RoutePolicies.
// Keys rotate by updating the Secret; routers pick the new key up without restarting.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=pk,categories=llmroute
// +kubebuilder:printcolumn:name="Provider",type=string,JSONPath=`.spec.provider`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Fingerprint",type=string,JSONPath=`.status.keyFingerprint`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Secret",type=string,JSONPath=`.spec.secretRef.name`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Rotated",type=date,JSONPath=`.status.lastRotationTime`,priority=1
type ProviderKey struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec says which provider the key is for and which Secret entry holds it.
	// +required
	Spec ProviderKeySpec `json:"spec"`

	// status reports whether the key was read, and its fingerprint.
	// +optional
	Status ProviderKeyStatus `json:"status,omitempty"`
}

// ProviderKeyList is a list of ProviderKeys.
//
// +kubebuilder:object:root=true
type ProviderKeyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ProviderKey `json:"items"`
}
