package op

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cibalab/cibalab/shared/oauth"
)

var jtiCounter atomic.Int64

// requestClaims are the claims of a valid request object of client1,
// changed by mod.
func (f *fixture) requestClaims(mod func(c map[string]any)) map[string]any {
	now := f.clock.Now().Unix()
	c := map[string]any{
		"iss": "client1", "aud": issuer, "exp": now + 300, "iat": now, "nbf": now,
		"jti":   fmt.Sprintf("jti-%d", jtiCounter.Add(1)),
		"scope": "openid profile", "login_hint": "user", "binding_message": "Message",
	}
	if mod != nil {
		mod(c)
	}
	return c
}

// signedForm is a form carrying a request object of client1 signed with
// the named key.
func (f *fixture) signedForm(t testing.TB, key string, mod func(c map[string]any)) url.Values {
	t.Helper()
	return url.Values{"client_id": {"client1"}, "request": {signJWT(t, key, f.requestClaims(mod), nil)}}
}

// newSignedFixture registers ES256 and PS256 keys for client1.
func newSignedFixture(t testing.TB) *fixture {
	t.Helper()
	f := newFixture(t)
	f.reg.clients["client1"].JWKS = jwksOf(t, "es", "ps")
	return f
}

// TestRequestObjectAccepted covers valid signed authentication requests
// (CIBA Core 1.0 §7.1.1): both default algorithms, aud as an array, and
// requested_expiry as a JSON string or number.
func TestRequestObjectAccepted(t *testing.T) {
	tests := []struct {
		name       string
		key        string
		mod        func(c map[string]any)
		wantExpiry float64
	}{
		{"ES256", "es", nil, 120},
		{"PS256", "ps", nil, 120},
		{"aud as an array", "es", func(c map[string]any) { c["aud"] = []string{"https://other.example", issuer} }, 120},
		{"requested_expiry as a string", "es", func(c map[string]any) { c["requested_expiry"] = "300" }, 300},
		{"requested_expiry as a number", "es", func(c map[string]any) { c["requested_expiry"] = 300 }, 300},
		{"client_id inside, equal to iss", "es", func(c map[string]any) { c["client_id"] = "client1" }, 120},
		{"no kid: every key is tried", "es", nil, 120},
		{"acr_values inside", "es", func(c map[string]any) { c["acr_values"] = ACRPIN }, 120},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newSignedFixture(t)
			form := f.signedForm(t, tt.key, tt.mod)
			if tt.name == "no kid: every key is tried" {
				form.Set("request", signJWT(t, tt.key, f.requestClaims(nil), map[string]any{"kid": nil}))
			}
			r := f.post(t, pathBCAuthorize, form, f.certs["client1"])
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			if r.body["expires_in"] != tt.wantExpiry {
				t.Errorf("expires_in %v, want %v", r.body["expires_in"], tt.wantExpiry)
			}
			if len(f.ann.reqs) != 1 || f.ann.reqs[0].User != "user" || f.ann.reqs[0].BindingMessage != "Message" {
				t.Fatalf("announcements %+v", f.ann.reqs)
			}
		})
	}
}

