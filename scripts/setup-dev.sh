#!/usr/bin/env bash
# Installs everything the tests need on a fresh machine, reusing caches on a warm one:
#   .venv with the project and every extra (torch included), helm + kubectl, and the
#   kube-apiserver / etcd / kube-controller-manager binaries built from the Go modules.
# Set SEDNA_SKIP_TORCH=1 to leave torch out (its tests then fail, never skip).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv
fi
extras="operator,worker,market,dev"
[[ "${SEDNA_SKIP_TORCH:-0}" == "1" ]] || extras="$extras,torch"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[${extras}]"

bash scripts/install-kube-tools.sh
bash scripts/build-test-apiserver.sh
