#!/usr/bin/env bash
# Builds the Kubernetes binaries the tests run, from their Go modules:
#   default  etcd, kube-apiserver, kube-controller-manager (the tier-3 control plane)
#   --node   also kubelet, kube-scheduler, kube-proxy and CoreDNS (the real-node tier, e2e/node)
#
# Kubernetes does not publish k8s.io/kubernetes as a consumable module: its go.mod
# points every k8s.io/* staging module at ./staging. A throwaway module that requires
# k8s.io/kubernetes and replaces each staging module with its matching v0.X.Y release
# makes `go build k8s.io/kubernetes/cmd/...` work from the module proxy alone.
#
# The binaries land in $SEDNA_TEST_BIN_DIR (default ~/.cache/sedna/k8s-<version>);
# a binary already there is not built again, so a warm run returns at once.
set -euo pipefail

K8S_VERSION="${SEDNA_K8S_VERSION:-1.34.4}"
COREDNS_VERSION="${SEDNA_COREDNS_VERSION:-v1.15.0}"
BIN_DIR="${SEDNA_TEST_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sedna/k8s-v${K8S_VERSION}}"
STAGING_VERSION="v0.${K8S_VERSION#1.}"

k8s_cmds=(kube-apiserver kube-controller-manager)
want=(etcd "${k8s_cmds[@]}")
node=0
for arg in "$@"; do
  case "$arg" in
    --node) node=1 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (expected --node)" >&2; exit 2 ;;
  esac
done
if [[ $node == 1 ]]; then
  k8s_cmds+=(kubelet kube-scheduler kube-proxy)
  want+=(kubelet kube-scheduler kube-proxy coredns)
fi

missing=()
for b in "${want[@]}"; do [[ -x "$BIN_DIR/$b" ]] || missing+=("$b"); done
if [[ ${#missing[@]} == 0 ]]; then
  echo "binaries present in $BIN_DIR: ${want[*]}"
  exit 0
fi

command -v go >/dev/null || { echo "go is required to build ${missing[*]} (install Go >= 1.24)" >&2; exit 1; }

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
} > go.mod.new
# Keep go.mod (and go.sum) when unchanged so that `go mod tidy` has nothing to do.
if ! cmp -s go.mod.new go.mod 2>/dev/null; then mv go.mod.new go.mod; else rm go.mod.new; fi

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

# Every command is imported whichever are built, so one go.sum serves all builds.
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO

export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0
start=$(date +%s)
echo "resolving modules for Kubernetes v${K8S_VERSION} (staging ${STAGING_VERSION})"
go mod tidy >/dev/null 2>&1 || go mod tidy
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(cut -d. -f2 <<<"$K8S_VERSION")"
for cmd in "${k8s_cmds[@]}"; do
  [[ -x "$BIN_DIR/$cmd" ]] && continue
  echo "building $cmd"
  go build -trimpath -ldflags "$ldflags" -o "$BIN_DIR/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
  mv "$BIN_DIR/$cmd.tmp" "$BIN_DIR/$cmd"
done
if [[ ! -x "$BIN_DIR/etcd" ]]; then
  echo "building etcd"
  go build -trimpath -ldflags "-s -w" -o "$BIN_DIR/etcd.tmp" ./etcd
  mv "$BIN_DIR/etcd.tmp" "$BIN_DIR/etcd"
fi
if [[ $node == 1 && ! -x "$BIN_DIR/coredns" ]]; then
  echo "building coredns ${COREDNS_VERSION}"
  # Its own module (not the throwaway one): `go install` resolves CoreDNS's go.mod as released.
  GOFLAGS="-buildvcs=false" GOBIN="$WORK/coredns-bin" go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@${COREDNS_VERSION}"
  mv "$WORK/coredns-bin/coredns" "$BIN_DIR/coredns"
fi
echo "built ${missing[*]} in $(( $(date +%s) - start ))s into $BIN_DIR"
