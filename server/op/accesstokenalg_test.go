package op

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

// TestAccessTokenAlg: access tokens are ES256 by default and RS256 on
// request (Config.AccessTokenAlg, RFC 9068 §2.1); either way they carry the
// RFC 9068 claims and the certificate binding (RFC 8705 §3.1), verify with
// the key the JWKS publishes under their kid, and work at userinfo,
// introspection and revocation.
func TestAccessTokenAlg(t *testing.T) {
	for _, tt := range []struct{ cfg, want string }{{"", "ES256"}, {"ES256", "ES256"}, {"RS256", "RS256"}} {
		t.Run("config="+tt.cfg, func(t *testing.T) {
			f := newFixture(t, func(c *Config) { c.AccessTokenAlg = tt.cfg })
			f.allowRefresh("client1")
			at := f.tokensFor(t, "client1", nil).str("access_token")
			claims, hdr := f.verifyJWT(t, at, tt.want)
			if hdr["alg"] != tt.want || hdr["typ"] != "at+jwt" {
				t.Errorf("header %v, want alg %s and typ at+jwt", hdr, tt.want)
			}
			if k, _ := f.p.keys.jwks.Lookup(hdr["kid"].(string)); k.Kty != map[string]string{"ES256": "EC", "RS256": "RSA"}[tt.want] {
				t.Errorf("kid %v names a %s key in the JWKS", hdr["kid"], k.Kty)
			}
			cnf, _ := claims["cnf"].(map[string]any)
			if claims["iss"] != issuer || claims["aud"] != issuer && !audContains(claims["aud"], issuer) || claims["sub"] != "user" ||
				claims["client_id"] != "client1" || claims["scope"] != "openid profile" || claims["jti"] == nil ||
				claims["exp"] == nil || claims["iat"] == nil || cnf["x5t#S256"] != pki.ThumbprintS256(f.certs["client1"]) {
				t.Errorf("claims %v", claims)
			}
			if r := f.do(t, userinfoReq(http.MethodGet, at), f.certs["client1"]); r.status != 200 || r.str("sub") != "user" {
				t.Errorf("userinfo: %d %s", r.status, r.raw)
			}
			if r := f.post(t, pathIntrospect, introspectForm("client1", at), f.certs["client1"]); r.body["active"] != true {
				t.Errorf("introspection: %d %s", r.status, r.raw)
			}
			if r := f.post(t, pathRevoke, url.Values{"client_id": {"client1"}, "token": {at}}, f.certs["client1"]); r.status != 200 {
				t.Fatalf("revoke: %d %s", r.status, r.raw)
			}
			wantError(t, f.do(t, userinfoReq(http.MethodGet, at), f.certs["client1"]), 401, oauth.ErrInvalidToken)
		})
	}
}

// TestAccessTokenAlgSwitch: an OP restarted with the other AccessTokenAlg
// (same keys) still accepts the access tokens it issued before, and refuses
// a token whose kid names the other key than its alg.
func TestAccessTokenAlgSwitch(t *testing.T) {
	for _, algs := range [][2]string{{"RS256", "ES256"}, {"ES256", "RS256"}} {
		t.Run(algs[0]+" then "+algs[1], func(t *testing.T) {
			f := newFixture(t, func(c *Config) { c.AccessTokenAlg = algs[0] })
			at := f.tokensFor(t, "client1", nil).str("access_token")
			next, err := New(Config{Issuer: issuer, Clients: f.reg, Users: f.reg, Store: f.store, ClientCAs: f.p.cfg.ClientCAs,
				RS256Key: f.rsKey, ES256Key: f.esKey, Now: f.clock.Now, AccessTokenAlg: algs[1]})
			if err != nil {
				t.Fatal(err)
			}
			f.p = next
			if r := f.do(t, userinfoReq(http.MethodGet, at), f.certs["client1"]); r.status != 200 {
				t.Errorf("userinfo after the switch: %d %s", r.status, r.raw)
			}
			// The same claims signed with the right key under the other
			// key's kid: refused.
			claims, _ := f.verifyJWT(t, at, algs[0])
			k := f.p.keys.byAlg[algs[0]]
			tok := jwt.NewWithClaims(k.method, claims)
			tok.Header["kid"], tok.Header["typ"] = f.p.keys.byAlg[algs[1]].kid, "at+jwt"
			forged, err := tok.SignedString(k.key)
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, f.do(t, userinfoReq(http.MethodGet, forged), f.certs["client1"]), 401, oauth.ErrInvalidToken)
		})
	}
}

// TestAccessTokenOtherAlg: an access token signed by the OP's RSA key with
// PS256 (which the key also signs ID tokens with) is refused: access
// tokens are ES256 or RS256 only.
func TestAccessTokenOtherAlg(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.AccessTokenAlg = "RS256" })
	at := f.tokensFor(t, "client1", nil).str("access_token")
	claims, _ := f.verifyJWT(t, at, "RS256")
	k := f.p.keys.byAlg["PS256"]
	tok := jwt.NewWithClaims(k.method, claims)
	tok.Header["kid"], tok.Header["typ"] = k.kid, "at+jwt"
	ps, err := tok.SignedString(k.key)
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, f.do(t, userinfoReq(http.MethodGet, ps), f.certs["client1"]), 401, oauth.ErrInvalidToken)
	if r := f.post(t, pathIntrospect, introspectForm("client1", ps), f.certs["client1"]); r.body["active"] != false {
		t.Errorf("introspection of a PS256 access token: %s", r.raw)
	}
}

// TestAccessTokenAlgConfig: New refuses an algorithm other than ES256 and
// RS256, and ES256 without an ES256 key; with no ES256 key the default is
// RS256.
func TestAccessTokenAlgConfig(t *testing.T) {
	f := newFixture(t)
	base := func() Config {
		return Config{Issuer: issuer, Clients: f.reg, Users: f.reg, Store: f.store, ClientCAs: f.p.cfg.ClientCAs, RS256Key: f.rsKey, ES256Key: f.esKey}
	}
	for _, alg := range []string{"PS256", "HS256", "none", "es256"} {
		c := base()
		c.AccessTokenAlg = alg
		if _, err := New(c); err == nil {
			t.Errorf("AccessTokenAlg %q accepted", alg)
		}
	}
	c := base()
	c.ES256Key, c.AccessTokenAlg = nil, "ES256"
	if _, err := New(c); err == nil {
		t.Error("AccessTokenAlg ES256 accepted without ES256Key")
	}
	c.AccessTokenAlg = ""
	p, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if p.cfg.AccessTokenAlg != "RS256" {
		t.Errorf("no ES256Key: AccessTokenAlg %q, want RS256", p.cfg.AccessTokenAlg)
	}
}