// TestRequestObjectRejections covers every rule of CIBA Core 1.0 §7.1.1
// and checklist §5 (the conformance suite's request-object modules): each
// failure is invalid_request with 400 and stores nothing.
func TestRequestObjectRejections(t *testing.T) {
	const min = 60
	tests := []struct {
		name  string
		form  func(t *testing.T, f *fixture) url.Values
		setup func(f *fixture)
	}{
		{"missing aud", mod(func(c map[string]any) { delete(c, "aud") }), nil},
		{"bad aud", mod(func(c map[string]any) { c["aud"] = "https://other.example/master" }), nil},
		{"aud of the wrong type", mod(func(c map[string]any) { c["aud"] = 42 }), nil},
		{"missing iss", mod(func(c map[string]any) { delete(c, "iss") }), nil},
		{"bad iss (another client)", mod(func(c map[string]any) { c["iss"] = "client2" }), nil},
		{"missing exp", mod(func(c map[string]any) { delete(c, "exp") }), nil},
		{"expired exp", mod(func(c map[string]any) { c["exp"] = c["iat"].(int64) - 120 }), nil},
		{"exp 70 minutes in the future", mod(func(c map[string]any) { c["exp"] = c["iat"].(int64) + 70*min }), nil},
		{"exp as a string", mod(func(c map[string]any) { c["exp"] = "tomorrow" }), nil},
		{"missing iat", mod(func(c map[string]any) { delete(c, "iat") }), nil},
		{"iat in the future", mod(func(c map[string]any) { c["iat"] = c["iat"].(int64) + 10*min }), nil},
		{"missing nbf", mod(func(c map[string]any) { delete(c, "nbf") }), nil},
		{"nbf 10 minutes in the future", mod(func(c map[string]any) { c["nbf"] = c["iat"].(int64) + 10*min }), nil},
		{"nbf 70 minutes in the past", mod(func(c map[string]any) { c["nbf"] = c["iat"].(int64) - 70*min }), nil},
		{"exp before nbf", mod(func(c map[string]any) { c["exp"], c["nbf"] = c["iat"].(int64)+60, c["iat"].(int64)+90 }), nil},
		{"missing jti", mod(func(c map[string]any) { delete(c, "jti") }), nil},
		{"empty jti", mod(func(c map[string]any) { c["jti"] = "" }), nil},
		{"jti as a number", mod(func(c map[string]any) { c["jti"] = 7 }), nil},
		{"alg none", func(t *testing.T, f *fixture) url.Values {
			return url.Values{"client_id": {"client1"}, "request": {unsignedJWT(t, f.requestClaims(nil))}}
		}, nil},
		{"alg HS256", func(t *testing.T, f *fixture) url.Values {
			return url.Values{"client_id": {"client1"}, "request": {hmacJWT(t, f.requestClaims(nil), []byte("client1"))}}
		}, nil},
		{"alg RS256", func(t *testing.T, f *fixture) url.Values { return f.signedForm(t, "rs", nil) }, nil},
		{"bad signature", func(t *testing.T, f *fixture) url.Values {
			form := f.signedForm(t, "es", nil)
			tok := form.Get("request")
			form.Set("request", tok[:len(tok)-4]+"AAAA")
			return form
		}, nil},
		{"alg header says PS256, signed ES256", func(t *testing.T, f *fixture) url.Values {
			form := f.signedForm(t, "es", nil)
			parts := strings.Split(form.Get("request"), ".")
			parts[0] = "eyJhbGciOiJQUzI1NiIsImtpZCI6ImVzLTEifQ" // {"alg":"PS256","kid":"es-1"}
			form.Set("request", strings.Join(parts, "."))
			return form
		}, nil},
		{"signed by another client's key", func(t *testing.T, f *fixture) url.Values { return f.signedForm(t, "other", nil) }, nil},
		{"unknown kid", func(t *testing.T, f *fixture) url.Values {
			return url.Values{"client_id": {"client1"}, "request": {signJWT(t, "es", f.requestClaims(nil), map[string]any{"kid": "nope"})}}
		}, nil},
		{"client without keys", func(t *testing.T, f *fixture) url.Values { return f.signedForm(t, "es", nil) },
			func(f *fixture) { f.reg.clients["client1"].JWKS = nil }},
		{"not the registered algorithm", func(t *testing.T, f *fixture) url.Values { return f.signedForm(t, "es", nil) },
			func(f *fixture) { f.reg.clients["client1"].BackchannelAuthRequestSigningAlg = "PS256" }},
		{"registered algorithm not accepted by the OP", func(t *testing.T, f *fixture) url.Values { return f.signedForm(t, "rs", nil) },
			func(f *fixture) { f.reg.clients["client1"].BackchannelAuthRequestSigningAlg = "RS256" }},
		{"scope also outside", func(t *testing.T, f *fixture) url.Values {
			form := f.signedForm(t, "es", nil)
			form.Set("scope", "openid")
			return form
		}, nil},
		{"login_hint only outside", func(t *testing.T, f *fixture) url.Values {
			form := f.signedForm(t, "es", func(c map[string]any) { delete(c, "login_hint") })
			form.Set("login_hint", "user")
			return form
		}, nil},
		{"binding_message outside", func(t *testing.T, f *fixture) url.Values {
			form := f.signedForm(t, "es", nil)
			form.Set("binding_message", "Other")
			return form
		}, nil},
		{"client_id inside differs", mod(func(c map[string]any) { c["client_id"] = "client2" }), nil},
		{"scope as an array", mod(func(c map[string]any) { c["scope"] = []string{"openid"} }), nil},
		{"requested_expiry as a boolean", mod(func(c map[string]any) { c["requested_expiry"] = true }), nil},
		{"requested_expiry as a fraction", mod(func(c map[string]any) { c["requested_expiry"] = 1.5 }), nil},
		{"requested_expiry as a negative number", mod(func(c map[string]any) { c["requested_expiry"] = -5 }), nil},
		{"encrypted request object", func(t *testing.T, f *fixture) url.Values {
			return url.Values{"client_id": {"client1"}, "request": {"eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d"}}
		}, nil},
		{"not a JWT", func(t *testing.T, f *fixture) url.Values {
			return url.Values{"client_id": {"client1"}, "request": {"hello"}}
		}, nil},
		{"empty request", func(t *testing.T, f *fixture) url.Values {
			return url.Values{"client_id": {"client1"}, "request": {""}}
		}, nil},
		{"signed request required, plain request sent", func(t *testing.T, f *fixture) url.Values { return baseForm() },
			func(f *fixture) { f.reg.clients["client1"].RequireSignedRequest = true }},
		{"signing algorithm registered, plain request sent", func(t *testing.T, f *fixture) url.Values { return baseForm() },
			func(f *fixture) { f.reg.clients["client1"].BackchannelAuthRequestSigningAlg = "ES256" }},
		{"request_uri", func(t *testing.T, f *fixture) url.Values {
			return url.Values{"client_id": {"client1"}, "request_uri": {"urn:example:1"}}
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newSignedFixture(t)
			if tt.setup != nil {
				tt.setup(f)
			}
			r := f.post(t, pathBCAuthorize, tt.form(t, f), f.certs["client1"])
			wantError(t, r, http.StatusBadRequest, oauth.ErrInvalidRequest)
			if n := f.count(t); n != 0 || len(f.ann.reqs) != 0 {
				t.Fatalf("a rejected request left %d stored requests and %d announcements", n, len(f.ann.reqs))
			}
		})
	}
}

