#!/usr/bin/env bash
# Runs go vet and the race-enabled tests of every module of the workspace,
# so that no module is silently skipped. Usage: ./scripts/test.sh [go test flags]
set -euo pipefail
cd "$(dirname "$0")/.."

modules=(shared server client authenticator)
status=0
for m in "${modules[@]}"; do
  echo "== $m: go vet"
  (cd "$m" && go vet ./...) || status=1
  echo "== $m: go test -race"
  (cd "$m" && go test -race -count=1 "$@" ./...) || status=1
done
if [ "$status" -ne 0 ]; then
  echo "FAIL: at least one module failed (see above)"
else
  echo "ok: all modules passed"
fi
exit "$status"
