#!/usr/bin/env bash
# Builds kube-apiserver and etcd from the Go module proxy into bin/k8s/<version>/ and prints that directory.
#
# Why: setup-envtest downloads release binaries from the internet, which this project's machines cannot reach.
# The Go module proxy is reachable, so we compile the same binaries from source. The build is reused when both
# binaries are present, so only the first run on a machine pays for it (about 4-5 minutes on 2 cores).
#
# Usage: hack/k8s-binaries.sh            -> prints the absolute directory (for KUBEBUILDER_ASSETS)
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${root}/bin/k8s/${K8S_VERSION}"

if [[ -x "${out}/kube-apiserver" && -x "${out}/etcd" ]]; then
  echo "${out}"
  exit 0
fi

mkdir -p "${out}"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
log() { echo "k8s-binaries: $*" >&2; }

if [[ ! -x "${out}/kube-apiserver" ]]; then
  log "building kube-apiserver v${K8S_VERSION} from the Go module proxy (first run only, a few minutes)"
  mkdir -p "${work}/apiserver"
  cd "${work}/apiserver"
  # k8s.io/kubernetes points its staging repos at ./staging; a consumer module must replace each of them with
  # the published v0.x.y of the same release. The list comes from the release's own go.mod, so it stays right.
  gomod="$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  staging_version="v0.${K8S_VERSION#1.}"
  {
    echo "module llmroute.local/k8sbuild"
    echo
    echo "go 1.26"
    echo
    echo "require k8s.io/kubernetes v${K8S_VERSION}"
    echo
    grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "${gomod}" | awk -v v="${staging_version}" '{print "replace " $1 " => " $1 " " v}'
  } > go.mod
  cat > tools.go <<'GO'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
  GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>&1 || true
  GOFLAGS=-mod=mod go get "k8s.io/kubernetes/cmd/kube-apiserver@v${K8S_VERSION}" >&2
  # Without these the server reports v0.0.0, which kubectl flags as an unsupported version skew.
  minor="$(echo "${K8S_VERSION}" | cut -d. -f2)"
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X ${pkg}.gitVersion=v${K8S_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
  done
  CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "${ldflags}" -o "${out}/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  mv "${out}/kube-apiserver.tmp" "${out}/kube-apiserver"
fi

if [[ ! -x "${out}/etcd" ]]; then
  log "building etcd v${ETCD_VERSION} from the Go module proxy"
  mkdir -p "${work}/etcd"
  cd "${work}/etcd"
  printf 'module llmroute.local/etcdbuild\n\ngo 1.26\n' > go.mod
  GOFLAGS=-mod=mod go get "go.etcd.io/etcd/server/v3@v${ETCD_VERSION}" >&2
  CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "${out}/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "${out}/etcd.tmp" "${out}/etcd"
fi

echo "${out}"
