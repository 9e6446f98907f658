#!/usr/bin/env bash
# End-to-end on kind: build the images, install the chart, run a JointInferenceService and wait
# until both workers run and the service reports STATE=Running, ACTIVE=2.
#
# Needs: docker, kind, kubectl, helm. Not run in CI here (no Docker); see e2e/README.md.
# Usage: e2e/kind/run.sh            (KEEP=1 keeps the cluster afterwards)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CLUSTER="${CLUSTER:-sedna-e2e}"
TAG="${TAG:-0.1.0}"
NS="${NS:-sedna-e2e}"
TIMEOUT="${TIMEOUT:-300s}"
SAMPLE="${SAMPLE:-$ROOT/../shared/conformance/sedna-crd-samples/jointinferenceservice_v1alpha1.yaml}"

log() { printf '\n== %s\n' "$*"; }
cleanup() { if [[ "${KEEP:-0}" != 1 ]]; then kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true; fi; }
trap cleanup EXIT

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 2; }
done

log "kind cluster $CLUSTER"
kind get clusters | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER" --wait 120s
kubectl config use-context "kind-$CLUSTER" >/dev/null
NODE="$(kubectl get nodes -o jsonpath='{.items[0].metadata.name}')"

log "images"
docker build -f "$ROOT/Dockerfile.operator" -t "sedna-py/sedna:$TAG" "$ROOT"
docker build -f "$ROOT/images/worker.Dockerfile" -t "sedna-py/worker:$TAG" "$ROOT"
docker build -f "$ROOT/images/storage-initializer.Dockerfile" -t "sedna-py/storage-initializer:$TAG" "$ROOT"
for image in sedna-py/sedna sedna-py/worker sedna-py/storage-initializer; do
  kind load docker-image --name "$CLUSTER" "$image:$TAG"
done

log "helm install charts/sedna"
helm upgrade --install sedna "$ROOT/charts/sedna" --namespace sedna --create-namespace \
  --set kb.persistence.enabled=false --wait --timeout "$TIMEOUT"
kubectl -n sedna rollout status deployment -l app.kubernetes.io/component=operator --timeout "$TIMEOUT"

log "the JointInferenceService sample on node $NODE"
# The sample's host paths must exist on the node; its images are replaced by the worker image
# sleeping (the check is the control plane's, not the model's).
docker exec "$CLUSTER-control-plane" mkdir -p /joint_inference/output /joint_inference/video /models
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f -
for m in helmet-detection-inference-little-model helmet-detection-inference-big-model; do
  kubectl -n "$NS" apply -f - <<YAML
apiVersion: sedna.io/v1alpha1
kind: Model
metadata: {name: $m}
spec: {url: /models/model.pb, format: pb}
YAML
done
sed -e "s/nodeName: \"edge-node\"/nodeName: \"$NODE\"/" \
    -e "s#^\( *\)- image: kubeedge/.*#\1- image: sedna-py/worker:$TAG\n\1  command: [\"python\", \"-c\", \"import time; time.sleep(3600)\"]#" \
    -e '/namespace: default/d' "$SAMPLE" | kubectl -n "$NS" apply -f -

log "waiting for STATE=Running ACTIVE=2"
deadline=$((SECONDS + ${TIMEOUT%s}))
until [[ "$(kubectl -n "$NS" get ji helmet-detection-inference-example -o jsonpath='{.status.conditions[-1:].type}/{.status.active}')" == "Running/2" ]]; do
  if (( SECONDS > deadline )); then
    kubectl -n "$NS" get ji,pods,svc,events; kubectl -n sedna logs deploy/sedna-operator --tail=100 || true
    echo "FAILED: the service did not reach Running with 2 active workers" >&2; exit 1
  fi
  sleep 3
done
kubectl -n "$NS" get ji,pods,svc
log "deleting the service: every owned object must go"
kubectl -n "$NS" delete ji helmet-detection-inference-example
kubectl -n "$NS" wait --for=delete pod -l jointinferenceservice.sedna.io/name=helmet-detection-inference-example --timeout=120s
echo "PASSED"
