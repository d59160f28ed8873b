package op

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

func approve(t testing.TB, f *fixture, id string) {
	t.Helper()
	if err := f.p.Decide(context.Background(), "user", id, authreq.Verdict{Approve: true, ACR: "urn:cibalab:acr:pwd", AMR: []string{"pwd"}}); err != nil {
		t.Fatal(err)
	}
}

// TestPollStates walks one request through CIBA Core 1.0 §10 and §11.
func TestPollStates(t *testing.T) {
	f := newFixture(t)
	id := f.start(t, nil)

	// The acknowledgement is not a poll: the first poll may come at once
	// (§7.3: the interval is the time between polling requests).
	wantError(t, f.poll(t, "client1", id), 400, oauth.ErrAuthorizationPending)
	f.clock.Advance(5 * time.Second)
	wantError(t, f.poll(t, "client1", id), 400, oauth.ErrAuthorizationPending)

	// Polling sooner than the interval: slow_down, and the interval grows
	// by 5 s for good (§11).
	f.clock.Advance(1 * time.Second)
	wantError(t, f.poll(t, "client1", id), 400, oauth.ErrSlowDown)
	f.clock.Advance(6 * time.Second)
	wantError(t, f.poll(t, "client1", id), 400, oauth.ErrSlowDown) // now needs 10 s, then 15 s
	f.clock.Advance(15 * time.Second)
	wantError(t, f.poll(t, "client1", id), 400, oauth.ErrAuthorizationPending)

	// Another client cannot redeem or probe it (invalid_grant, §11).
	f.clock.Advance(15 * time.Second)
	wantError(t, f.poll(t, "client2", id), 400, oauth.ErrInvalidGrant)

	approve(t, f, id)
	r := f.poll(t, "client1", id) // a decided request answers at once, whatever the interval
	if r.status != 200 || r.str("token_type") != "Bearer" || r.str("access_token") == "" || r.str("id_token") == "" {
		t.Fatalf("token response %d %s", r.status, r.raw)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Error("token response without Cache-Control: no-store")
	}
	// Once redeemed, the auth_req_id is no longer valid (§10.1.1).
	wantError(t, f.poll(t, "client1", id), 400, oauth.ErrInvalidGrant)
}

func TestTokenClaims(t *testing.T) {
	f := newFixture(t)
	id := f.start(t, nil)
	approve(t, f, id)
	r := f.poll(t, "client1", id)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	jwks := f.p.keys.jwks
	keyfunc := func(tok *jwt.Token) (any, error) {
		k, ok := jwks.Lookup(tok.Header["kid"].(string))
		if !ok {
			return nil, errors.New("unknown kid")
		}
		return k.PublicKey()
	}
	parse := func(raw, alg string) jwt.MapClaims {
		t.Helper()
		claims := jwt.MapClaims{}
		if _, err := jwt.ParseWithClaims(raw, claims, keyfunc, jwt.WithValidMethods([]string{alg}), jwt.WithTimeFunc(f.clock.Now)); err != nil {
			t.Fatalf("token does not verify with the JWKS: %v", err)
		}
		return claims
	}
	at := parse(r.str("access_token"), "ES256") // access tokens: ES256 by default
	wantX5t := pki.ThumbprintS256(f.certs["client1"])
	if cnf, _ := at["cnf"].(map[string]any); cnf["x5t#S256"] != wantX5t {
		t.Errorf("access token cnf = %v, want x5t#S256 %s (RFC 8705 §3.1)", at["cnf"], wantX5t)
	}
	if at["sub"] != "user" || at["client_id"] != "client1" || at["scope"] != "openid profile" || at["iss"] != issuer {
		t.Errorf("access token claims %v", at)
	}
	idt := parse(r.str("id_token"), "RS256") // the client registered no id_token_signed_response_alg
	if idt["aud"] != "client1" && !audContains(idt["aud"], "client1") {
		t.Errorf("id token aud %v", idt["aud"])
	}
	if idt[oauth.ClaimAuthReqID] != id || idt["sub"] != "user" || idt["iss"] != issuer || idt["acr"] != "urn:cibalab:acr:pwd" {
		t.Errorf("id token claims %v", idt)
	}
	if idt["at_hash"] != halfHash("RS256", r.str("access_token")) {
		t.Errorf("at_hash %v is wrong", idt["at_hash"])
	}
	if idt["at_hash"] == "" || len(idt["at_hash"].(string)) != 22 {
		t.Errorf("at_hash %v is not 128 bits of base64url", idt["at_hash"])
	}
}

func audContains(aud any, want string) bool {
	list, _ := aud.([]any)
	for _, a := range list {
		if a == want {
			return true
		}
	}
	return false
}

