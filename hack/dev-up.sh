#!/usr/bin/env bash
# Starts a local llmroute environment without Docker or a kubelet:
#   etcd + kube-apiserver (with the CRDs)  -> .dev/kubeconfig
#   the operator (compiles policies into the llmroute-config Secret, polls the router's health)
#   fake providers on 127.0.0.1:18001-18003 (control API on :18000)
#   secretmount (the kubelet's part: keeps .dev/router-config as a mounted Secret volume)
#   the router (`llmroute serve`, API on :8080, ops/admin on :9901)
# and applies config/dev/payments-dev.yaml. `make dev-down` stops exactly what this started (.dev/pids).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "${root}"
dev="${root}/.dev"
mkdir -p "${dev}/logs"
if [[ -s "${dev}/pids" ]]; then
  echo "dev-up: already running (see ${dev}/pids); run make dev-down first" >&2
  exit 1
fi
start=$(date +%s)

assets="$(hack/k8s-binaries.sh)"
echo "dev-up: building binaries"
go build -o bin/llmroute ./cmd/llmroute
go build -o bin/operator ./cmd/operator
go build -o bin/fakeprovider ./cmd/fakeprovider
go build -o bin/devcluster ./hack/devcluster
go build -o bin/secretmount ./hack/secretmount

launch() { # name, then the command; remembers the pid for dev-down
  local name="$1"; shift
  "$@" >"${dev}/logs/${name}.log" 2>&1 &
  echo "$! ${name}" >> "${dev}/pids"
}
wait_for() { # description, timeout seconds, then a command that succeeds when ready
  local what="$1" timeout="$2"; shift 2
  local deadline=$(( $(date +%s) + timeout ))
  until "$@" >/dev/null 2>&1; do
    if (( $(date +%s) > deadline )); then echo "dev-up: timed out waiting for ${what}; logs in ${dev}/logs" >&2; exit 1; fi
    sleep 0.2
  done
}

rm -f "${dev}/kubeconfig"
launch devcluster bin/devcluster --assets "${assets}" --crds config/crd/bases --kubeconfig-out "${dev}/kubeconfig"
wait_for "the API server" 60 test -s "${dev}/kubeconfig"
export KUBECONFIG="${dev}/kubeconfig"
wait_for "the CRDs" 30 kubectl get routepolicies -A

launch fakeprovider bin/fakeprovider --control 127.0.0.1:18000 \
  --provider deepseek=openai@127.0.0.1:18001 --provider anthropic=anthropic@127.0.0.1:18002 --provider groq=groq@127.0.0.1:18003
launch operator bin/operator --metrics-bind-address 127.0.0.1:18080 --health-probe-bind-address 127.0.0.1:18081 \
  --static-router 127.0.0.1:9901 --poll-interval 2s
kubectl apply -f config/dev/payments-dev.yaml >/dev/null
launch secretmount bin/secretmount --namespace payments --dir "${dev}/router-config"
wait_for "the compiled config" 30 test -e "${dev}/router-config/config.json"
launch router bin/llmroute serve --config "${dev}/router-config" --listen 127.0.0.1:8080 --admin-listen 127.0.0.1:9901
wait_for "the router" 30 curl -fsS http://127.0.0.1:9901/readyz

echo "dev-up: ready in $(( $(date +%s) - start ))s"
cat <<MSG

  export KUBECONFIG=${dev}/kubeconfig
  kubectl get rp,pk -n payments                       # READY, HEALTHY 3/3, PRIMARY
  curl -s localhost:8080/v1/chat/completions -H 'content-type: application/json' \\
    -d '{"model":"assistant","messages":[{"role":"user","content":"hello"}]}'
  curl -s -X PUT localhost:18000/faults/deepseek -d '{"Status":503}'   # break provider A
  kubectl get rp -n payments -w                       # watch a-cheap go CoolingDown, then Healthy after healing
  curl -s -X PUT localhost:18000/faults/deepseek -d '{}'              # heal it
  kubectl -n payments create secret generic deepseek-api-key --from-literal=apiKey=rotated-key \\
    --dry-run=client -o yaml | kubectl apply -f -       # rotate a key; kubectl get pk shows the new fingerprint
  curl -s localhost:9901/debug/decisions              # the decision events
  make dev-down                                       # stop everything

Logs: ${dev}/logs/
MSG
