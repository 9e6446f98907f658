#!/usr/bin/env bash
# The real-node tier (tests/node) on kind, for machines that reach Docker Hub: the same checks as
# on the e2e/node cluster, on a kind cluster whose two nodes are named as the examples place
# their workers (cloud-node, and edge-node labelled and tainted node-role.kubernetes.io/edge).
#
# Needs: docker, kind, and the repository's .venv (bash scripts/setup-dev.sh; helm and kubectl
# come from it). Not run in this repository's CI (no registry is reachable there); see
# e2e/README.md. Usage: e2e/kind/run.sh [pytest args]   (KEEP=1 keeps the cluster)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CLUSTER="${CLUSTER:-sedna-e2e}"
BASE="${BASE:-python:3.11-slim}"
PY="$ROOT/.venv/bin/python"
TOOLS="$(bash "$ROOT/scripts/install-kube-tools.sh")"
export PATH="$TOOLS:$PATH"

log() { printf '\n== %s\n' "$*"; }
cleanup() { if [[ "${KEEP:-0}" != 1 ]]; then kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true; fi; }
trap cleanup EXIT

for tool in docker kind; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 2; }
done
[[ -x "$PY" ]] || { echo "missing: $PY (run bash scripts/setup-dev.sh)" >&2; exit 2; }

log "kind cluster $CLUSTER (cloud-node, edge-node)"
if ! kind get clusters | grep -qx "$CLUSTER"; then
  kind create cluster --name "$CLUSTER" --wait 180s --config - <<'YAML'
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
    kubeadmConfigPatches:
      - |
        kind: InitConfiguration
        nodeRegistration:
          name: cloud-node
          taints: []
  - role: worker
    kubeadmConfigPatches:
      - |
        kind: JoinConfiguration
        nodeRegistration:
          name: edge-node
          taints:
            - key: node-role.kubernetes.io/edge
              effect: NoSchedule
YAML
fi
export KUBECONFIG="$(mktemp)"
kind get kubeconfig --name "$CLUSTER" > "$KUBECONFIG"
kubectl label node edge-node node-role.kubernetes.io/edge= --overwrite

log "images (FROM $BASE)"
mapfile -t tags < <(cd "$ROOT" && "$PY" -m e2e.node images --base "$BASE" --no-load)
for tag in "${tags[@]}"; do
  kind load docker-image --name "$CLUSTER" "$tag"
done

log "tests/node on kind"
cd "$ROOT"
SEDNA_E2E_CLUSTER=kind SEDNA_KIND_CLUSTER="$CLUSTER" SEDNA_E2E_BASE="$BASE" "$PY" -m pytest tests/node "$@"
