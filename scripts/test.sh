#!/usr/bin/env bash
# Runs go vet and the race-enabled tests of every module of the workspace,
# so that no module is silently skipped. Usage: ./scripts/test.sh [go test flags]
set -euo pipefail
cd "$(dirname "$0")/.."

# The interop tests run independent CIBA implementations from npm
# (interop/package-lock.json); install them once if Node is here.
if [ ! -d interop/node_modules ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "== interop: npm ci"
    (cd interop && npm ci --no-audit --no-fund)
  else
    echo "== interop: npm not found; the interop tests will fail (install Node.js 20 or later)"
  fi
fi

modules=(shared server client authenticator)
status=0
echo "== dependencies: one version across modules"
./scripts/check-deps.sh || status=1
for m in "${modules[@]}"; do
  echo "== $m: go vet"
  (cd "$m" && go vet ./...) || status=1
  echo "== $m: go test -race"
  (cd "$m" && go test -race -count=1 "$@" ./...) || status=1
done
# The control API from another language: Node's test runner starts the
# built ciba-op serve and drives openid-client through it (interop/).
echo "== interop: node --test control.test.mjs"
if command -v node >/dev/null 2>&1; then
  bin_dir=$(mktemp -d)
  trap 'rm -rf "$bin_dir"' EXIT
  if (cd server && go build -o "$bin_dir/ciba-op" ./cmd/ciba-op); then
    (cd interop && CIBA_OP_BIN="$bin_dir/ciba-op" node --test control.test.mjs) || status=1
  else
    status=1
  fi
else
  echo "node not found: the control API suite cannot run (install Node.js 20 or later)"
  status=1
fi
echo "== optest from a module outside the workspace (README lines)"
./scripts/optest-module.sh || status=1
if [ "$status" -ne 0 ]; then
  echo "FAIL: at least one module failed (see above)"
else
  echo "ok: all modules passed"
fi
exit "$status"
