package ciba_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/client/ciba"
	"github.com/cibalab/cibalab/client/internal/fakeop"
	"github.com/cibalab/cibalab/shared/oauth"
)

// TestIDTokenChecks covers the invalid-* and valid-* ID token tests of the
// FAPI-CIBA relying-party plan (checklist §9.2) and the CIBA bindings.
func TestIDTokenChecks(t *testing.T) {
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name    string
		idt     func(now time.Time) *fakeop.IDToken
		problem string // "" means the token is accepted
	}{
		{"valid", func(time.Time) *fakeop.IDToken { return &fakeop.IDToken{} }, ""},
		{"valid aud as array", func(time.Time) *fakeop.IDToken {
			return &fakeop.IDToken{Claims: map[string]any{"aud": []string{fakeop.DefaultClientID}}}
		}, ""},
		{"secondary aud with azp", func(time.Time) *fakeop.IDToken {
			return &fakeop.IDToken{Claims: map[string]any{"aud": []string{fakeop.DefaultClientID, "other"}, "azp": fakeop.DefaultClientID}}
		}, ""},
		{"no at_hash, no auth_req_id (poll)", func(time.Time) *fakeop.IDToken {
			return &fakeop.IDToken{Claims: map[string]any{"at_hash": nil, oauth.ClaimAuthReqID: nil}}
		}, ""},
		{"invalid iss", func(time.Time) *fakeop.IDToken {
			return &fakeop.IDToken{Claims: map[string]any{"iss": "https://attacker.example"}}
		}, "iss"},
		{"invalid missing iss", func(time.Time) *fakeop.IDToken { return &fakeop.IDToken{Claims: map[string]any{"iss": nil}} }, "no iss"},
		{"invalid aud", func(time.Time) *fakeop.IDToken { return &fakeop.IDToken{Claims: map[string]any{"aud": "someone-else"}} }, "aud"},
		{"invalid missing aud", func(time.Time) *fakeop.IDToken { return &fakeop.IDToken{Claims: map[string]any{"aud": nil}} }, "no aud"},
		{"invalid secondary aud", func(time.Time) *fakeop.IDToken {
			return &fakeop.IDToken{Claims: map[string]any{"aud": []string{fakeop.DefaultClientID, "untrusted"}}}
		}, "azp"},
		{"azp of another client", func(time.Time) *fakeop.IDToken {
			return &fakeop.IDToken{Claims: map[string]any{"azp": "other"}}
		}, "azp"},
		{"invalid signature", func(time.Time) *fakeop.IDToken { return &fakeop.IDToken{Key: other} }, "signature"},
		{"invalid null alg", func(time.Time) *fakeop.IDToken { return &fakeop.IDToken{Alg: "none"} }, `"none"`},
		{"invalid alternate alg HS256", func(time.Time) *fakeop.IDToken { return &fakeop.IDToken{Alg: "HS256"} }, "HS256"},
		{"invalid alternate alg RS256 with an EC key", func(time.Time) *fakeop.IDToken {
			return &fakeop.IDToken{Header: map[string]any{"alg": "RS256"}}
		}, "no RS256 key"},
		{"invalid alg ES384", func(time.Time) *fakeop.IDToken { return &fakeop.IDToken{Header: map[string]any{"alg": "ES384"}} }, "ES384"},
		{"invalid expired exp", func(now time.Time) *fakeop.IDToken {
			return &fakeop.IDToken{Claims: map[string]any{"exp": now.Add(-10 * time.Minute).Unix(), "iat": now.Add(-20 * time.Minute).Unix()}}
		}, "expired"},
		{"invalid missing exp", func(time.Time) *fakeop.IDToken { return &fakeop.IDToken{Claims: map[string]any{"exp": nil}} }, "no exp"},
		{"exp a string", func(time.Time) *fakeop.IDToken { return &fakeop.IDToken{Claims: map[string]any{"exp": "tomorrow"}} }, "exp is not a number"},
		{"invalid iat is week in past", func(now time.Time) *fakeop.IDToken {
			return &fakeop.IDToken{Claims: map[string]any{"iat": now.Add(-7 * 24 * time.Hour).Unix()}}
		}, "too long ago"},
		{"iat in the future", func(now time.Time) *fakeop.IDToken {
			return &fakeop.IDToken{Claims: map[string]any{"iat": now.Add(time.Hour).Unix()}}
		}, "future"},
		{"missing iat", func(time.Time) *fakeop.IDToken { return &fakeop.IDToken{Claims: map[string]any{"iat": nil}} }, "no iat"},
		{"nbf in the future", func(now time.Time) *fakeop.IDToken {
			return &fakeop.IDToken{Claims: map[string]any{"nbf": now.Add(time.Hour).Unix()}}
		}, "nbf"},
		{"missing sub", func(time.Time) *fakeop.IDToken { return &fakeop.IDToken{Claims: map[string]any{"sub": nil}} }, "sub"},
		{"auth_req_id of another request", func(time.Time) *fakeop.IDToken {
			return &fakeop.IDToken{Claims: map[string]any{oauth.ClaimAuthReqID: "another-request"}}
		}, "auth_req_id"},
		{"wrong at_hash", func(time.Time) *fakeop.IDToken {
			return &fakeop.IDToken{Claims: map[string]any{"at_hash": fakeop.HalfHash("another token")}}
		}, "at_hash"},
		{"unknown kid", func(time.Time) *fakeop.IDToken { return &fakeop.IDToken{Header: map[string]any{"kid": "nobody"}} }, `kid "nobody"`},
		{"crit header", func(time.Time) *fakeop.IDToken { return &fakeop.IDToken{Header: map[string]any{"crit": []string{"x"}}} }, "crit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var clock *fakeClock
			op, c, clock := setup(t, fakeop.Config{Token: func(int, fakeop.Request) fakeop.Reply {
				return fakeop.TokenReplyWith("at", "", tt.idt(clock.Now()))
			}})
			tok, err := c.Wait(context.Background(), start(t, c), nil)
			if tt.problem == "" {
				if err != nil {
					t.Fatalf("Wait: %v", err)
				}
				if tok.IDTokenClaims == nil || tok.IDTokenClaims.Subject != "user" || tok.IDTokenClaims.Issuer != op.Issuer {
					t.Errorf("claims %+v", tok.IDTokenClaims)
				}
				return
			}
			var ie *ciba.IDTokenError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v (%T), want *ciba.IDTokenError", err, err)
			}
			if !strings.Contains(ie.Problem, tt.problem) || strings.ContainsAny(ie.Error(), "\r\n") {
				t.Errorf("problem %q, want one line about %q", ie.Problem, tt.problem)
			}
			if n := len(op.Polls()); n != 1 {
				t.Errorf("%d polls, want 1: a rejected ID token ends the flow", n)
			}
		})
	}
}

func TestIDTokenRTHash(t *testing.T) {
	for _, tt := range []struct {
		name  string
		claim any
		ok    bool
	}{
		{"matching rt_hash", fakeop.HalfHash("rt-1"), true},
		{"no rt_hash (poll)", nil, true},
		{"wrong rt_hash", fakeop.HalfHash("rt-2"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			claims := map[string]any{oauth.ClaimRTHash: tt.claim}
			_, c, _ := setup(t, fakeop.Config{Token: script(fakeop.TokenReplyWith("at", "rt-1", &fakeop.IDToken{Claims: claims}))})
			tok, err := c.Wait(context.Background(), start(t, c), nil)
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && tok.RefreshToken != "rt-1" {
				t.Errorf("refresh token %q", tok.RefreshToken)
			}
		})
	}
}

func TestIDTokenMaxAgeIsConfigurable(t *testing.T) {
	var clock *fakeClock
	_, c, clock := setup(t, fakeop.Config{Token: func(int, fakeop.Request) fakeop.Reply {
		return fakeop.TokenReplyWith("at", "", &fakeop.IDToken{Claims: map[string]any{"iat": clock.Now().Add(-2 * time.Hour).Unix()}})
	}})
	c.IDTokenMaxAge = time.Hour
	var ie *ciba.IDTokenError
	if _, err := c.Wait(context.Background(), start(t, c), nil); !errors.As(err, &ie) {
		t.Fatalf("err = %v, want an ID token older than an hour refused", err)
	}
}

func TestIDTokenSkipIsExplicit(t *testing.T) {
	_, c, _ := setup(t, fakeop.Config{Token: script(fakeop.TokenReplyWith("at", "", &fakeop.IDToken{Alg: "none"}))})
	c.InsecureSkipIDTokenValidation = true
	tok, err := c.Wait(context.Background(), start(t, c), nil)
	if err != nil || tok.IDTokenClaims != nil {
		t.Fatalf("err = %v, claims %v", err, tok)
	}
	c.InsecureSkipIDTokenValidation = false
	c.Issuer = ""
	if _, err := c.Wait(context.Background(), start(t, c), nil); err == nil || !strings.Contains(err.Error(), "Issuer") {
		t.Fatalf("err = %v, want a refusal without an issuer", err)
	}
}

func TestKeySetRefetchesOnceOnUnknownKid(t *testing.T) {
	op, c, clock := setup(t, fakeop.Config{Token: func(int, fakeop.Request) fakeop.Reply { return fakeop.TokenReply("at") }})
	ks := ciba.NewKeySet(ciba.KeySetConfig{URL: op.Issuer + "/jwks", HTTPClient: c.HTTPClient, Now: clock.Now, MinRefreshInterval: time.Minute})
	v, err := ciba.NewIDTokenValidator(ciba.IDTokenConfig{Issuer: op.Issuer, ClientID: c.ClientID, Keys: ks, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	c.IDTokens = v
	mustWait := func(want int) {
		t.Helper()
		if _, err := c.Wait(context.Background(), start(t, c), nil); err != nil {
			t.Fatalf("Wait: %v", err)
		}
		if ks.Fetches() != want {
			t.Errorf("%d JWKS fetches, want %d", ks.Fetches(), want)
		}
	}
	mustWait(1)
	mustWait(1) // cached
	clock.Sleep(context.Background(), 2*time.Minute)
	op.RotateKey(t)
	mustWait(2) // unknown kid: fetched again, once
	op.RotateKey(t)
	var ie *ciba.IDTokenError
	if _, err := c.Wait(context.Background(), start(t, c), nil); !errors.As(err, &ie) || ks.Fetches() != 2 {
		t.Errorf("err = %v after %d fetches, want a refusal without a fetch within a minute of the last", err, ks.Fetches())
	}
	if n := len(op.Requests("/jwks")); n != 2 {
		t.Errorf("the OP saw %d JWKS requests, want 2", n)
	}
}

func TestValidatorRefusesUnsafeAlgorithms(t *testing.T) {
	for _, algs := range [][]string{{"none"}, {"HS256"}, {"RS256", "ES512"}} {
		if _, err := ciba.NewIDTokenValidator(ciba.IDTokenConfig{Issuer: "https://op", ClientID: "c", Keys: ciba.NewKeySet(ciba.KeySetConfig{}), Algorithms: algs}); err == nil {
			t.Errorf("algorithms %v accepted", algs)
		}
	}
}
