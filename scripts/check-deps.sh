#!/usr/bin/env bash
# Fails when one dependency is required at different versions by the
# workspace's modules (go.mod files), so every module builds and tests with
# the same code. Usage: ./scripts/check-deps.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bad=$(for m in shared server client authenticator; do
  (cd "$m" && go mod edit -json) |
    awk -v m="$m" '/"Path":/ {gsub(/[",]/, "", $2); p=$2} /"Version":/ {gsub(/[",]/, "", $2); print p, $2, m}'
done | sort | awk '{ if ($1 == p && $2 != v) { print "  " $1 ": " v " in " mod ", " $2 " in " $3; bad=1 } p=$1; v=$2; mod=$3 }')
if [ -n "$bad" ]; then
  echo "dependencies differ between modules (bring them to one version with go get in each):"
  echo "$bad"
  exit 1
fi
echo "ok: every module requires the same version of each dependency"
