package interop

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/optest"
	"github.com/cibalab/cibalab/shared/authzdetails"
	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

// TestOpenIDClientAuthorizationDetails: openid-client sends
// authorization_details (RFC 9396 §2) with its backchannel request; the
// device sees both entries; the user approves the second only; the token
// response openid-client receives carries exactly that entry (RFC 9396 §7).
func TestOpenIDClientAuthorizationDetails(t *testing.T) {
	requireNode(t)
	notify := newNotifyTLS(t)
	e := startEnv(t, notify)
	const id = "rp-rar"
	e.srv.AddClient(id, optest.ClientName("openid-client RAR"),
		optest.AuthorizationDetailsTypes(authzdetails.TypePaymentInitiation, authzdetails.TypeAccountInformation))
	cert := e.srv.ClientCertificate(id)
	rp := &rpClient{id: id, cert: cert.Leaf}
	keyPEM, err := pki.EncodePrivateKeyPEM(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	rp.certFile = writeFile(t, e.tmp, id+".pem", pki.EncodeCertificatePEM(cert.Leaf), false)
	rp.keyPEM = writeFile(t, e.tmp, id+"-key.pem", keyPEM, true)

	var details []any
	if err := json.Unmarshal([]byte(`[
		{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":"250.00"},"creditorName":"ACME GmbH","creditorAccount":{"iban":"DE89370400440532013000"}},
		{"type":"account_information","actions":["read_balances"],"locations":["https://bank.example/accounts"]}]`), &details); err != nil {
		t.Fatal(err)
	}
	s := e.runScript(t, map[string]any{
		"issuer": e.srv.URL, "clientId": id, "caFile": e.srv.OP.Dir.CAFile(), "mode": string(oauth.ModePoll),
		"loginHint": optest.DefaultUser, "scope": "openid", "certFile": rp.certFile, "keyFile": rp.keyPEM,
		"authorizationDetails": details, "timeoutMs": (runTimeout - 2*time.Second).Milliseconds(),
	})
	s.next(t, "started")
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	req, err := e.srv.WaitPending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := req.AuthorizationDetails.Lines(); len(got) != 2 || got[0] != "Pay €250.00 to ACME GmbH, DE89 3704 0044 0532 0130 00" {
		t.Fatalf("device shows %q", got)
	}
	if err := e.srv.ApproveOnly(ctx, req.AuthReqID, 1); err != nil {
		t.Fatal(err)
	}
	res := s.next(t, "result")
	tok, _ := res["token"].(map[string]any)
	got, _ := tok["authorization_details"].([]any)
	if res["ok"] != true || len(got) != 1 {
		t.Fatalf("result %v, want one granted entry", res)
	}
	entry, _ := got[0].(map[string]any)
	if entry["type"] != "account_information" || !strings.Contains(jsonOf(entry), `"read_balances"`) {
		t.Fatalf("granted %v, want the account_information entry as sent", got)
	}
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }
