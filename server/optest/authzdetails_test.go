package optest_test

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/cibalab/cibalab/server/optest"
	"github.com/cibalab/cibalab/shared/authzdetails"
	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/oauth"
)

const optestDetails = `[{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":"1000.00"},` +
	`"creditorName":"ACME GmbH","creditorAccount":{"iban":"DE89370400440532013000"}},` +
	`{"type":"account_information","actions":["read_balances"],"locations":["https://bank.example/accounts"]}]`

func detailTypes(v any) []string {
	arr, _ := v.([]any)
	out := []string{}
	for _, e := range arr {
		m, _ := e.(map[string]any)
		s, _ := m["type"].(string)
		out = append(out, s)
	}
	return out
}

// TestApproveOnly: the device shows both entries in words; approving the
// second only yields tokens whose introspection shows only it; an index
// the request does not have is refused.
func TestApproveOnly(t *testing.T) {
	ctx := testContext(t)
	s := optest.NewServer(t)
	s.AddClient("agent", optest.AuthorizationDetailsTypes(authzdetails.TypePaymentInitiation, authzdetails.TypeAccountInformation))
	id := startCIBA(t, s, "agent", "user", "Invoice 4711", "authorization_details", optestDetails)
	p, err := s.WaitPending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Pay €1,000.00 to ACME GmbH, DE89 3704 0044 0532 0130 00", "Read balances at bank.example/accounts"}
	if got := p.AuthorizationDetails.Lines(); !slices.Equal(got, want) {
		t.Fatalf("device shows %q, want %q", got, want)
	}
	var refused *optest.RefusedError
	if err := s.ApproveOnly(ctx, id, 2); !errors.As(err, &refused) || refused.Code != channel.ErrBadMessage {
		t.Fatalf("index 2 of 2 entries: %v, want bad_message", err)
	}
	if err := s.ApproveOnly(ctx, id); err == nil {
		t.Fatal("ApproveOnly without indexes accepted")
	}
	if err := s.ApproveOnly(ctx, id, 1); err != nil {
		t.Fatal(err)
	}
	tok := poll(t, s, "agent", id)
	wantTokens(t, tok)
	if got := detailTypes(tok.body["authorization_details"]); !slices.Equal(got, []string{"account_information"}) {
		t.Fatalf("token response authorization_details %v", got)
	}
	in := post(t, s, s.Client("agent"), "/mtls/introspect", url.Values{"client_id": {"agent"}, "token": {tok.str("access_token")}})
	if in.body["active"] != true || !slices.Equal(detailTypes(in.body["authorization_details"]), []string{"account_information"}) {
		t.Fatalf("introspection %v", in.body)
	}
}

// TestPolicySeesDetails: a policy reads the details and approves payments
// up to 500 EUR only; a larger one is denied (access_denied), and an
// unknown type is refused at the start (invalid_authorization_details).
func TestPolicySeesDetails(t *testing.T) {
	s := optest.NewServer(t, optest.Policy(func(p optest.Pending) optest.Decision {
		for _, d := range p.AuthorizationDetails {
			pay, ok := authzdetails.PaymentOf(d)
			if !ok {
				return optest.Decision{Verdict: optest.Denied}
			}
			if c, ok := authzdetails.CompareAmount(pay.InstructedAmount.Amount.String(), "500"); !ok || c > 0 {
				return optest.Decision{Verdict: optest.Denied}
			}
		}
		return optest.Decision{Verdict: optest.Approved}
	}))
	s.AddClient("agent", optest.AuthorizationDetailsTypes(authzdetails.TypePaymentInitiation, authzdetails.TypeAccountInformation))
	payment := func(amount string) string {
		return "[" + strings.Replace(strings.Split(optestDetails, `},{"type":"account`)[0][1:], "1000.00", amount, 1) + "}]"
	}
	small := startCIBA(t, s, "agent", "user", "", "authorization_details", payment("120.00"))
	large := startCIBA(t, s, "agent", "user", "", "authorization_details", payment("5000.00"))
	for _, id := range []string{small, large} {
		if _, err := s.WaitDecided(testContext(t), id); err != nil {
			t.Fatal(err)
		}
	}
	tok := poll(t, s, "agent", small)
	wantTokens(t, tok)
	if got := detailTypes(tok.body["authorization_details"]); !slices.Equal(got, []string{"payment_initiation"}) {
		t.Fatalf("small payment granted %v", got)
	}
	wantError(t, poll(t, s, "agent", large), http.StatusBadRequest, oauth.ErrAccessDenied)

	r := post(t, s, s.Client("agent"), "/mtls/bc-authorize", url.Values{"client_id": {"agent"}, "scope": {"openid"},
		"login_hint": {"user"}, "authorization_details": {`[{"type":"wire_transfer"}]`}})
	wantError(t, r, http.StatusBadRequest, oauth.ErrInvalidAuthorizationDetails)
}
