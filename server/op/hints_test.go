package op

import (
	"crypto"
	"net/http"
	"net/url"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cibalab/cibalab/shared/oauth"
)

// hintClaims are the claims of a valid login_hint_token of client1 naming
// user, changed by mod.
func (f *fixture) hintClaims(mod func(c map[string]any)) map[string]any {
	now := f.clock.Now().Unix()
	c := map[string]any{"iss": "client1", "aud": issuer, "exp": now + 300, "iat": now, "sub": "user"}
	if mod != nil {
		mod(c)
	}
	return c
}

// idToken signs an ID token with the OP's key of alg, as the token
// endpoint would; header entries override the defaults.
func (f *fixture) idToken(t testing.TB, alg string, claims map[string]any, header map[string]any) string {
	t.Helper()
	var key crypto.Signer = f.rsKey
	if alg == "ES256" {
		key = f.esKey
	}
	k, ok := f.p.keys.byAlg[alg]
	if !ok {
		t.Fatalf("the OP has no %s key", alg)
	}
	kid := k.kid
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(alg), jwt.MapClaims(claims))
	tok.Header["kid"] = kid
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fixture) idTokenClaims(mod func(c map[string]any)) map[string]any {
	now := f.clock.Now().Unix()
	c := map[string]any{"iss": issuer, "aud": "client1", "sub": "alice", "iat": now - 600, "exp": now + 600}
	if mod != nil {
		mod(c)
	}
	return c
}

