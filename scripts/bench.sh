#!/usr/bin/env bash
# Measures ciba-op against oidc-provider 9 on loopback and prints one table
# of figures and ratios (docs/performance.md explains each figure):
#   builds ciba-op, ciba-authenticator and ciba-bench into ./bin, checks that
#   interop/node_modules exists, then runs bin/ciba-bench, which starts each
#   OP in turn, drives it with one Go load generator and stops it.
# Usage: ./scripts/bench.sh [--quick] [ciba-bench flags]
#   --quick   a short run for development (about 1 minute per OP) instead of
#             the full one (about 5 minutes per OP); see bin/ciba-bench --help
# Everything it starts is stopped on exit, Ctrl-C or failure. It is not part
# of ./scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; echo; echo "ciba-bench flags:"; go run ./server/cmd/ciba-bench --help; exit 0 ;;
esac

if [ ! -f interop/node_modules/oidc-provider/package.json ]; then
  echo "bench.sh: interop/node_modules is missing: run ./scripts/test.sh once, or (cd interop && npm ci)" >&2
  exit 1
fi
command -v node >/dev/null 2>&1 || { echo "bench.sh: node not found: install Node.js 20 or later" >&2; exit 1; }

echo "== building bin/ciba-op bin/ciba-authenticator bin/ciba-bench" >&2
go build -o bin/ ./server/cmd/ciba-op ./authenticator/cmd/ciba-authenticator ./server/cmd/ciba-bench

exec bin/ciba-bench --ciba-op bin/ciba-op --ciba-authenticator bin/ciba-authenticator --interop interop "$@"
