#!/usr/bin/env bash
# Builds the control-plane binaries the tier-3 tests run against: kube-apiserver,
# kube-controller-manager (for garbage collection) and etcd, from their Go modules.
#
# Kubernetes does not publish k8s.io/kubernetes as a consumable module: its go.mod
# points every k8s.io/* staging module at ./staging. A throwaway module that requires
# k8s.io/kubernetes and replaces each staging module with its matching v0.X.Y release
# makes `go build k8s.io/kubernetes/cmd/...` work from the module proxy alone.
#
# The binaries land in $SEDNA_TEST_BIN_DIR (default ~/.cache/sedna/k8s-<version>);
# a second run with the binaries present returns at once.
set -euo pipefail

K8S_VERSION="${SEDNA_K8S_VERSION:-1.34.4}"
BIN_DIR="${SEDNA_TEST_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sedna/k8s-v${K8S_VERSION}}"
STAGING_VERSION="v0.${K8S_VERSION#1.}"

if [[ -x "$BIN_DIR/kube-apiserver" && -x "$BIN_DIR/etcd" && -x "$BIN_DIR/kube-controller-manager" ]]; then
  echo "test binaries present in $BIN_DIR"
  exit 0
fi

command -v go >/dev/null || { echo "go is required to build kube-apiserver (install Go >= 1.24)" >&2; exit 1; }

WORK="$BIN_DIR/.build"
mkdir -p "$WORK" "$BIN_DIR"
cd "$WORK"

staging=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
  cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api
  cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms
  kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
  mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller)

{
  echo "module sednatestbins"
  echo
  echo "go 1.24.0"
  echo
  echo "require k8s.io/kubernetes v${K8S_VERSION}"
  echo
  echo "replace ("
  for m in "${staging[@]}"; do echo "	k8s.io/$m => k8s.io/$m ${STAGING_VERSION}"; done
  echo ")"
} > go.mod

mkdir -p etcd
cat > etcd/main.go <<'GO'
// etcd built from go.etcd.io/etcd/server/v3, the version Kubernetes itself pins.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO

cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
GO

export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0
start=$(date +%s)
echo "resolving modules for Kubernetes v${K8S_VERSION} (staging ${STAGING_VERSION})"
go mod tidy >/dev/null 2>&1 || go mod tidy
for cmd in kube-apiserver kube-controller-manager; do
  echo "building $cmd"
  go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(cut -d. -f2 <<<"$K8S_VERSION")" -o "$BIN_DIR/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
  mv "$BIN_DIR/$cmd.tmp" "$BIN_DIR/$cmd"
done
echo "building etcd"
go build -trimpath -ldflags "-s -w" -o "$BIN_DIR/etcd.tmp" ./etcd
mv "$BIN_DIR/etcd.tmp" "$BIN_DIR/etcd"
echo "built in $(( $(date +%s) - start ))s into $BIN_DIR"