// TestHints covers login_hint_token and id_token_hint (CIBA Core 1.0 §7.1,
// §7.2 steps 4 and 5, §13; docs/login-hint-token.md): each valid hint
// names its user; each invalid one answers with the spec's code and stores
// nothing.
func TestHints(t *testing.T) {
	const day = 86400
	type hint struct{ param, value string }
	lht := func(key string, mod func(c map[string]any)) func(t *testing.T, f *fixture) hint {
		return func(t *testing.T, f *fixture) hint {
			return hint{"login_hint_token", signJWT(t, key, f.hintClaims(mod), nil)}
		}
	}
	idt := func(alg string, mod func(c map[string]any)) func(t *testing.T, f *fixture) hint {
		return func(t *testing.T, f *fixture) hint {
			return hint{"id_token_hint", f.idToken(t, alg, f.idTokenClaims(mod), nil)}
		}
	}
	raw := func(param, value string) func(t *testing.T, f *fixture) hint {
		return func(t *testing.T, f *fixture) hint { return hint{param, value} }
	}
	tests := []struct {
		name     string
		hint     func(t *testing.T, f *fixture) hint
		wantUser string // on success
		status   int
		code     string
	}{
		{"login_hint_token with sub", lht("es", nil), "user", 200, ""},
		{"login_hint_token signed PS256", lht("ps", nil), "user", 200, ""},
		{"login_hint_token with sub_id username", lht("es", func(c map[string]any) {
			delete(c, "sub")
			c["sub_id"] = map[string]any{"format": "username", "username": "alice"}
		}), "alice", 200, ""},
		{"login_hint_token with sub_id opaque", lht("es", func(c map[string]any) {
			delete(c, "sub")
			c["sub_id"] = map[string]any{"format": "opaque", "id": "alice"}
		}), "alice", 200, ""},
		{"login_hint_token with aud as an array", lht("es", func(c map[string]any) { c["aud"] = []string{issuer} }), "user", 200, ""},
		{"login_hint_token expired", lht("es", func(c map[string]any) { c["exp"] = c["iat"].(int64) - 120 }), "", 400, oauth.ErrExpiredLoginHintToken},
		{"login_hint_token expired within the skew", lht("es", func(c map[string]any) { c["exp"] = c["iat"].(int64) - 10 }), "user", 200, ""},
		{"login_hint_token expired and badly signed", lht("other", func(c map[string]any) { c["exp"] = c["iat"].(int64) - 120 }), "", 400, oauth.ErrInvalidRequest},
		{"login_hint_token without exp", lht("es", func(c map[string]any) { delete(c, "exp") }), "", 400, oauth.ErrInvalidRequest},
		{"login_hint_token signed by another client", lht("other", nil), "", 400, oauth.ErrInvalidRequest},
		{"login_hint_token signed RS256", lht("rs", nil), "", 400, oauth.ErrInvalidRequest},
		{"login_hint_token unsigned", func(t *testing.T, f *fixture) hint {
			return hint{"login_hint_token", unsignedJWT(t, f.hintClaims(nil))}
		}, "", 400, oauth.ErrInvalidRequest},
		{"login_hint_token HS256", func(t *testing.T, f *fixture) hint {
			return hint{"login_hint_token", hmacJWT(t, f.hintClaims(nil), []byte("client1"))}
		}, "", 400, oauth.ErrInvalidRequest},
		{"login_hint_token of another issuer", lht("es", func(c map[string]any) { c["iss"] = "client2" }), "", 400, oauth.ErrInvalidRequest},
		{"login_hint_token for another OP", lht("es", func(c map[string]any) { c["aud"] = "https://other.example" }), "", 400, oauth.ErrInvalidRequest},
		{"login_hint_token not yet valid", lht("es", func(c map[string]any) { c["nbf"] = c["iat"].(int64) + 600 }), "", 400, oauth.ErrInvalidRequest},
		{"login_hint_token unknown user", lht("es", func(c map[string]any) { c["sub"] = "mallory" }), "", 400, oauth.ErrUnknownUserID},
		{"login_hint_token empty sub", lht("es", func(c map[string]any) { c["sub"] = "" }), "", 400, oauth.ErrUnknownUserID},
		{"login_hint_token sub and sub_id", lht("es", func(c map[string]any) {
			c["sub_id"] = map[string]any{"format": "username", "username": "alice"}
		}), "", 400, oauth.ErrInvalidRequest},
		{"login_hint_token sub_id email", lht("es", func(c map[string]any) {
			delete(c, "sub")
			c["sub_id"] = map[string]any{"format": "email", "email": "a@example.org"}
		}), "", 400, oauth.ErrInvalidRequest},
		{"login_hint_token sub_id without its member", lht("es", func(c map[string]any) {
			delete(c, "sub")
			c["sub_id"] = map[string]any{"format": "username"}
		}), "", 400, oauth.ErrInvalidRequest},
		{"login_hint_token without subject", lht("es", func(c map[string]any) { delete(c, "sub") }), "", 400, oauth.ErrInvalidRequest},
		{"login_hint_token sub a number", lht("es", func(c map[string]any) { c["sub"] = 5 }), "", 400, oauth.ErrInvalidRequest},
		{"login_hint_token not a JWT", raw("login_hint_token", "user"), "", 400, oauth.ErrInvalidRequest},
		{"login_hint_token empty", raw("login_hint_token", ""), "", 400, oauth.ErrInvalidRequest},

		{"id_token_hint RS256", idt("RS256", nil), "alice", 200, ""},
		{"id_token_hint ES256", idt("ES256", nil), "alice", 200, ""},
		{"id_token_hint PS256", idt("PS256", nil), "alice", 200, ""},
		{"id_token_hint expired a day ago", idt("RS256", func(c map[string]any) { c["exp"] = c["iat"].(int64) - day }), "alice", 200, ""},
		{"id_token_hint with aud as an array", idt("RS256", func(c map[string]any) { c["aud"] = []string{"client2", "client1"} }), "alice", 200, ""},
		{"id_token_hint issued to another client", idt("RS256", func(c map[string]any) { c["aud"] = "client2" }), "", 400, oauth.ErrInvalidRequest},
		{"id_token_hint of another issuer", idt("RS256", func(c map[string]any) { c["iss"] = "https://other.example" }), "", 400, oauth.ErrInvalidRequest},
		{"id_token_hint without sub", idt("RS256", func(c map[string]any) { delete(c, "sub") }), "", 400, oauth.ErrInvalidRequest},
		{"id_token_hint unknown user", idt("RS256", func(c map[string]any) { c["sub"] = "mallory" }), "", 400, oauth.ErrUnknownUserID},
		{"id_token_hint signed by a client", func(t *testing.T, f *fixture) hint {
			return hint{"id_token_hint", signJWT(t, "es", f.idTokenClaims(nil), nil)}
		}, "", 400, oauth.ErrInvalidRequest},
		{"id_token_hint that is an access token", func(t *testing.T, f *fixture) hint {
			return hint{"id_token_hint", f.idToken(t, "RS256", f.idTokenClaims(nil), map[string]any{"typ": "at+jwt"})}
		}, "", 400, oauth.ErrInvalidRequest},
		{"id_token_hint unsigned", func(t *testing.T, f *fixture) hint {
			return hint{"id_token_hint", unsignedJWT(t, f.idTokenClaims(nil))}
		}, "", 400, oauth.ErrInvalidRequest},
		{"id_token_hint garbage", raw("id_token_hint", "x.y.z"), "", 400, oauth.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.reg.clients["client1"].JWKS = jwksOf(t, "es", "ps")
			h := tt.hint(t, f)
			form := with(func(v url.Values) {
				v.Del("login_hint")
				v.Set(h.param, h.value)
			})
			r := f.post(t, pathBCAuthorize, form, f.certs["client1"])
			if tt.status == http.StatusOK {
				if r.status != http.StatusOK {
					t.Fatalf("status %d: %s", r.status, r.raw)
				}
				if len(f.ann.reqs) != 1 || f.ann.reqs[0].User != tt.wantUser {
					t.Fatalf("announced %+v, want user %s", f.ann.reqs, tt.wantUser)
				}
				return
			}
			wantError(t, r, tt.status, tt.code)
			if n := f.count(t); n != 0 || len(f.ann.reqs) != 0 {
				t.Fatal("a rejected request was stored or announced")
			}
		})
	}
}

// TestLoginHintTokenNeedsClientKeys: a client without registered keys
// cannot use login_hint_token.
func TestLoginHintTokenNeedsClientKeys(t *testing.T) {
	f := newFixture(t)
	form := with(func(v url.Values) {
		v.Del("login_hint")
		v.Set("login_hint_token", signJWT(t, "es", f.hintClaims(nil), nil))
	})
	wantError(t, f.post(t, pathBCAuthorize, form, f.certs["client1"]), 400, oauth.ErrInvalidRequest)
}
