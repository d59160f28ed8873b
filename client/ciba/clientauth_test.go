package ciba_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cibalab/cibalab/client/ciba"
	"github.com/cibalab/cibalab/client/internal/fakeop"
	"github.com/cibalab/cibalab/shared/oauth"
)

// parseJWT verifies s with pub and alg and returns its claims.
func parseJWT(tb testing.TB, s string, pub crypto.PublicKey, alg string) jwt.MapClaims {
	tb.Helper()
	claims := jwt.MapClaims{}
	_, err := jwt.NewParser(jwt.WithValidMethods([]string{alg}), jwt.WithoutClaimsValidation(), jwt.WithJSONNumber()).
		ParseWithClaims(s, claims, func(*jwt.Token) (any, error) { return pub, nil })
	if err != nil {
		tb.Fatalf("JWT does not verify with %s: %v", alg, err)
	}
	return claims
}

func num(tb testing.TB, v any) int64 {
	tb.Helper()
	n, ok := v.(json.Number)
	if !ok {
		tb.Fatalf("%v is not a number", v)
	}
	i, err := n.Int64()
	if err != nil {
		tb.Fatal(err)
	}
	return i
}

func TestPrivateKeyJWT(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, tt := range []struct {
		key crypto.Signer
		pub crypto.PublicKey
		alg string
	}{{ec, &ec.PublicKey, "ES256"}, {rsaKey, &rsaKey.PublicKey, "PS256"}} {
		t.Run(tt.alg, func(t *testing.T) {
			op, c, _ := setup(t, fakeop.Config{})
			c.HTTPClient = op.HTTPClient(zeroCert) // no certificate: the assertion authenticates
			c.AuthMethod, c.AssertionKey, c.AssertionKeyID = ciba.AuthPrivateKeyJWT, tt.key, "k1"
			if _, err := c.Wait(context.Background(), start(t, c), nil); err != nil {
				t.Fatal(err)
			}
			var jtis []string
			for _, r := range op.Requests("") {
				if r.Method != "POST" {
					continue
				}
				if r.Form.Get("client_assertion_type") != ciba.ClientAssertionType || r.Form.Get("client_id") != fakeop.DefaultClientID {
					t.Fatalf("form %v", r.Form)
				}
				claims := parseJWT(t, r.Form.Get("client_assertion"), tt.pub, tt.alg)
				if claims["iss"] != fakeop.DefaultClientID || claims["sub"] != fakeop.DefaultClientID || claims["aud"] != op.Issuer {
					t.Errorf("claims %v, want iss and sub the client_id and aud the issuer", claims)
				}
				iat, exp := num(t, claims["iat"]), num(t, claims["exp"])
				if exp-iat != 60 || iat != r.At.Unix() {
					t.Errorf("iat %d exp %d, want exp 60 s after iat, now", iat, exp)
				}
				jti, _ := claims["jti"].(string)
				if len(jti) < 16 || slices.Contains(jtis, jti) {
					t.Errorf("jti %q is short or reused", jti)
				}
				jtis = append(jtis, jti)
			}
			if len(jtis) != 2 {
				t.Errorf("%d assertions, want one per request", len(jtis))
			}
		})
	}
}

func TestClientAuthSettings(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name string
		edit func(c *ciba.Config)
	}{
		{"private_key_jwt without a key", func(c *ciba.Config) { c.AuthMethod = ciba.AuthPrivateKeyJWT }},
		{"P-384 assertion key", func(c *ciba.Config) { c.AuthMethod, c.AssertionKey = ciba.AuthPrivateKeyJWT, p384 }},
		{"1024-bit RSA request key", func(c *ciba.Config) { c.RequestKey = small }},
		{"unknown method", func(c *ciba.Config) { c.AuthMethod = "client_secret_basic" }},
		{"request lifetime over 60 min", func(c *ciba.Config) { c.RequestKey, c.RequestLifetime = p256, 61*time.Minute }},
		{"signed request without issuer", func(c *ciba.Config) { c.RequestKey, c.Issuer = p256, "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, c, _ := setup(t, fakeop.Config{})
			tt.edit(c)
			if _, err := c.Start(context.Background(), request()); err == nil {
				t.Fatal("Start succeeded")
			}
			if n := len(op.Requests("")); n != 0 {
				t.Errorf("%d requests sent with a bad configuration", n)
			}
		})
	}
}

func TestSignedRequest(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	op, c, clock := setup(t, fakeop.Config{})
	ns, _ := notifier(t, op)
	c.RequestKey, c.RequestKeyID = key, "req-1"
	c.DeliveryMode, c.Notifications = oauth.ModePing, ns
	r := request()
	r.BindingMessage, r.RequestedExpiry, r.ACRValues = "W4SCT", 300, "urn:mace:incommon:iap:silver"
	if _, err := c.Start(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	form := op.Requests("/mtls/bc-authorize")[0].Form
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range form {
			if !yield(k) {
				return
			}
		}
	})
	if !slices.Equal(keys, []string{"client_id", "request"}) {
		t.Fatalf("form parameters %v, want only client_id and request (CIBA Core 1.0 §7.1.1)", keys)
	}
	claims := parseJWT(t, form.Get("request"), &key.PublicKey, "ES256")
	now := clock.Now().Unix()
	for k, want := range map[string]any{
		"iss": fakeop.DefaultClientID, "aud": op.Issuer, "client_id": fakeop.DefaultClientID,
		"scope": "openid profile", "login_hint": "user", "binding_message": "W4SCT", "acr_values": r.ACRValues,
	} {
		if claims[k] != want {
			t.Errorf("claim %s = %v, want %v", k, claims[k], want)
		}
	}
	if num(t, claims["requested_expiry"]) != 300 {
		t.Errorf("requested_expiry %v, want the number 300", claims["requested_expiry"])
	}
	if num(t, claims["iat"]) != now || num(t, claims["nbf"]) != now || num(t, claims["exp"]) != now+300 {
		t.Errorf("iat/nbf/exp %v/%v/%v, want now and 5 min later", claims["iat"], claims["nbf"], claims["exp"])
	}
	if tok, _ := claims["client_notification_token"].(string); len(tok) < 27 {
		t.Errorf("client_notification_token %q not inside the request object", tok)
	}
	if jti, _ := claims["jti"].(string); len(jti) < 16 {
		t.Errorf("jti %q", jti)
	}
}