// mod returns a form builder for a request object whose claims mod changes.
func mod(m func(c map[string]any)) func(t *testing.T, f *fixture) url.Values {
	return func(t *testing.T, f *fixture) url.Values { return f.signedForm(t, "es", m) }
}

// TestRequestObjectReplay: a jti is accepted once (checklist §5), also
// after the first request was refused for another reason, and a second
// client may use the same jti.
func TestRequestObjectReplay(t *testing.T) {
	f := newSignedFixture(t)
	f.reg.clients["client2"].JWKS = jwksOf(t, "es")
	claims := f.requestClaims(nil)
	tok := signJWT(t, "es", claims, nil)
	form := url.Values{"client_id": {"client1"}, "request": {tok}}
	if r := f.post(t, pathBCAuthorize, form, f.certs["client1"]); r.status != http.StatusOK {
		t.Fatalf("first use: %d %s", r.status, r.raw)
	}
	wantError(t, f.post(t, pathBCAuthorize, form, f.certs["client1"]), http.StatusBadRequest, oauth.ErrInvalidRequest)
	if n := f.count(t); n != 1 {
		t.Fatalf("%d stored requests after a replay, want 1", n)
	}
	claims["iss"] = "client2"
	other := url.Values{"client_id": {"client2"}, "request": {signJWT(t, "es", claims, nil)}}
	if r := f.post(t, pathBCAuthorize, other, f.certs["client2"]); r.status != http.StatusOK {
		t.Fatalf("same jti from another client: %d %s", r.status, r.raw)
	}
}

// TestRequestObjectClockSkew: times within Config.ClockSkew are accepted.
func TestRequestObjectClockSkew(t *testing.T) {
	f := newSignedFixture(t)
	form := f.signedForm(t, "es", func(c map[string]any) {
		now := c["iat"].(int64)
		c["iat"], c["nbf"], c["exp"] = now+20, now+20, now+20+3600
	})
	if r := f.post(t, pathBCAuthorize, form, f.certs["client1"]); r.status != http.StatusOK {
		t.Fatalf("times 20 s ahead (skew 30 s): %d %s", r.status, r.raw)
	}
}
