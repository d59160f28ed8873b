package op

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/shared/authzdetails"
	"github.com/cibalab/cibalab/shared/oauth"
)

const (
	rarPayment = `{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":"1000.00"},` +
		`"creditorName":"ACME GmbH","creditorAccount":{"iban":"DE89370400440532013000"}}`
	rarAccount = `{"type":"account_information","actions":["read_balances"],"locations":["https://bank.example/accounts"]}`
	rarBoth    = "[" + rarPayment + "," + rarAccount + "]"
)

// rarFixture registers client1 for both built-in types and the refresh
// grant.
func rarFixture(t testing.TB) *fixture {
	t.Helper()
	f := newFixture(t)
	c := f.reg.clients["client1"]
	c.AuthorizationDetailsTypes = []string{authzdetails.TypePaymentInitiation, authzdetails.TypeAccountInformation}
	c.GrantTypes = append(c.GrantTypes, oauth.GrantTypeRefreshToken)
	return f
}

// jwtClaims decodes the payload of a JWT without verifying it.
func jwtClaims(t testing.TB, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// typesOf lists the type of each entry of a decoded authorization_details.
func typesOf(v any) []string {
	arr, _ := v.([]any)
	out := []string{}
	for _, e := range arr {
		m, _ := e.(map[string]any)
		s, _ := m["type"].(string)
		out = append(out, s)
	}
	return out
}

// TestAuthorizationDetailsRefused: every malformed or not allowed value is
// invalid_authorization_details with 400 (RFC 9396 §5), says which entry,
// and stores and announces nothing.
func TestAuthorizationDetailsRefused(t *testing.T) {
	tests := []struct{ name, value, desc string }{
		{"unknown type", `[{"type":"wire_transfer"}]`, `authorization_details[0]: type "wire_transfer" is not one this client may use`},
		{"second entry unknown", "[" + rarAccount + `,{"type":"x"}]`, `authorization_details[1]`},
		{"not JSON", `[{`, "must be a JSON array"},
		{"an object, not an array", rarPayment, "must be a JSON array"},
		{"empty", `[]`, "must not be empty"},
		{"no type", `[{"actions":["read"]}]`, "type is required"},
		{"unknown field of a built-in type", strings.Replace("["+rarPayment+"]", `"creditorName"`, `"note":"x","creditorName"`, 1), `unknown field "note"`},
		{"payment without an amount", `[{"type":"payment_initiation","creditorName":"A","creditorAccount":{"iban":"DE89370400440532013000"}}]`, "instructedAmount is required"},
		{"bad IBAN", strings.Replace("["+rarPayment+"]", "DE89", "DE00", 1), "IBAN"},
		{"account without actions", `[{"type":"account_information","locations":["https://bank.example"]}]`, "actions is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := rarFixture(t)
			r := f.post(t, pathBCAuthorize, url.Values{"client_id": {"client1"}, "scope": {"openid"}, "login_hint": {"user"},
				"authorization_details": {tt.value}}, f.certs["client1"])
			wantError(t, r, http.StatusBadRequest, oauth.ErrInvalidAuthorizationDetails)
			if !strings.Contains(r.str("error_description"), tt.desc) {
				t.Errorf("error_description %q, want it to contain %q", r.str("error_description"), tt.desc)
			}
			if f.count(t) != 0 || len(f.ann.reqs) != 0 {
				t.Fatal("a refused request was stored or announced")
			}
		})
	}
	t.Run("client registered for no types", func(t *testing.T) {
		f := newFixture(t)
		r := f.post(t, pathBCAuthorize, url.Values{"client_id": {"client1"}, "scope": {"openid"}, "login_hint": {"user"},
			"authorization_details": {"[" + rarAccount + "]"}}, f.certs["client1"])
		wantError(t, r, http.StatusBadRequest, oauth.ErrInvalidAuthorizationDetails)
	})
	t.Run("a generic type is checked for shape only", func(t *testing.T) {
		f := rarFixture(t)
		f.reg.clients["client1"].AuthorizationDetailsTypes = []string{"deploy"}
		f.start(t, url.Values{"authorization_details": {`[{"type":"deploy","actions":["release"],"env":"production"}]`}})
		if got := f.ann.reqs[0].AuthorizationDetails.Lines(); len(got) != 1 || got[0] != "Type deploy: release; env production" {
			t.Fatalf("device sees %q", got)
		}
	})
}

