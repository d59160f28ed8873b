package op

import (
	"context"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

// allowRefresh registers the refresh_token grant for the given clients.
func (f *fixture) allowRefresh(clients ...string) {
	for _, id := range clients {
		c := f.reg.clients[id]
		c.GrantTypes = append(c.GrantTypes, oauth.GrantTypeRefreshToken)
	}
}

// tokensFor runs an approved poll flow for client and returns the token
// response.
func (f *fixture) tokensFor(t testing.TB, client string, extra url.Values) response {
	t.Helper()
	id := f.startAs(t, client, extra)
	f.decide(t, id, true)
	r := f.poll(t, client, id)
	if r.status != 200 {
		t.Fatalf("token response %d %s", r.status, r.raw)
	}
	return r
}

func refreshForm(client, rt string) url.Values {
	return url.Values{"client_id": {client}, "grant_type": {oauth.GrantTypeRefreshToken}, "refresh_token": {rt}}
}

func (f *fixture) refresh(t testing.TB, client, cert, rt string, extra url.Values) response {
	t.Helper()
	form := refreshForm(client, rt)
	for k, v := range extra {
		form[k] = v
	}
	return f.post(t, pathToken, form, f.certs[cert])
}

// TestRefreshTokenIssued: a refresh token comes with the CIBA grant only
// for clients registered for the refresh_token grant; it is opaque, 256
// bits of base64url (RFC 6749 Appendix A.17), and stored only hashed.
func TestRefreshTokenIssued(t *testing.T) {
	f := newFixture(t)
	f.allowRefresh("client1")
	r := f.tokensFor(t, "client1", nil)
	rt := r.str("refresh_token")
	if len(rt) != 43 || looksLikeJWT(rt) {
		t.Fatalf("refresh token %q is not 256 bits of base64url", rt)
	}
	if _, err := f.p.cfg.Tokens.GetToken(context.Background(), rt); err == nil {
		t.Fatal("the refresh token is stored in the clear")
	}
	tok, err := f.p.cfg.Tokens.GetToken(context.Background(), tokenHash(rt))
	if err != nil || tok.CertThumbprint != pki.ThumbprintS256(f.certs["client1"]) || tok.ClientID != "client1" {
		t.Fatalf("stored %+v, %v", tok, err)
	}
	idt, _ := f.verifyJWT(t, r.str("id_token"), "RS256")
	if idt[oauth.ClaimRTHash] != halfHash("RS256", rt) {
		t.Errorf("rt_hash %v", idt[oauth.ClaimRTHash])
	}
	if r2 := f.tokensFor(t, "client2", nil); r2.str("refresh_token") != "" {
		t.Fatal("a refresh token for a client without the refresh_token grant")
	}
}

// TestRefresh covers the refresh_token grant (RFC 6749 §6, RFC 8705 §3,
// §7.1): rotation, single use with family revocation on replay, binding to
// the client and its certificate, scope narrowing. Every refusal leaves
// the presented token usable unless the refusal is the replay itself.
func TestRefresh(t *testing.T) {
	tests := []struct {
		name   string
		run    func(t *testing.T, f *fixture, rt string) response
		status int
		code   string
		// stillUsable: after the refusal, the owner can still refresh rt.
		stillUsable bool
	}{
		{"another client's refresh token", func(t *testing.T, f *fixture, rt string) response {
			return f.refresh(t, "client2", "client2", rt, nil)
		}, 400, oauth.ErrInvalidGrant, true},
		{"same client, another certificate", func(t *testing.T, f *fixture, rt string) response {
			f.certs["client1b"] = issueCert(t, f.ca, "client1", "cibalab")
			return f.refresh(t, "client1", "client1b", rt, nil)
		}, 400, oauth.ErrInvalidGrant, true},
		{"no certificate", func(t *testing.T, f *fixture, rt string) response {
			return f.refresh(t, "client1", "", rt, nil)
		}, 401, oauth.ErrInvalidClient, true},
		{"client without the refresh_token grant", func(t *testing.T, f *fixture, rt string) response {
			return f.refresh(t, "pinger", "pinger", rt, nil)
		}, 400, oauth.ErrUnauthorizedClient, true},
		{"missing refresh_token", func(t *testing.T, f *fixture, rt string) response {
			return f.post(t, pathToken, url.Values{"client_id": {"client1"}, "grant_type": {oauth.GrantTypeRefreshToken}}, f.certs["client1"])
		}, 400, oauth.ErrInvalidRequest, true},
		{"unknown refresh_token", func(t *testing.T, f *fixture, rt string) response {
			return f.refresh(t, "client1", "client1", rt+"x", nil)
		}, 400, oauth.ErrInvalidGrant, true},
		{"wider scope", func(t *testing.T, f *fixture, rt string) response {
			return f.refresh(t, "client1", "client1", rt, url.Values{"scope": {"openid email"}})
		}, 400, oauth.ErrInvalidScope, true},
		{"empty scope", func(t *testing.T, f *fixture, rt string) response {
			return f.refresh(t, "client1", "client1", rt, url.Values{"scope": {" "}})
		}, 400, oauth.ErrInvalidScope, true},
		{"expired", func(t *testing.T, f *fixture, rt string) response {
			f.clock.Advance(24 * time.Hour)
			return f.refresh(t, "client1", "client1", rt, nil)
		}, 400, oauth.ErrInvalidGrant, false},
		{"revoked", func(t *testing.T, f *fixture, rt string) response {
			if r := f.post(t, pathRevoke, url.Values{"client_id": {"client1"}, "token": {rt}}, f.certs["client1"]); r.status != 200 {
				t.Fatalf("revoke: %d %s", r.status, r.raw)
			}
			return f.refresh(t, "client1", "client1", rt, nil)
		}, 400, oauth.ErrInvalidGrant, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.withNotifications(t, newNotifyEndpoint(t, nil), nil)
			f.allowRefresh("client1", "client2")
			rt := f.tokensFor(t, "client1", nil).str("refresh_token")
			wantError(t, tt.run(t, f, rt), tt.status, tt.code)
			if tt.stillUsable {
				if r := f.refresh(t, "client1", "client1", rt, nil); r.status != 200 {
					t.Fatalf("the refusal changed the token: %d %s", r.status, r.raw)
				}
			}
		})
	}
}

