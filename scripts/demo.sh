#!/usr/bin/env bash
# The whole CIBA flow in one command, on the embedded defaults:
#   builds ciba-op, ciba-authenticator and ciba-client into ./bin,
#   starts the OP (https://localhost:5001/master, a 1 s polling interval for
#   the demo) with its embedded NATS (nats://127.0.0.1:4222) and state in
#   ./.cibalab, then runs an approval in each token delivery mode (poll,
#   ping, push) and a denial, narrating each step with its spec section.
# Usage: ./scripts/demo.sh [--watch] [--record DIR] | --interactive | --agent
#   --watch        show every message live with ciba-op watch: in a tmux
#                  pane beside this one inside tmux, else the script prints
#                  the command for a second terminal and waits for Enter.
#   --record DIR   also write the flows as Markdown transcripts with Mermaid
#                  sequence diagrams: DIR/poll.md, DIR/ping.md, DIR/push.md.
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
watch=0
record=""
while [ $# -gt 0 ]; do
  case "$1" in
    --interactive) interactive=1 ;;
    --agent) agent=1 ;;
    --watch) watch=1 ;;
    --record)
      [ $# -ge 2 ] || { echo "demo.sh: --record needs a directory" >&2; exit 2; }
      record=$2; shift ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ -n "$record" ]; then
  mkdir -p "$record" || { echo "demo.sh: cannot create $record" >&2; exit 2; }
  record=$(cd "$record" && pwd)
fi

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
# --version names the commit even where Go records no VCS information.
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || true)
go build -ldflags "${commit:+-X github.com/cibalab/cibalab/shared/cliconv.commit=$commit}" \
  -o bin/ ./server/cmd/ciba-op ./authenticator/cmd/ciba-authenticator ./client/cmd/ciba-client \
  || die "go build failed"
if [ "$agent" = 1 ]; then
  go build -o bin/agent ./client/examples/agent || die "go build of the agent failed"
fi

step "Starting the OpenID Provider with its embedded NATS server"
# A 1 s interval keeps the demo short; ciba-op serve's default (5 s) is
# what CIBA §7.3 suggests for real clients.
bin/ciba-op serve --state-dir "$state_dir" --addr "$addr" --nats-addr "$nats_addr" --interval 1s >"$work/op.out" 2>"$work/op.log" &
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

watch_cmd=(bin/ciba-op watch --state-dir "$state_dir")
start_watcher() { # client id, transcript file: ciba-op watch --record in the background
  bin/ciba-op watch --state-dir "$state_dir" --client "$1" --record "$2" >/dev/null 2>"$work/watch-$1.log" &
  pids+=($!)
  watchers+=($!)
  local pid=$!
  for _ in $(seq 1 100); do
    grep -q 'watching' "$work/watch-$1.log" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$work/watch-$1.log" >&2; die "ciba-op watch stopped"; }
    sleep 0.1
  done
  die "ciba-op watch did not start within 10 s"
}
watchers=()
if [ -n "$record" ]; then
  step "Recording the flows: ciba-op watch --record, one transcript per delivery mode in $record"
  start_watcher cibaConformance "$record/poll.md"
  start_watcher demo-ping "$record/ping.md"
  start_watcher demo-push "$record/push.md"
fi
if [ "$watch" = 1 ]; then
  if [ -n "${TMUX:-}" ] && command -v tmux >/dev/null; then
    tmux split-window -h -c "$root" "$(printf '%q ' "${watch_cmd[@]}"); read -r -p 'Press Enter to close this pane. '"
    sleep 1
    step "The watch view (ciba-op watch) is open in the pane beside this one"
  else
    step "To see every message as it happens, run in a second terminal:"
    echo
    echo "    cd $(printf '%q' "$root") && $(printf '%q ' "${watch_cmd[@]}")"
    echo
    if [ -t 0 ]; then read -r -p "  Press Enter when it is watching... " _; fi
  fi
fi

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
  CIBA_AUTH_PASSWORD=password bin/ciba-authenticator --nats-url "$nats_url" --user user --auto "$1" --delay 1500ms --once \
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

stop_watchers() { # let the recording watchers write their transcripts
  local p
  for p in "${watchers[@]:-}"; do [ -n "$p" ] && kill -INT "$p" 2>/dev/null || true; done
  for p in "${watchers[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  watchers=()
}

add_notify_client() { # id, mode, port: registers a ping or push client (once) and issues its certificates
  if ! bin/ciba-op client add --state-dir "$state_dir" --id "$1" --delivery-mode "$2" \
      --notification-endpoint "https://127.0.0.1:$3/ciba/notify" >"$work/add-$1.out" 2>&1; then
    grep -q 'already exists' "$work/add-$1.out" || { cat "$work/add-$1.out" >&2; die "ciba-op client add failed"; }
  fi
  printf 'demo-secret\n' >"$work/$1.pass"
  bin/ciba-op cert issue --state-dir "$state_dir" --client "$1" --out "$work/$1.p12" --password-file "$work/$1.pass" >/dev/null \
    || die "ciba-op cert issue failed"
}