func TestTokenOutcomes(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, f *fixture) url.Values
		cert   string
		status int
		code   string
	}{
		{"denied", func(t *testing.T, f *fixture) url.Values {
			id := f.start(t, nil)
			if err := f.p.Decide(context.Background(), "user", id, authreq.Verdict{}); err != nil {
				t.Fatal(err)
			}
			return cibaForm("client1", id)
		}, "client1", 400, oauth.ErrAccessDenied},
		{"expired", func(t *testing.T, f *fixture) url.Values {
			id := f.start(t, url.Values{"requested_expiry": {"10"}})
			f.clock.Advance(10 * time.Second)
			return cibaForm("client1", id)
		}, "client1", 400, oauth.ErrExpiredToken},
		{"approved after expiry", func(t *testing.T, f *fixture) url.Values {
			id := f.start(t, url.Values{"requested_expiry": {"10"}})
			approve(t, f, id)
			f.clock.Advance(11 * time.Second)
			return cibaForm("client1", id)
		}, "client1", 400, oauth.ErrExpiredToken},
		{"unknown auth_req_id", func(*testing.T, *fixture) url.Values { return cibaForm("client1", "nope") }, "client1", 400, oauth.ErrInvalidGrant},
		{"missing auth_req_id", func(*testing.T, *fixture) url.Values { return cibaForm("client1", "") }, "client1", 400, oauth.ErrInvalidRequest},
		{"missing grant_type", func(*testing.T, *fixture) url.Values { return url.Values{"client_id": {"client1"}} }, "client1", 400, oauth.ErrInvalidRequest},
		{"unsupported grant_type", func(*testing.T, *fixture) url.Values {
			return url.Values{"client_id": {"client1"}, "grant_type": {"password"}}
		}, "client1", 400, oauth.ErrUnsupportedGrantType},
		{"no certificate", func(t *testing.T, f *fixture) url.Values { return cibaForm("client1", f.start(t, nil)) }, "", 401, oauth.ErrInvalidClient},
		{"client2 id with client1 certificate", func(t *testing.T, f *fixture) url.Values { return cibaForm("client2", f.start(t, nil)) }, "client1", 401, oauth.ErrInvalidClient},
		{"push client polls", func(*testing.T, *fixture) url.Values { return cibaForm("pusher", "x") }, "pusher", 400, oauth.ErrUnauthorizedClient},
		{"client without the grant", func(*testing.T, *fixture) url.Values { return cibaForm("nociba", "x") }, "nociba", 400, oauth.ErrUnauthorizedClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			form := tt.setup(t, f)
			wantError(t, f.post(t, pathToken, form, f.certs[tt.cert]), tt.status, tt.code)
		})
	}
}

func cibaForm(client, id string) url.Values {
	f := url.Values{"client_id": {client}, "grant_type": {oauth.GrantTypeCIBA}}
	if id != "" {
		f.Set("auth_req_id", id)
	}
	return f
}

// TestConcurrentRedeem: of many simultaneous polls on one approved request,
// exactly one gets tokens (CIBA Core 1.0 §10.1.1).
func TestConcurrentRedeem(t *testing.T) {
	f := newFixture(t)
	id := f.start(t, nil)
	approve(t, f, id)
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := f.poll(t, "client1", id)
			mu.Lock()
			counts[r.status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if counts[200] != 1 || counts[400] != 11 {
		t.Fatalf("statuses %v, want one 200 and eleven 400", counts)
	}
}

func TestDecide(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	id := f.start(t, nil)
	if err := f.p.Decide(ctx, "alice", id, authreq.Verdict{Approve: true}); !errors.Is(err, authreq.ErrNotYours) {
		t.Fatalf("another user's decision: %v", err)
	}
	if err := f.p.Decide(ctx, "user", "unknown", authreq.Verdict{Approve: true}); !errors.Is(err, authreq.ErrNotYours) {
		t.Fatalf("unknown request: %v", err)
	}
	f.clock.Advance(5 * time.Second)
	wantError(t, f.poll(t, "client1", id), 400, oauth.ErrAuthorizationPending) // alice's approval changed nothing

	if err := f.p.Decide(ctx, "user", id, authreq.Verdict{}); err != nil {
		t.Fatal(err)
	}
	if err := f.p.Decide(ctx, "user", id, authreq.Verdict{Approve: true}); !errors.Is(err, authreq.ErrNotPending) {
		t.Fatalf("second decision: %v", err)
	}
	wantError(t, f.poll(t, "client1", id), 400, oauth.ErrAccessDenied)

	late := f.start(t, url.Values{"requested_expiry": {"10"}})
	f.clock.Advance(10 * time.Second)
	if err := f.p.Decide(ctx, "user", late, authreq.Verdict{Approve: true}); !errors.Is(err, authreq.ErrNotPending) {
		t.Fatalf("decision after expiry: %v", err)
	}
}

func TestPendingListsOnlyLiveRequestsOfTheUser(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a := f.start(t, nil)
	f.start(t, url.Values{"login_hint": {"alice"}})
	short := f.start(t, url.Values{"requested_expiry": {"1"}})
	f.clock.Advance(2 * time.Second)
	got, err := f.p.Pending(ctx, "user")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].AuthReqID != a {
		t.Fatalf("pending = %+v (short=%s)", got, short)
	}
}
