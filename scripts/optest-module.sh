#!/usr/bin/env bash
# Proves the README's "From a module outside this repository" lines: makes a
# throwaway module in a temp dir, runs those lines exactly as written
# (taken from README.md, with CIBALAB pointing at this checkout), and runs an
# approve test with optest in it.
# Offline: it uses only the module cache (GOPROXY=off) and, in place of the
# checksum database, the checksums this checkout's go.sum files already hold.
# Usage: ./scripts/optest-module.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# The lines between "<!-- optest-module-lines -->" and the end of the next
# fenced block, without the line that sets CIBALAB.
lines=$(awk '/<!-- optest-module-lines -->/{f=1; next} f&&/^```sh/{b=1; next} b&&/^```/{exit} b' README.md | grep -v '^CIBALAB=')
if [ -z "$lines" ]; then
  echo "optest-module: README.md has no block after <!-- optest-module-lines -->" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
cd "$tmp"
export GOWORK=off GOPROXY=off GOFLAGS=-mod=mod
go mod init example.com/shop >/dev/null 2>&1
cat "$root/server/go.sum" "$root/shared/go.sum" | sort -u >go.sum
cat >shop_test.go <<'GO'
package shop

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/cibalab/cibalab/server/optest"
)

func post(t *testing.T, hc *http.Client, endpoint string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := hc.PostForm(endpoint, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func TestApprove(t *testing.T) {
	op := optest.NewServer(t)
	hc := op.Client("cibaConformance")
	status, ack := post(t, hc, op.URL+"/mtls/bc-authorize", url.Values{
		"client_id": {"cibaConformance"}, "scope": {"openid"},
		"login_hint": {"user"}, "binding_message": {"Order 42"},
	})
	if status != http.StatusOK {
		t.Fatalf("bc-authorize: %d %v", status, ack)
	}
	p, err := op.WaitPending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if p.BindingMessage != "Order 42" || p.User != "user" {
		t.Fatalf("pending %+v", p)
	}
	if err := op.Approve(t.Context(), p.AuthReqID); err != nil {
		t.Fatal(err)
	}
	status, tok := post(t, hc, op.URL+"/mtls/token", url.Values{
		"client_id": {"cibaConformance"}, "grant_type": {"urn:openid:params:grant-type:ciba"},
		"auth_req_id": {ack["auth_req_id"].(string)},
	})
	if status != http.StatusOK || tok["token_type"] != "Bearer" || tok["id_token"] == nil {
		t.Fatalf("token: %d %v", status, tok)
	}
}
GO
CIBALAB="$root" bash -euo pipefail -c "$lines"
go test -count=1 ./...
