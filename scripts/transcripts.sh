#!/usr/bin/env bash
# Regenerates docs/transcripts/{poll,ping,push}.md from a real run: the
# demo (./scripts/demo.sh --record) on a fresh state directory and free
# ports, its flows recorded by ciba-op watch --record, one transcript per
# token delivery mode (the poll one holds the approval and the denial).
# Usage: ./scripts/transcripts.sh [DIR]   (default docs/transcripts)
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
out="${1:-docs/transcripts}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/out"
if ! CIBA_OP_STATE_DIR="$tmp/state" CIBA_OP_ADDR=127.0.0.1:0 CIBA_OP_NATS_ADDR=127.0.0.1:0 \
    ./scripts/demo.sh --record "$tmp/out" >"$tmp/demo.log" 2>&1; then
  cat "$tmp/demo.log" >&2
  echo "transcripts.sh: the demo failed" >&2
  exit 1
fi
mkdir -p "$out"
for mode in poll ping push; do
  grep -q '^```mermaid$' "$tmp/out/$mode.md" || { cat "$tmp/out/$mode.md" >&2; echo "transcripts.sh: no flow recorded for $mode" >&2; exit 1; }
  cp "$tmp/out/$mode.md" "$out/$mode.md"
  echo "wrote $out/$mode.md"
done
