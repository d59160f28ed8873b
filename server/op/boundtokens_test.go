package op

import (
	"context"
	"crypto/x509"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

// TestCertificateBoundTokensRequired: a client registered with
// tls_client_certificate_bound_access_tokens (RFC 8705 §3.4) gets
// invalid_grant (400) at the token endpoint without a client certificate,
// and nothing is spent: the same grant then succeeds with a certificate,
// bound to it. Without the registration, no certificate means bearer
// tokens.
func TestCertificateBoundTokensRequired(t *testing.T) {
	secret := registry.GenerateClientSecret()
	secretHash, err := registry.HashClientSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		bound bool
		grant string
		// status and code of the exchange without a certificate.
		status int
		code   string
	}{
		{"bound, CIBA grant", true, oauth.GrantTypeCIBA, 400, oauth.ErrInvalidGrant},
		{"bound, refresh grant", true, oauth.GrantTypeRefreshToken, 400, oauth.ErrInvalidGrant},
		{"not bound, CIBA grant", false, oauth.GrantTypeCIBA, 200, ""},
		{"not bound, refresh grant", false, oauth.GrantTypeRefreshToken, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.addClient(registry.Client{ID: "basic", TokenEndpointAuthMethod: registry.AuthClientSecretBasic, ClientSecretHash: secretHash,
				GrantTypes:                            []string{oauth.GrantTypeCIBA, oauth.GrantTypeRefreshToken},
				TLSClientCertificateBoundAccessTokens: tt.bound})
			cert := issueCert(t, f.ca, "basic")
			auth := func(form url.Values, cert *x509.Certificate) response {
				return f.authPost(t, pathToken, authCase{form: form, basic: [2]string{"basic", secret}, cert: cert})
			}
			r := f.authPost(t, pathBCAuthorize, authCase{form: url.Values{}, basic: [2]string{"basic", secret}, cert: cert})
			if r.status != 200 {
				t.Fatalf("bc-authorize: %d %s", r.status, r.raw)
			}
			id := r.str("auth_req_id")
			f.decide(t, id, true)
			form := url.Values{"grant_type": {oauth.GrantTypeCIBA}, "auth_req_id": {id}}
			if tt.grant == oauth.GrantTypeRefreshToken {
				// A refresh token issued, unbound, before the client
				// registered for bound tokens.
				f.reg.clients["basic"].TLSClientCertificateBoundAccessTokens = false
				first := auth(form, nil)
				if first.status != 200 {
					t.Fatalf("token: %d %s", first.status, first.raw)
				}
				f.reg.clients["basic"].TLSClientCertificateBoundAccessTokens = tt.bound
				f.clock.Advance(time.Minute)
				form = url.Values{"grant_type": {oauth.GrantTypeRefreshToken}, "refresh_token": {first.str("refresh_token")}}
			}
			noCert := auth(form, nil)
			if tt.status != 200 {
				wantError(t, noCert, tt.status, tt.code)
				if tt.grant == oauth.GrantTypeCIBA {
					if req := f.request(t, id); req.Status != store.StatusApproved {
						t.Fatalf("the refusal spent the request: %s", req.Status)
					}
				} else if tok, err := f.p.cfg.Tokens.GetToken(context.Background(), tokenHash(form.Get("refresh_token"))); err != nil || !tok.UsedAt.IsZero() {
					t.Fatalf("the refusal spent the refresh token: %+v %v", tok, err)
				}
				withCert := auth(form, cert)
				if withCert.status != 200 {
					t.Fatalf("with a certificate after the refusal: %d %s", withCert.status, withCert.raw)
				}
				at, _ := f.verifyJWT(t, withCert.str("access_token"), "ES256")
				if cnf, _ := at["cnf"].(map[string]any); cnf["x5t#S256"] != pki.ThumbprintS256(cert) {
					t.Errorf("cnf %v, want the certificate's thumbprint", at["cnf"])
				}
				return
			}
			if noCert.status != http.StatusOK {
				t.Fatalf("without a certificate: %d %s", noCert.status, noCert.raw)
			}
			if at, _ := f.verifyJWT(t, noCert.str("access_token"), "ES256"); at["cnf"] != nil {
				t.Errorf("cnf %v without a certificate", at["cnf"])
			}
		})
	}
}
