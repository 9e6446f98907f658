#!/usr/bin/env bash
# Builds the S3-compatible server the object-storage tests run (tests/s3): scripts/s3server,
# gofakes3 (MIT) with an in-memory backend and SigV4 signature checking, from the Go module
# proxy. The binary lands in $SEDNA_S3_SERVER_DIR (default ~/.cache/sedna/bin) as s3server;
# it is rebuilt only when scripts/s3server's sources changed (their hash is kept beside it).
set -euo pipefail
SRC="$(cd "$(dirname "$0")/s3server" && pwd)"
BIN_DIR="${SEDNA_S3_SERVER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sedna/bin}"
BIN="$BIN_DIR/s3server"
hash=$(cat "$SRC/main.go" "$SRC/go.mod" "$SRC/go.sum" | sha256sum | cut -d' ' -f1)
if [[ -x "$BIN" && "$(cat "$BIN.sha256" 2>/dev/null)" == "$hash" ]]; then
  echo "s3server present in $BIN_DIR"
  exit 0
fi
command -v go >/dev/null || { echo "go is required to build the S3 test server (install Go >= 1.24)" >&2; exit 1; }
mkdir -p "$BIN_DIR"
(cd "$SRC" && CGO_ENABLED=0 go build -trimpath -o "$BIN.tmp" .)
mv "$BIN.tmp" "$BIN"
echo "$hash" > "$BIN.sha256"
echo "built $BIN"
