#!/usr/bin/env bash
# The whole CIBA flow in one command, on the embedded defaults:
#   builds ciba-op, ciba-authenticator and ciba-client into ./bin,
#   starts the OP (https://localhost:5001/master) with its embedded NATS
#   (nats://127.0.0.1:4222) and state in ./.cibalab, then runs an approval
#   and a denial, narrating each step with the section of the spec it is.
# Usage: ./scripts/demo.sh [--interactive | --agent]
#   --interactive  leave the decision to a person: the script prints the
#                  authenticator command to run in a second terminal.
#   --agent        instead, an agent asks a human to approve invoice payments
#                  (RFC 9396 authorization_details; docs/recipes/agent-asks-a-human.md).
# Every process it starts is stopped on exit, Ctrl-C or failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

interactive=0
agent=0
case "${1:-}" in
  "") ;;
  --interactive) interactive=1 ;;
  --agent) agent=1 ;;
  -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "demo.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
esac

if [ -t 1 ]; then B=$'\e[1m'; D=$'\e[2m'; G=$'\e[32m'; R=$'\e[31m'; C=$'\e[36m'; N=$'\e[0m'; else B= D= G= R= C= N=; fi
step() { printf '%s▶ %s%s\n' "$B$C" "$*" "$N"; }
note() { printf '%s  %s%s\n' "$D" "$*" "$N"; }
die()  { printf '%s✗ %s%s\n' "$B$R" "$*" "$N" >&2; exit 1; }

state_dir="${CIBA_OP_STATE_DIR:-$root/.cibalab}"
addr="${CIBA_OP_ADDR:-localhost:5001}"
nats_addr="${CIBA_OP_NATS_ADDR:-127.0.0.1:4222}"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  for p in "${pids[@]:-}"; do
    [ -n "$p" ] && wait "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo; die "interrupted"' INT TERM

step "Building ciba-op, ciba-authenticator and ciba-client into ./bin"
mkdir -p bin
go build -o bin/ ./server/cmd/ciba-op ./authenticator/cmd/ciba-authenticator ./client/cmd/ciba-client \
  || die "go build failed"
if [ "$agent" = 1 ]; then
  go build -o bin/agent ./client/examples/agent || die "go build of the agent failed"
fi

step "Starting the OpenID Provider with its embedded NATS server"
bin/ciba-op serve --state-dir "$state_dir" --addr "$addr" --nats-addr "$nats_addr" >"$work/op.out" 2>"$work/op.log" &
pids+=($!)
for _ in $(seq 1 300); do
  grep -q '^ciba-op ready ' "$work/op.out" 2>/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$work/op.log" >&2; die "ciba-op stopped (is $addr or $nats_addr already in use?)"; }
  sleep 0.1
done
ready=$(grep '^ciba-op ready ' "$work/op.out") || die "ciba-op did not become ready in 30 s"
issuer=$(sed -n 's/.*issuer=\([^ ]*\).*/\1/p' <<<"$ready")
nats_url=$(sed -n 's/.*nats=\([^ ]*\).*/\1/p' <<<"$ready")
sed -n 's/^created /  created /p' "$work/op.out"
note "issuer $issuer · NATS $nats_url · state $state_dir"

cert="$state_dir/clients/cibaConformance.p12"
cert_pass="$state_dir/clients/cibaConformance.p12.pass"
ca="$state_dir/ca.pem"
client=(bin/ciba-client --issuer "$issuer" --client-id cibaConformance --cert "$cert" --cert-password-file "$cert_pass"
        --ca-file "$ca" --scope "openid profile" --login-hint user)

run_client() { # binding message, output file; shows the client's own step lines, returns its exit code
  local rc
  set +e
  if [ "$interactive" = 1 ]; then
    "${client[@]}" --binding-message "$1" --requested-expiry 300 --json >"$2"   # stderr stays on the terminal: live countdown
    rc=$?
  else
    "${client[@]}" --binding-message "$1" --json 2>&1 >"$2" | sed 's/^/    /'
    rc=${PIPESTATUS[0]}
  fi
  set -e
  return "$rc"
}

