#!/usr/bin/env bash
# Regenerates the TypeScript for proto/ into proto/generated/ (buf.gen.yaml), offline: buf and the
# ts-proto plugin both come from node_modules, no remote plugin or dependency is used. Output
# depends only on the .proto files and the locked versions of buf and ts-proto.
#
# Usage: scripts/gen-proto.sh [OUT_BASE]
#   OUT_BASE  generate into OUT_BASE/proto/generated instead (test/proto compares the two).
set -euo pipefail
cd "$(dirname "$0")/.."

buf=node_modules/.bin/buf
if [[ ! -x $buf || ! -x node_modules/.bin/protoc-gen-ts_proto ]]; then
  echo "gen-proto: buf or protoc-gen-ts_proto missing from node_modules; run npm ci" >&2
  exit 1
fi

"$buf" lint
if [[ $# -ge 1 ]]; then
  "$buf" generate --output "$1"
else
  "$buf" generate
fi