// TestAuthorizationDetailsPartialApproval: the device sees each entry; the
// user approves the second only; the token response, the access token,
// its introspection, the refreshed tokens and the refresh token's
// introspection carry exactly that entry (RFC 9396 §7, §9).
func TestAuthorizationDetailsPartialApproval(t *testing.T) {
	ctx := context.Background()
	f := rarFixture(t)
	id := f.start(t, url.Values{"authorization_details": {rarBoth}})
	got := f.ann.reqs[0].AuthorizationDetails.Lines()
	want := []string{"Pay €1,000.00 to ACME GmbH, DE89 3704 0044 0532 0130 00", "Read balances at bank.example/accounts"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("device sees %q, want %q", got, want)
	}
	if err := f.p.Decide(ctx, "user", id, authreq.Verdict{Approve: true, ApprovedDetails: []int{1}, Device: "d"}); err != nil {
		t.Fatal(err)
	}
	r := f.poll(t, "client1", id)
	if r.status != 200 {
		t.Fatalf("poll: %d %s", r.status, r.raw)
	}
	if ts := typesOf(r.body["authorization_details"]); strings.Join(ts, ",") != "account_information" {
		t.Fatalf("token response authorization_details types %v, want [account_information]: %s", ts, r.raw)
	}
	at := r.str("access_token")
	if ts := typesOf(jwtClaims(t, at)["authorization_details"]); strings.Join(ts, ",") != "account_information" {
		t.Fatalf("access token authorization_details %v", ts)
	}
	in := f.post(t, pathIntrospect, introspectForm("client1", at), f.certs["client1"])
	if in.body["active"] != true || strings.Join(typesOf(in.body["authorization_details"]), ",") != "account_information" {
		t.Fatalf("introspection: %s", in.raw)
	}
	rt := r.str("refresh_token")
	in = f.post(t, pathIntrospect, introspectForm("client1", rt), f.certs["client1"])
	if strings.Join(typesOf(in.body["authorization_details"]), ",") != "account_information" {
		t.Fatalf("refresh token introspection: %s", in.raw)
	}
	rr := f.post(t, pathToken, url.Values{"client_id": {"client1"}, "grant_type": {oauth.GrantTypeRefreshToken}, "refresh_token": {rt}}, f.certs["client1"])
	if rr.status != 200 || strings.Join(typesOf(rr.body["authorization_details"]), ",") != "account_information" {
		t.Fatalf("refresh: %d %s", rr.status, rr.raw)
	}
}

