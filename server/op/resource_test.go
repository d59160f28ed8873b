package op

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

// userinfoReq builds a userinfo request with the access token in the
// Authorization header (GET) or the form (POST).
func userinfoReq(method, token string) *http.Request {
	if method == http.MethodPost {
		return newRequest(method, pathUserinfo, url.Values{"access_token": {token}}.Encode(), "application/x-www-form-urlencoded")
	}
	req := newRequest(method, pathUserinfo, "", "")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

// TestUserinfo covers the UserInfo endpoint (OpenID Connect Core 1.0 §5.3)
// with certificate-bound tokens (RFC 8705 §3): a token presented with
// another certificate, none, or after revocation is 401 invalid_token with
// a Bearer challenge (RFC 6750 §3.1).
func TestUserinfo(t *testing.T) {
	tests := []struct {
		name   string
		req    func(t *testing.T, f *fixture, at string) (*http.Request, string)
		status int
		code   string // "" on success or for a challenge without error
	}{
		{"GET with the bound certificate", func(t *testing.T, f *fixture, at string) (*http.Request, string) {
			return userinfoReq(http.MethodGet, at), "client1"
		}, 200, ""},
		{"POST with the token in the form", func(t *testing.T, f *fixture, at string) (*http.Request, string) {
			return userinfoReq(http.MethodPost, at), "client1"
		}, 200, ""},
		{"another client's certificate", func(t *testing.T, f *fixture, at string) (*http.Request, string) {
			return userinfoReq(http.MethodGet, at), "client2"
		}, 401, oauth.ErrInvalidToken},
		{"same client, another certificate", func(t *testing.T, f *fixture, at string) (*http.Request, string) {
			f.certs["client1b"] = issueCert(t, f.ca, "client1", "cibalab")
			return userinfoReq(http.MethodGet, at), "client1b"
		}, 401, oauth.ErrInvalidToken},
		{"no certificate", func(t *testing.T, f *fixture, at string) (*http.Request, string) {
			return userinfoReq(http.MethodGet, at), ""
		}, 401, oauth.ErrInvalidToken},
		{"no token", func(t *testing.T, f *fixture, at string) (*http.Request, string) {
			return userinfoReq(http.MethodGet, ""), "client1"
		}, 401, ""},
		{"malformed token", func(t *testing.T, f *fixture, at string) (*http.Request, string) {
			return userinfoReq(http.MethodGet, "not-a-token"), "client1"
		}, 401, oauth.ErrInvalidToken},
		{"tampered token", func(t *testing.T, f *fixture, at string) (*http.Request, string) {
			parts := strings.Split(at, ".")
			return userinfoReq(http.MethodGet, parts[0]+"."+parts[1]+"x."+parts[2]), "client1"
		}, 401, oauth.ErrInvalidToken},
		{"ID token instead of an access token", func(t *testing.T, f *fixture, at string) (*http.Request, string) {
			return userinfoReq(http.MethodGet, f.tokensFor(t, "client1", nil).str("id_token")), "client1"
		}, 401, oauth.ErrInvalidToken},
		{"expired token", func(t *testing.T, f *fixture, at string) (*http.Request, string) {
			f.clock.Advance(f.p.cfg.AccessTokenTTL)
			return userinfoReq(http.MethodGet, at), "client1"
		}, 401, oauth.ErrInvalidToken},
		{"revoked token", func(t *testing.T, f *fixture, at string) (*http.Request, string) {
			if r := f.post(t, pathRevoke, url.Values{"client_id": {"client1"}, "token": {at}}, f.certs["client1"]); r.status != 200 {
				t.Fatalf("revoke: %d %s", r.status, r.raw)
			}
			return userinfoReq(http.MethodGet, at), "client1"
		}, 401, oauth.ErrInvalidToken},
		{"Basic instead of Bearer", func(t *testing.T, f *fixture, at string) (*http.Request, string) {
			req := userinfoReq(http.MethodGet, "")
			req.Header.Set("Authorization", "Basic "+at)
			return req, "client1"
		}, 401, oauth.ErrInvalidToken},
		{"token in the header and the form", func(t *testing.T, f *fixture, at string) (*http.Request, string) {
			req := userinfoReq(http.MethodPost, at)
			req.Header.Set("Authorization", "Bearer "+at)
			return req, "client1"
		}, 400, oauth.ErrInvalidRequest},
		{"token without the openid scope", func(t *testing.T, f *fixture, at string) (*http.Request, string) {
			// Narrowed on refresh to profile alone (OpenID Connect Core 1.0 §5.3).
			f.allowRefresh("client1")
			rt := f.tokensFor(t, "client1", nil).str("refresh_token")
			r := f.refresh(t, "client1", "client1", rt, url.Values{"scope": {"profile"}})
			if r.status != 200 || r.str("scope") != "profile" {
				t.Fatalf("refresh: %d %s", r.status, r.raw)
			}
			return userinfoReq(http.MethodGet, r.str("access_token")), "client1"
		}, 403, errInsufficientScope},
		{"PUT", func(t *testing.T, f *fixture, at string) (*http.Request, string) {
			req := userinfoReq(http.MethodGet, at)
			req.Method = http.MethodPut
			return req, "client1"
		}, 405, oauth.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.reg.users["user"] = &registry.User{ID: "user", Name: "Ursula User", Email: "user@example.com"}
			at := f.tokensFor(t, "client1", nil).str("access_token") // scope openid profile
			req, cert := tt.req(t, f, at)
			r := f.do(t, req, f.certs[cert])
			if r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
			}
			if tt.status == 200 {
				if r.status != 200 || r.str("sub") != "user" || r.str("name") != "Ursula User" || r.body["email"] != nil {
					t.Fatalf("%d %s; want sub and name (profile), no email", r.status, r.raw)
				}
				return
			}
			challenge := r.header.Get("WWW-Authenticate")
			switch {
			case tt.code == "":
				if r.status != tt.status || !strings.HasPrefix(challenge, `Bearer realm="`) || strings.Contains(challenge, "error=") {
					t.Fatalf("%d, challenge %q; want %d and a challenge without error (RFC 6750 §3.1)", r.status, challenge, tt.status)
				}
			case tt.status == 401 || tt.status == 403:
				wantError(t, r, tt.status, tt.code)
				if !strings.HasPrefix(challenge, "Bearer ") || !strings.Contains(challenge, `error="`+tt.code+`"`) {
					t.Fatalf("challenge %q", challenge)
				}
			default:
				wantError(t, r, tt.status, tt.code)
			}
		})
	}
}