run_notify_client() { # id, mode, port, binding message, output file
  local rc
  set +e
  bin/ciba-client --issuer "$issuer" --client-id "$1" --cert "$work/$1.p12" --cert-password-file "$work/$1.pass" \
    --ca-file "$ca" --scope "openid profile" --login-hint user --binding-message "$4" \
    --delivery-mode "$2" --notify-url "https://127.0.0.1:$3/ciba/notify" --json 2>&1 >"$5" | sed 's/^/    /'
  rc=${PIPESTATUS[0]}
  set -e
  return "$rc"
}

echo
step "Scenario 1: poll mode, the user approves"
step "CIBA §8 (device side): ciba-authenticator enrolls a device for \"user\" (first run: password, device key, NATS nkey) and listens"
start_authenticator approve
note "$(grep 'signed in' "$work/auth-approve.log" | head -1)"
step "CIBA §7.1 client → OP: backchannel authentication request (mTLS, tls_client_auth per RFC 8705 §2)"
note "CIBA §7.3 OP → client: acknowledgement (auth_req_id, expires_in, interval: 1 s on this demo OP)"
note "CIBA §8   OP → device over NATS: client, scope, binding message; the device answers with a decision signed by its enrolled key"
note "CIBA §10.1 client → OP: token requests every interval (authorization_pending until the decision)"
rc=0; run_client "Demo approve" "$work/token.json" || rc=$?
[ $rc = 0 ] || die "ciba-client exited with $rc; expected a token"
step "CIBA §8 what the authentication device showed and decided (ciba-authenticator --auto approve):"
sed 's/^/    /' "$work/auth-approve.out"
step "CIBA §10.1.1 OP → client: access token bound to the client certificate (RFC 8705 §3.1) and ID token"
at=$(json_field access_token "$work/token.json")
idt=$(json_field id_token "$work/token.json")
echo "  access_token: ${at:0:24}… (${#at} characters)"
echo "  access token claims: $(decode_jwt "$at")"
echo "  ID token claims:     $(decode_jwt "$idt")"
grep -q 'x5t#S256' <<<"$(decode_jwt "$at")" || die "the access token is not bound to the certificate"

echo
step "Scenario 2: ping mode (CIBA §10.2), the user approves"
note "the client demo-ping serves an HTTPS notification endpoint; the OP pings it once the user decided, then the client fetches the tokens"
add_notify_client demo-ping ping 8444
start_authenticator approve
rc=0; run_notify_client demo-ping ping 8444 "Demo ping" "$work/ping.json" || rc=$?
[ $rc = 0 ] || die "the ping client exited with $rc; expected a token"
step "CIBA §10.2 OP → client: ping; client → OP: token request; OP → client: tokens ($(wc -c <"$work/ping.json") bytes of JSON)"

echo
step "Scenario 3: push mode (CIBA §10.3), the user approves"
note "the client demo-push never polls: the OP pushes the tokens to its notification endpoint (CIBA §10.3.1)"
add_notify_client demo-push push 8443
start_authenticator approve
rc=0; run_notify_client demo-push push 8443 "Demo push" "$work/push.json" || rc=$?
[ $rc = 0 ] || die "the push client exited with $rc; expected a token"
step "CIBA §10.3.1 OP → client: tokens pushed ($(wc -c <"$work/push.json") bytes of JSON)"

echo
step "Scenario 4: poll mode, the user denies"
start_authenticator deny
step "CIBA §7.1 client → OP: backchannel authentication request"
rc=0; run_client "Demo deny" "$work/denied.json" || rc=$?
[ $rc = 3 ] || die "ciba-client exited with $rc; expected 3 (denied)"
step "CIBA §8 what the authentication device showed and decided (ciba-authenticator --auto deny):"
sed 's/^/    /' "$work/auth-deny.out"
step "CIBA §11 OP → client: $(cat "$work/denied.json")  (exit code 3)"

if [ -n "$record" ] || [ "$watch" = 1 ]; then
  sleep 0.5 # the watchers show the last messages before the OP stops
fi
if [ -n "$record" ]; then
  stop_watchers
  step "Transcripts written: $record/poll.md, $record/ping.md, $record/push.md"
fi
echo
printf '%s✓ Demo complete.%s The OP stops now; run it yourself with: bin/ciba-op serve (and bin/ciba-op watch beside it)\n' "$B$G" "$N"
