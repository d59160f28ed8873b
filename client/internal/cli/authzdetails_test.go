package cli_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cibalab/cibalab/client/internal/cli"
	"github.com/cibalab/cibalab/client/internal/fakeop"
	"github.com/cibalab/cibalab/shared/authzdetails"
)

const cliDetails = `[{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":"1000.00"},` +
	`"creditorName":"ACME GmbH","creditorAccount":{"iban":"DE89370400440532013000"}},` +
	`{"type":"account_information","actions":["read_balances"],"locations":["https://bank.example/accounts"]}]`

// TestAuthorizationDetailsFlag: --authorization-details, inline or from a
// file, is sent; what was granted, and what was not, is printed in words.
func TestAuthorizationDetailsFlag(t *testing.T) {
	granted := json.RawMessage(`[{"type":"account_information","actions":["read_balances"],"locations":["https://bank.example/accounts"]}]`)
	cfg := fakeop.Config{Token: func(int, fakeop.Request) fakeop.Reply {
		rep := fakeop.JSON(http.StatusOK, map[string]any{"access_token": "at-1", "token_type": "Bearer", "expires_in": 300,
			"scope": "openid profile", "authorization_details": granted})
		rep.IDToken = &fakeop.IDToken{}
		return rep
	}}
	file := filepath.Join(t.TempDir(), "details.json")
	if err := os.WriteFile(file, []byte(cliDetails+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, value := range map[string]string{"inline": cliDetails, "file": file} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, cfg)
			res := h.run(t, context.Background(), h.args("--authorization-details", value)...)
			if res.code != cli.ExitOK || res.stdout != "at-1\n" {
				t.Fatalf("exit %d stdout %q\n%s", res.code, res.stdout, res.stderr)
			}
			sent, err := authzdetails.Parse([]byte(h.op.Requests("/mtls/bc-authorize")[0].Form.Get("authorization_details")))
			if err != nil || len(sent) != 2 {
				t.Fatalf("sent %v, %v", sent, err)
			}
			for _, line := range []string{
				"← authorization_details granted: 1 of 2 asked (RFC 9396 §7)",
				"   ✔ Read balances at bank.example/accounts",
				"   ✘ not granted: Pay €1,000.00 to ACME GmbH, DE89 3704 0044 0532 0130 00",
			} {
				if !strings.Contains(res.stderr, line+"\n") {
					t.Errorf("stderr lacks %q:\n%s", line, res.stderr)
				}
			}
		})
	}
	for name, value := range map[string]string{"not an array": `[{"type":1}]`, "no such file": "/nonexistent.json"} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, cfg)
			res := h.run(t, context.Background(), h.args("--authorization-details", value)...)
			if res.code != cli.ExitUsage || !strings.Contains(res.stderr, "--authorization-details") {
				t.Fatalf("exit %d stderr %q, want usage error", res.code, res.stderr)
			}
			if n := len(h.op.Requests("/mtls/bc-authorize")); n != 0 {
				t.Fatalf("%d requests sent", n)
			}
		})
	}
}