// TestRefreshRotation: a refresh gives a new access token bound to this
// connection's certificate, a new refresh token of the same family and
// scope, and an ID token with the original authentication; the old
// refresh token is spent, and presenting it again revokes the family,
// including the access tokens issued with it.
func TestRefreshRotation(t *testing.T) {
	f := newFixture(t)
	f.allowRefresh("client1")
	first := f.tokensFor(t, "client1", url.Values{"scope": {"openid profile email"}})
	rt1 := first.str("refresh_token")

	f.clock.Advance(time.Minute)
	second := f.refresh(t, "client1", "client1", rt1, url.Values{"scope": {"openid profile"}})
	if second.status != 200 || second.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("refresh: %d %s", second.status, second.raw)
	}
	rt2 := second.str("refresh_token")
	if rt2 == "" || rt2 == rt1 {
		t.Fatal("the refresh token was not rotated")
	}
	at, _ := f.verifyJWT(t, second.str("access_token"), "ES256")
	if cnf, _ := at["cnf"].(map[string]any); cnf["x5t#S256"] != pki.ThumbprintS256(f.certs["client1"]) {
		t.Errorf("cnf %v", at["cnf"])
	}
	if at["scope"] != "openid profile" || second.str("scope") != "openid profile" {
		t.Errorf("narrowed scope: token %v, response %q", at["scope"], second.str("scope"))
	}
	idt, _ := f.verifyJWT(t, second.str("id_token"), "RS256")
	firstIDT, _ := f.verifyJWT(t, first.str("id_token"), "RS256")
	if idt["auth_time"] != firstIDT["auth_time"] || idt["sub"] != "user" || idt["iat"] == firstIDT["iat"] {
		t.Errorf("refreshed ID token %v (OpenID Connect Core 1.0 §12.2)", idt)
	}
	if idt["at_hash"] != halfHash("RS256", second.str("access_token")) || idt[oauth.ClaimRTHash] != halfHash("RS256", rt2) {
		t.Errorf("hashes of the refreshed ID token: %v", idt)
	}
	if idt[oauth.ClaimAuthReqID] != nil {
		t.Errorf("auth_req_id claim on a refreshed ID token")
	}
	// The new refresh token keeps the family's full scope (RFC 6749 §6).
	third := f.refresh(t, "client1", "client1", rt2, url.Values{"scope": {"openid email"}})
	if third.status != 200 {
		t.Fatalf("refresh with the rotated token: %d %s", third.status, third.raw)
	}
	rt3 := third.str("refresh_token")

	// Replay of a spent token: refused, and the family is revoked.
	wantError(t, f.refresh(t, "client1", "client1", rt1, nil), 400, oauth.ErrInvalidGrant)
	wantError(t, f.refresh(t, "client1", "client1", rt3, nil), 400, oauth.ErrInvalidGrant)
	for _, tok := range []string{third.str("access_token"), rt3} {
		if info, _ := f.p.lookupToken(context.Background(), "client1", tok); info.Active {
			t.Errorf("token of a replayed family still active")
		}
	}
}

