package ciba_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/cibalab/cibalab/client/internal/fakeop"
	"github.com/cibalab/cibalab/shared/authzdetails"
)

const twoDetails = `[{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":"1000.00"},` +
	`"creditorName":"ACME GmbH","creditorAccount":{"iban":"DE89370400440532013000"}},` +
	`{"type":"account_information","actions":["read_balances"],"locations":["https://bank.example/accounts"]}]`

// TestAuthorizationDetailsSent: the entries travel as a JSON array in the
// form, and as an array claim inside a signed request object (RFC 9396
// §2, §3).
func TestAuthorizationDetailsSent(t *testing.T) {
	ds, err := authzdetails.Parse([]byte(twoDetails))
	if err != nil {
		t.Fatal(err)
	}
	op, c, _ := setup(t, fakeop.Config{})
	r := request()
	r.AuthorizationDetails = ds
	if _, err := c.Start(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	sent, err := authzdetails.Parse([]byte(op.Requests("/mtls/bc-authorize")[0].Form.Get("authorization_details")))
	if err != nil || !authzdetails.Equal(sent, ds) {
		t.Fatalf("form authorization_details %v (%v), want the two entries", sent, err)
	}

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	op2, c2, _ := setup(t, fakeop.Config{})
	c2.RequestKey = key
	if _, err := c2.Start(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	claims := parseJWT(t, op2.Requests("/mtls/bc-authorize")[0].Form.Get("request"), &key.PublicKey, "ES256")
	arr, ok := claims["authorization_details"].([]any)
	if !ok || len(arr) != 2 {
		t.Fatalf("request object authorization_details = %#v, want an array of 2", claims["authorization_details"])
	}
}

// TestGrantedDetails: the token response's authorization_details (RFC 9396
// §7) are read back as entries; absent, none.
func TestGrantedDetails(t *testing.T) {
	granted := json.RawMessage(`[{"type":"account_information","actions":["read_balances"],"locations":["https://bank.example/accounts"]}]`)
	_, c, _ := setup(t, fakeop.Config{Token: func(int, fakeop.Request) fakeop.Reply {
		rep := fakeop.JSON(http.StatusOK, map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 60,
			"scope": "openid profile", "authorization_details": granted})
		rep.IDToken = &fakeop.IDToken{}
		return rep
	}})
	tok, err := c.Wait(context.Background(), start(t, c), nil)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := tok.GrantedDetails()
	if err != nil || len(ds) != 1 || ds.Lines()[0] != "Read balances at bank.example/accounts" {
		t.Fatalf("GrantedDetails = %v, %v", ds, err)
	}
	_, c, _ = setup(t, fakeop.Config{})
	tok, err = c.Wait(context.Background(), start(t, c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ds, err := tok.GrantedDetails(); ds != nil || err != nil {
		t.Fatalf("no authorization_details: %v, %v", ds, err)
	}
}
