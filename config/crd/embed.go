// Package crd embeds the generated CustomResourceDefinitions, so that `llmroute check` and `llmroute serve
// --config manifests.yaml` validate standalone manifests against exactly the schema and CEL rules the API
// server enforces, without a cluster.
package crd

import _ "embed"

// RoutePolicies is the RoutePolicy CRD as generated into bases/ by `make manifests`.
//
//go:embed bases/llmroute.dev_routepolicies.yaml
var RoutePolicies []byte

// ProviderKeys is the ProviderKey CRD as generated into bases/ by `make manifests`.
//
//go:embed bases/llmroute.dev_providerkeys.yaml
var ProviderKeys []byte