// TestAuthorizationDetailsAllOrNone: an approval without indexes grants
// every entry; approving none is a denial (access_denied); an index the
// request does not have is refused and changes nothing; a request without
// details grants none and shows none.
func TestAuthorizationDetailsAllOrNone(t *testing.T) {
	ctx := context.Background()
	f := rarFixture(t)

	all := f.start(t, url.Values{"authorization_details": {rarBoth}})
	if err := f.p.Decide(ctx, "user", all, authreq.Verdict{Approve: true}); err != nil {
		t.Fatal(err)
	}
	r := f.poll(t, "client1", all)
	if ts := typesOf(r.body["authorization_details"]); strings.Join(ts, ",") != "payment_initiation,account_information" {
		t.Fatalf("approve all: %v (%s)", ts, r.raw)
	}

	none := f.start(t, url.Values{"authorization_details": {rarBoth}})
	if err := f.p.Decide(ctx, "user", none, authreq.Verdict{Approve: true, ApprovedDetails: []int{}}); err != nil {
		t.Fatal(err)
	}
	wantError(t, f.poll(t, "client1", none), 400, oauth.ErrAccessDenied)

	bad := f.start(t, url.Values{"authorization_details": {rarBoth}})
	for _, idx := range [][]int{{2}, {0, 0}} {
		if err := f.p.Decide(ctx, "user", bad, authreq.Verdict{Approve: true, ApprovedDetails: idx}); !errors.Is(err, authreq.ErrBadDetails) {
			t.Fatalf("indexes %v: %v, want ErrBadDetails", idx, err)
		}
	}
	wantError(t, f.poll(t, "client1", bad), 400, oauth.ErrAuthorizationPending)

	plain := f.start(t, nil)
	if len(f.ann.reqs[len(f.ann.reqs)-1].AuthorizationDetails) != 0 {
		t.Fatal("a request without details announced some")
	}
	if err := f.p.Decide(ctx, "user", plain, authreq.Verdict{Approve: true, ApprovedDetails: []int{0}}); !errors.Is(err, authreq.ErrBadDetails) {
		t.Fatalf("indexes on a request without details: %v", err)
	}
	if err := f.p.Decide(ctx, "user", plain, authreq.Verdict{Approve: true}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(10e9)
	if r := f.poll(t, "client1", plain); r.status != 200 || r.body["authorization_details"] != nil {
		t.Fatalf("plain request: %s", r.raw)
	}
}

// TestAuthorizationDetailsRequestObject: inside a signed request the
// parameter is a JSON array (RFC 9396 §3); a string there, or the
// parameter beside the request object, is refused.
func TestAuthorizationDetailsRequestObject(t *testing.T) {
	f := newSignedFixture(t)
	f.reg.clients["client1"].AuthorizationDetailsTypes = []string{authzdetails.TypePaymentInitiation, authzdetails.TypeAccountInformation}
	var arr []any
	if err := json.Unmarshal([]byte(rarBoth), &arr); err != nil {
		t.Fatal(err)
	}
	r := f.post(t, pathBCAuthorize, f.signedForm(t, "es", func(c map[string]any) { c["authorization_details"] = arr }), f.certs["client1"])
	if r.status != 200 {
		t.Fatalf("array in a request object: %d %s", r.status, r.raw)
	}
	if n := len(f.ann.reqs[0].AuthorizationDetails); n != 2 {
		t.Fatalf("device sees %d entries, want 2", n)
	}
	r = f.post(t, pathBCAuthorize, f.signedForm(t, "es", func(c map[string]any) { c["authorization_details"] = rarBoth }), f.certs["client1"])
	wantError(t, r, 400, oauth.ErrInvalidRequest)
	form := f.signedForm(t, "es", nil)
	form.Set("authorization_details", rarBoth)
	wantError(t, f.post(t, pathBCAuthorize, form, f.certs["client1"]), 400, oauth.ErrInvalidRequest)
	arr[0].(map[string]any)["type"] = "wire_transfer"
	r = f.post(t, pathBCAuthorize, f.signedForm(t, "es", func(c map[string]any) { c["authorization_details"] = arr }), f.certs["client1"])
	wantError(t, r, 400, oauth.ErrInvalidAuthorizationDetails)
}

// TestAuthorizationDetailsDiscovery: the metadata lists the built-in
// types (RFC 9396 §10).
func TestAuthorizationDetailsDiscovery(t *testing.T) {
	f := newFixture(t)
	got := f.p.Metadata().AuthorizationDetailsTypesSupported
	if strings.Join(got, ",") != "payment_initiation,account_information" {
		t.Fatalf("authorization_details_types_supported = %v", got)
	}
}

// TestAuthorizationDetailsPush: a push client receives the granted entries
// in the pushed token response (CIBA Core 1.0 §10.3.1, RFC 9396 §7).
func TestAuthorizationDetailsPush(t *testing.T) {
	f := newFixture(t)
	e := newNotifyEndpoint(t, nil)
	f.withNotifications(t, e, nil)
	f.reg.clients["pusher"].AuthorizationDetailsTypes = []string{authzdetails.TypePaymentInitiation, authzdetails.TypeAccountInformation}
	id := f.startAs(t, "pusher", url.Values{"authorization_details": {rarBoth}})
	if err := f.p.Decide(context.Background(), "user", id, authreq.Verdict{Approve: true, ApprovedDetails: []int{0}}); err != nil {
		t.Fatal(err)
	}
	f.settle()
	calls := e.Calls()
	if len(calls) != 1 {
		t.Fatalf("calls %+v", calls)
	}
	b := pushBody(t, calls[0])
	if got := typesOf(b["authorization_details"]); strings.Join(got, ",") != "payment_initiation" {
		t.Fatalf("pushed authorization_details %v: %v", got, b)
	}
}