// TestConcurrentRefresh: of simultaneous refreshes with one token, at most
// one succeeds; the others are replays, which revoke the family, so
// nothing issued survives, whether the winner's tokens were stored before
// or after the revocation (OAuth 2.0 Security BCP §4.14.2).
func TestConcurrentRefresh(t *testing.T) {
	f := newFixture(t)
	f.allowRefresh("client1")
	rt := f.tokensFor(t, "client1", nil).str("refresh_token")
	var mu sync.Mutex
	counts := map[int]int{}
	var won []response
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := f.refresh(t, "client1", "client1", rt, nil)
			mu.Lock()
			counts[r.status]++
			if r.status == 200 {
				won = append(won, r)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if counts[200] > 1 || counts[200]+counts[400] != 10 {
		t.Fatalf("statuses %v, want at most one 200 and the rest 400", counts)
	}
	for _, r := range won {
		for _, tok := range []string{r.str("access_token"), r.str("refresh_token")} {
			if info, err := f.p.lookupToken(context.Background(), "client1", tok); err != nil || info.Active {
				t.Errorf("a token issued during the replays is still active (%v)", err)
			}
		}
	}
}

// TestIDTokenAlgorithms: the ID token is signed with the client's
// id_token_signed_response_alg (RS256 by default), carries a kid found in
// the JWKS, and at_hash uses the algorithm's hash.
func TestIDTokenAlgorithms(t *testing.T) {
	for _, alg := range []string{"", "RS256", "PS256", "ES256"} {
		t.Run("alg "+alg, func(t *testing.T) {
			f := newFixture(t)
			f.reg.clients["client1"].IDTokenSignedResponseAlg = alg
			r := f.tokensFor(t, "client1", nil)
			want := alg
			if want == "" {
				want = "RS256"
			}
			claims, hdr := f.verifyJWT(t, r.str("id_token"), want)
			if hdr["alg"] != want || hdr["kid"] == "" {
				t.Errorf("header %v", hdr)
			}
			if claims["at_hash"] != halfHash(want, r.str("access_token")) {
				t.Errorf("at_hash %v", claims["at_hash"])
			}
		})
	}
	t.Run("an algorithm the OP cannot sign with spends nothing", func(t *testing.T) {
		f := newFixture(t)
		f.reg.clients["client1"].IDTokenSignedResponseAlg = "HS256"
		id := f.start(t, nil)
		approve(t, f, id)
		wantError(t, f.poll(t, "client1", id), 500, oauth.ErrServerError)
		f.reg.clients["client1"].IDTokenSignedResponseAlg = ""
		if r := f.poll(t, "client1", id); r.status != 200 {
			t.Fatalf("the request was spent: %d %s", r.status, r.raw)
		}
	})
}

func TestHalfHash(t *testing.T) {
	// The example of OpenID Connect Core 1.0 Appendix A.3/A.4 uses this
	// access token with RS256.
	const at = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
	if got := halfHash("RS256", at); got != "77QmUPtjPfzWtF2AnpK9RQ" {
		t.Errorf("at_hash = %s", got)
	}
	if len(halfHash("PS384", at)) != 32 || len(halfHash("ES512", at)) != 43 {
		t.Error("the hash does not follow the algorithm")
	}
}