decode_jwt() { # prints the JSON payload of a JWT
  local p
  p=$(cut -d. -f2 <<<"$1" | tr '_-' '/+')
  while [ $(( ${#p} % 4 )) -ne 0 ]; do p+="="; done
  base64 -d <<<"$p" 2>/dev/null || echo "(undecodable)"
  echo
}

json_field() { # crude extraction of a string field from one JSON document
  sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$2"
}

start_authenticator() { # mode (approve|deny)
  CIBA_AUTH_PASSWORD=password bin/ciba-authenticator --nats-url "$nats_url" --user user --auto "$1" --delay 2s --once \
    >"$work/auth-$1.out" 2>"$work/auth-$1.log" &
  pids+=($!)
  local pid=$!
  for _ in $(seq 1 100); do
    grep -q 'signed in' "$work/auth-$1.log" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$work/auth-$1.log" >&2; die "ciba-authenticator stopped"; }
    sleep 0.1
  done
  die "ciba-authenticator did not sign in within 10 s"
}

if [ "$agent" = 1 ]; then
  step "Agent scenario: a software agent asks the user to approve each invoice payment (RFC 9396 authorization_details)"
  bin/ciba-op client list --state-dir "$state_dir" | grep -q '^agent ' \
    || bin/ciba-op client add --state-dir "$state_dir" --id agent --name "Invoice agent" \
         --authorization-details-types payment_initiation | sed -n '1s/^/  /p'
  printf 'demo-agent\n' >"$work/agent.pass"
  bin/ciba-op cert issue --state-dir "$state_dir" --client agent --out "$work/agent.p12" --password-file "$work/agent.pass" >/dev/null
  cat >"$work/rules.json" <<'RULES'
{"rules": [
  {"client_id": "agent", "details": {"type": "payment_initiation", "currency": "EUR", "max_amount": "500.00"}, "action": "approve", "delay": "2s"},
  {"action": "deny", "delay": "2s"}
]}
RULES
  note "the user's device decides by rules standing for the person: payments up to €500.00 approved, others denied"
  CIBA_AUTH_PASSWORD=password bin/ciba-authenticator --nats-url "$nats_url" --user user --rules "$work/rules.json" \
    >"$work/auth-agent.out" 2>"$work/auth-agent.log" &
  pids+=($!)
  for _ in $(seq 1 100); do grep -q 'signed in' "$work/auth-agent.log" 2>/dev/null && break; sleep 0.1; done
  grep -q 'signed in' "$work/auth-agent.log" || { cat "$work/auth-agent.log" >&2; die "ciba-authenticator did not sign in"; }
  for amount in 120.00 5000.00; do
    step "CIBA §7.1 + RFC 9396 §2 agent → OP: pay invoice 4711, €$amount to ACME GmbH"
    rc=0
    bin/agent --issuer "$issuer" --ca-file "$ca" --cert "$work/agent.p12" --cert-password-file "$work/agent.pass" \
      --user user --amount "$amount" 2> >(sed 's/^/    /' >&2) | sed 's/^/    /' || rc=$?
    note "agent exit code $rc (0 paid, 3 declined)"
  done
  step "CIBA §8 what the authentication device showed and decided:"
  sed 's/^/    /' "$work/auth-agent.out"
  exit 0
fi

if [ "$interactive" = 1 ]; then
  step "Interactive mode: you are the user. In a second terminal, run:"
  echo
  echo "    cd $root && bin/ciba-authenticator --nats-url $nats_url --user user"
  echo
  note "(password: password) It shows the request; answer y to approve or n to deny."
  step "CIBA §7.1 client → OP: backchannel authentication request (mTLS, tls_client_auth per RFC 8705 §2)"
  rc=0; run_client "Interactive demo" "$work/token.json" || rc=$?
  case $rc in
    0) step "CIBA §10.1.1 OP → client: tokens"; decode_jwt "$(json_field access_token "$work/token.json")" ;;
    3) step "CIBA §11 OP → client: access_denied (you denied it)" ;;
    4) step "CIBA §11 OP → client: expired_token (nobody decided in time)" ;;
    *) die "ciba-client exited with $rc" ;;
  esac
  exit 0
fi

echo
step "Scenario 1: the user approves"
step "CIBA §8 (device side): ciba-authenticator enrolls a device for \"user\" (first run: password, device key, NATS nkey) and listens"
start_authenticator approve
note "$(grep 'signed in' "$work/auth-approve.log" | head -1)"
step "CIBA §7.1 client → OP: backchannel authentication request (mTLS, tls_client_auth per RFC 8705 §2)"
note "CIBA §7.3 OP → client: acknowledgement (auth_req_id, expires_in, interval)"
note "CIBA §8   OP → device over NATS: client, scope, binding message; the device answers with a decision signed by its enrolled key"
note "CIBA §10.1 client → OP: token requests every interval (authorization_pending until the decision)"
rc=0; run_client "Demo approve" "$work/token.json" || rc=$?
[ $rc = 0 ] || die "ciba-client exited with $rc; expected a token"
step "CIBA §8 what the authentication device showed and decided (ciba-authenticator --auto approve):"
sed 's/^/    /' "$work/auth-approve.out"
step "CIBA §10.1.1 OP → client: access token bound to the client certificate (RFC 8705 §3.1) and ID token"
at=$(json_field access_token "$work/token.json")
idt=$(json_field id_token "$work/token.json")
echo "  access_token: $at"
echo "  access token claims: $(decode_jwt "$at")"
echo "  ID token claims:     $(decode_jwt "$idt")"
grep -q 'x5t#S256' <<<"$(decode_jwt "$at")" || die "the access token is not bound to the certificate"

echo
step "Scenario 2: the user denies"
start_authenticator deny
step "CIBA §7.1 client → OP: backchannel authentication request"
rc=0; run_client "Demo deny" "$work/denied.json" || rc=$?
[ $rc = 3 ] || die "ciba-client exited with $rc; expected 3 (denied)"
step "CIBA §8 what the authentication device showed and decided (ciba-authenticator --auto deny):"
sed 's/^/    /' "$work/auth-deny.out"
step "CIBA §11 OP → client: $(cat "$work/denied.json")  (exit code 3)"

echo
printf '%s✓ Demo complete.%s The OP stops now; run it yourself with: bin/ciba-op serve\n' "$B$G" "$N"