func TestUserinfoEmailScope(t *testing.T) {
	f := newFixture(t)
	f.reg.users["user"] = &registry.User{ID: "user", Name: "Ursula User", Email: "user@example.com"}
	at := f.tokensFor(t, "client1", url.Values{"scope": {"openid email"}}).str("access_token")
	r := f.do(t, userinfoReq(http.MethodGet, at), f.certs["client1"])
	if r.status != 200 || r.str("email") != "user@example.com" || r.body["name"] != nil || len(r.body) != 2 {
		t.Fatalf("%d %s; want sub and email only", r.status, r.raw)
	}
}

func introspectForm(client, token string) url.Values {
	return url.Values{"client_id": {client}, "token": {token}}
}

// TestIntrospection covers RFC 7662 with the cnf member of RFC 8705 §3.2.
func TestIntrospection(t *testing.T) {
	f := newFixture(t)
	f.allowRefresh("client1")
	r := f.tokensFor(t, "client1", nil)
	at, rt := r.str("access_token"), r.str("refresh_token")
	x5t := pki.ThumbprintS256(f.certs["client1"])

	got := f.post(t, pathIntrospect, introspectForm("client1", at), f.certs["client1"])
	if got.status != 200 || got.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %s", got.status, got.raw)
	}
	cnf, _ := got.body["cnf"].(map[string]any)
	if got.body["active"] != true || got.str("scope") != "openid profile" || got.str("client_id") != "client1" ||
		got.str("sub") != "user" || got.str("token_type") != "Bearer" || got.body["exp"] == nil || got.body["iat"] == nil ||
		cnf["x5t#S256"] != x5t {
		t.Fatalf("access token introspection %s", got.raw)
	}
	got = f.post(t, pathIntrospect, introspectForm("client1", rt), f.certs["client1"])
	cnf, _ = got.body["cnf"].(map[string]any)
	if got.body["active"] != true || got.str("client_id") != "client1" || got.str("sub") != "user" || cnf["x5t#S256"] != x5t {
		t.Fatalf("refresh token introspection %s", got.raw)
	}

	inactive := []struct {
		name, client, token string
		setup               func()
	}{
		{"another client's access token", "client2", at, nil},
		{"another client's refresh token", "client2", rt, nil},
		{"unknown opaque token", "client1", "nope", nil},
		{"malformed JWT", "client1", "a.b.c", nil},
		{"expired access token", "client1", at, func() { f.clock.Advance(f.p.cfg.AccessTokenTTL) }},
		{"expired refresh token", "client1", rt, func() { f.clock.Advance(f.p.cfg.RefreshTokenTTL) }},
	}
	for _, tt := range inactive {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
			}
			got := f.post(t, pathIntrospect, introspectForm(tt.client, tt.token), f.certs[tt.client])
			if got.status != 200 || got.raw != "{\"active\":false}\n" {
				t.Fatalf("%d %s; want exactly {\"active\":false}", got.status, got.raw)
			}
		})
	}
	t.Run("missing token", func(t *testing.T) {
		wantError(t, f.post(t, pathIntrospect, url.Values{"client_id": {"client1"}}, f.certs["client1"]), 400, oauth.ErrInvalidRequest)
	})
	t.Run("no certificate", func(t *testing.T) {
		wantError(t, f.post(t, pathIntrospect, introspectForm("client1", at), nil), 401, oauth.ErrInvalidClient)
	})
	t.Run("GET", func(t *testing.T) {
		wantError(t, f.do(t, newRequest(http.MethodGet, pathIntrospect, "", ""), f.certs["client1"]), 405, oauth.ErrInvalidRequest)
	})
}