func TestDiscoverChecksModeAndSigningAlg(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	op, c, _ := setup(t, fakeop.Config{Metadata: func(md *oauth.ProviderMetadata) {
		md.BackchannelTokenDeliveryModesSupported = []oauth.DeliveryMode{oauth.ModePoll}
		md.BackchannelAuthRequestSigningAlgValuesSupported = []string{"ES256"}
	}})
	ns, _ := notifier(t, op)
	c.BackchannelAuthURL, c.TokenURL, c.JWKSURL = "", "", ""
	c.DeliveryMode, c.Notifications = oauth.ModePing, ns
	var re *ciba.ResponseError
	if _, err := c.Discover(context.Background()); !errors.As(err, &re) {
		t.Errorf("ping against a poll-only OP: err = %v", err)
	}
	c.DeliveryMode, c.RequestKey = oauth.ModePoll, rsaKey
	if _, err := c.Discover(context.Background()); !errors.As(err, &re) {
		t.Errorf("PS256 requests against an ES256-only OP: err = %v", err)
	}
	c.RequestKey = nil
	if _, err := c.Discover(context.Background()); err != nil || c.JWKSURL != op.Issuer+"/jwks" {
		t.Errorf("err = %v, jwks %q", err, c.JWKSURL)
	}
}

func TestRefresh(t *testing.T) {
	tests := []struct {
		name    string
		reply   fakeop.Reply
		wantRT  string
		wantErr string
	}{
		{"rotation", fakeop.TokenReplyWith("at-2", "rt-2", &fakeop.IDToken{}), "rt-2", ""},
		{"no rotation keeps the token", fakeop.TokenReplyWith("at-2", "", nil), "rt-1", ""},
		{"invalid_grant", fakeop.TokenError(oauth.ErrInvalidGrant, "revoked"), "", oauth.ErrInvalidGrant},
		{"bad at_hash", fakeop.TokenReplyWith("at-2", "rt-2", &fakeop.IDToken{Claims: map[string]any{"at_hash": "x"}}), "", "id_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, c, _ := setup(t, fakeop.Config{Refresh: func(int, fakeop.Request) fakeop.Reply { return tt.reply }})
			tok, err := c.Refresh(context.Background(), "rt-1")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken != "at-2" || tok.RefreshToken != tt.wantRT {
				t.Errorf("token %+v", tok.TokenResponse)
			}
			p := op.Polls()[0]
			want := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt-1"}, "client_id": {fakeop.DefaultClientID}}
			for k := range want {
				if p.Form.Get(k) != want.Get(k) {
					t.Errorf("form %s = %q, want %q", k, p.Form.Get(k), want.Get(k))
				}
			}
			if p.Cert == nil {
				t.Error("refresh without the client certificate (RFC 8705 §7.1)")
			}
		})
	}
}

func TestRefreshChecksTheNewIDToken(t *testing.T) {
	withClaims := func(rt string, claims map[string]any) fakeop.Reply {
		return fakeop.TokenReplyWith("at-2", rt, &fakeop.IDToken{Claims: claims})
	}
	tests := []struct {
		name     string
		reply    fakeop.Reply
		original *ciba.IDToken
		problem  string // "" for success
	}{
		{"rt_hash of the new refresh token", withClaims("rt-2", nil), nil, ""},
		{"rt_hash of another refresh token", withClaims("rt-2", map[string]any{oauth.ClaimRTHash: fakeop.HalfHash("rt-1")}), nil, "rt_hash"},
		{"no new refresh token: rt_hash not compared", withClaims("", map[string]any{oauth.ClaimRTHash: fakeop.HalfHash("rt-1")}), nil, ""},
		{"same iss and sub as the original", withClaims("rt-2", nil), &ciba.IDToken{Subject: "user"}, ""},
		{"other sub than the original", withClaims("rt-2", nil), &ciba.IDToken{Subject: "someone-else"}, "sub"},
		{"other iss than the original", withClaims("rt-2", nil), &ciba.IDToken{Issuer: "https://other.example", Subject: "user"}, "iss"},
		{"no original: sub not compared", withClaims("rt-2", map[string]any{"sub": "someone-else"}), nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, c, _ := setup(t, fakeop.Config{Refresh: func(int, fakeop.Request) fakeop.Reply { return tt.reply }})
			original := tt.original
			if original != nil && original.Issuer == "" {
				original.Issuer = op.Issuer
			}
			tok, err := c.RefreshFor(context.Background(), "rt-1", original)
			if tt.problem == "" {
				if err != nil || tok.IDTokenClaims == nil {
					t.Fatalf("err = %v, want a checked ID token", err)
				}
				return
			}
			var ie *ciba.IDTokenError
			if !errors.As(err, &ie) || !strings.Contains(ie.Problem, tt.problem) {
				t.Fatalf("err = %v, want an ID token problem about %q", err, tt.problem)
			}
		})
	}
}
