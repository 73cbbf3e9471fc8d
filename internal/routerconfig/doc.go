// Package routerconfig is the one contract between the operator, which writes the compiled router config, and
// the router, which reads it.
//
// The operator compiles every Ready RoutePolicy of a namespace, with the ProviderKeys they reference, into one
// Secret named ConfigSecretName. Its data holds ConfigFile (config.json: routes, provider key metadata and
// fingerprints, a checksum, never a key) and one KeyFilePrefix+<ProviderKey name> entry per key holding the raw
// key bytes. Keeping keys out of config.json means the part people look at and diff never carries secret
// material, and the fingerprints in it let the reader prove that each key file belongs to this config.
//
// The router mounts that Secret as a directory (never with subPath, which the kubelet does not update) and
// reads it with LoadDir or a Watcher, which notices the kubelet's atomic `..data` swap, verifies the checksum and
// the schema version, and keeps the last good bundle whenever a new one is invalid.
//
// RouterState and TargetState are the other direction of the contract: what a router reports on its state
// endpoint and the operator aggregates into RoutePolicy status.
package routerconfig