// TestRevocation covers RFC 7009: 200 for anything a client sends, its own
// tokens revoked, another client's left untouched.
func TestRevocation(t *testing.T) {
	type tokens struct{ at, rt string }
	active := func(t *testing.T, f *fixture, tok string) bool {
		t.Helper()
		info, err := f.p.lookupToken(context.Background(), "client1", tok)
		if err != nil {
			t.Fatal(err)
		}
		return info.Active
	}
	tests := []struct {
		name           string
		token          func(tokens) (string, string)
		status         int
		code           string
		atLive, rtLive bool
	}{
		{"refresh token: its family and access tokens go", func(k tokens) (string, string) { return "client1", k.rt }, 200, "", false, false},
		{"access token: only it goes", func(k tokens) (string, string) { return "client1", k.at }, 200, "", false, true},
		{"another client's refresh token: untouched", func(k tokens) (string, string) { return "client2", k.rt }, 200, "", true, true},
		{"another client's access token: untouched", func(k tokens) (string, string) { return "client2", k.at }, 200, "", true, true},
		{"unknown token", func(tokens) (string, string) { return "client1", "nope" }, 200, "", true, true},
		{"unknown JWT", func(tokens) (string, string) { return "client1", "a.b.c" }, 200, "", true, true},
		{"missing token", func(tokens) (string, string) { return "client1", "" }, 400, oauth.ErrInvalidRequest, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.allowRefresh("client1", "client2")
			r := f.tokensFor(t, "client1", nil)
			k := tokens{r.str("access_token"), r.str("refresh_token")}
			client, tok := tt.token(k)
			form := url.Values{"client_id": {client}}
			if tok != "" {
				form.Set("token", tok)
			}
			got := f.post(t, pathRevoke, form, f.certs[client])
			if tt.code != "" {
				wantError(t, got, tt.status, tt.code)
			} else if got.status != tt.status || got.raw != "" {
				t.Fatalf("%d %q; want %d and an empty body", got.status, got.raw, tt.status)
			}
			if active(t, f, k.at) != tt.atLive || active(t, f, k.rt) != tt.rtLive {
				t.Fatalf("access token active %v, refresh token active %v; want %v, %v",
					active(t, f, k.at), active(t, f, k.rt), tt.atLive, tt.rtLive)
			}
			if tt.rtLive {
				f.clock.Advance(time.Second)
				if r := f.refresh(t, "client1", "client1", k.rt, nil); r.status != 200 {
					t.Fatalf("refresh after the revocation request: %d %s", r.status, r.raw)
				}
			}
		})
	}
	t.Run("no certificate", func(t *testing.T) {
		f := newFixture(t)
		wantError(t, f.post(t, pathRevoke, url.Values{"client_id": {"client1"}, "token": {"x"}}, nil), 401, oauth.ErrInvalidClient)
	})
}
