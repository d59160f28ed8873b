package optest_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/optest"
	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/oauth"
)

// TestDecideFromTheTest: WaitPending shows what the device shows, and
// Approve or Deny through the device gives the client tokens or
// access_denied.
func TestDecideFromTheTest(t *testing.T) {
	tests := []struct {
		name  string
		act   func(s *optest.Server, ctx context.Context, id string) error
		check func(t testing.TB, r reply)
	}{
		{"approve", (*optest.Server).Approve, wantTokens},
		{"deny", (*optest.Server).Deny, func(t testing.TB, r reply) { wantError(t, r, http.StatusBadRequest, oauth.ErrAccessDenied) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := optest.NewServer(t)
			ctx := testContext(t)
			id := startCIBA(t, s, optest.DefaultClientID, optest.DefaultUser, "Order 42")
			p, err := s.WaitPending(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if p.AuthReqID != id || p.ClientID != optest.DefaultClientID || p.User != optest.DefaultUser ||
				!slices.Equal(p.Scope, []string{"openid", "profile"}) || p.BindingMessage != "Order 42" {
				t.Fatalf("pending %+v", p)
			}
			if left := p.ExpiresAt.Sub(s.Now()); left < 100*time.Second || left > 121*time.Second {
				t.Fatalf("expires in %v, want about the default 120 s", left)
			}
			if err := tt.act(s, ctx, id); err != nil {
				t.Fatal(err)
			}
			tt.check(t, poll(t, s, optest.DefaultClientID, id))
			// A second, different decision is refused by the OP, as a real
			// device's (the same verdict again is a resend, answered as the
			// first time).
			second := s.Approve
			if tt.name == "approve" {
				second = s.Deny
			}
			var refused *optest.RefusedError
			if err := second(ctx, id); !errors.As(err, &refused) || refused.Code != channel.ErrNotPending {
				t.Fatalf("second decision: %v, want not_pending", err)
			}
		})
	}
}

// TestPolicies: the devices answer by policy, and WaitDecided tells the
// test when.
func TestPolicies(t *testing.T) {
	onlyOrder42 := optest.Policy(func(p optest.Pending) optest.Decision {
		switch p.BindingMessage {
		case "Order 42":
			return optest.Decision{Verdict: optest.Approved}
		case "ask me":
			return optest.Decision{Verdict: optest.Unanswered}
		}
		return optest.Decision{Verdict: optest.Denied}
	})
	tests := []struct {
		name    string
		policy  optest.Option
		message string
		want    string // "" for tokens, else the token endpoint's error
	}{
		{"auto approve", optest.AutoApprove(), "", ""},
		{"auto deny", optest.AutoDeny(), "", oauth.ErrAccessDenied},
		{"policy approves", onlyOrder42, "Order 42", ""},
		{"policy denies", onlyOrder42, "Order 43", oauth.ErrAccessDenied},
		{"policy leaves it to the test", onlyOrder42, "ask me", oauth.ErrAuthorizationPending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := optest.NewServer(t, tt.policy)
			ctx := testContext(t)
			id := startCIBA(t, s, optest.DefaultClientID, optest.DefaultUser, tt.message)
			if tt.want == oauth.ErrAuthorizationPending {
				p, err := s.WaitPending(ctx)
				if err != nil || p.AuthReqID != id {
					t.Fatalf("WaitPending: %+v, %v", p, err)
				}
				s.Advance(5 * time.Second)
				wantError(t, poll(t, s, optest.DefaultClientID, id), http.StatusBadRequest, tt.want)
				return
			}
			approved, err := s.WaitDecided(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if approved != (tt.want == "") {
				t.Fatalf("approved = %v", approved)
			}
			r := poll(t, s, optest.DefaultClientID, id)
			if tt.want == "" {
				wantTokens(t, r)
			} else {
				wantError(t, r, http.StatusBadRequest, tt.want)
			}
			// Nothing was left for WaitPending.
			short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			defer cancel()
			if p, err := s.WaitPending(short); err == nil {
				t.Fatalf("WaitPending returned %+v after the policy decided", p)
			}
		})
	}
}

// TestAdvance: the OP's clock drives expiry and slow_down without sleeping.
func TestAdvance(t *testing.T) {
	t.Run("expiry", func(t *testing.T) {
		s := optest.NewServer(t)
		ctx := testContext(t)
		id := startCIBA(t, s, optest.DefaultClientID, optest.DefaultUser, "", "requested_expiry", "30")
		s.Advance(29 * time.Second)
		wantError(t, poll(t, s, optest.DefaultClientID, id), http.StatusBadRequest, oauth.ErrAuthorizationPending)
		s.Advance(2 * time.Second)
		wantError(t, poll(t, s, optest.DefaultClientID, id), http.StatusBadRequest, oauth.ErrExpiredToken)
		var refused *optest.RefusedError
		if err := s.Approve(ctx, id); !errors.As(err, &refused) || refused.Code != channel.ErrNotPending {
			t.Fatalf("approve after expiry: %v, want not_pending", err)
		}
	})
	t.Run("slow_down", func(t *testing.T) {
		s := optest.NewServer(t)
		id := startCIBA(t, s, optest.DefaultClientID, optest.DefaultUser, "")
		steps := []struct {
			advance time.Duration
			want    string
		}{
			{0, oauth.ErrAuthorizationPending},                // the first poll may come at once (§7.3)
			{0, oauth.ErrSlowDown},                            // before the 5 s interval; it becomes 10 s
			{5 * time.Second, oauth.ErrSlowDown},              // 5 s < 10 s; it becomes 15 s
			{15 * time.Second, oauth.ErrAuthorizationPending}, // waited the interval
			{14 * time.Second, oauth.ErrSlowDown},
		}
		for i, st := range steps {
			s.Advance(st.advance)
			r := poll(t, s, optest.DefaultClientID, id)
			if r.str("error") != st.want {
				t.Fatalf("poll %d after %v: %v, want %s", i, st.advance, r.body, st.want)
			}
		}
	})
	t.Run("tokens carry the OP's time", func(t *testing.T) {
		s := optest.NewServer(t, optest.AutoApprove())
		s.Advance(24 * time.Hour)
		id := startCIBA(t, s, optest.DefaultClientID, optest.DefaultUser, "")
		if _, err := s.WaitDecided(testContext(t), id); err != nil {
			t.Fatal(err)
		}
		r := poll(t, s, optest.DefaultClientID, id)
		wantTokens(t, r)
		iat := jwtIssuedAt(t, r.str("id_token"))
		if d := iat.Sub(time.Now()); d < 23*time.Hour || d > 25*time.Hour {
			t.Fatalf("id_token iat is %v from the real clock, want a day", d)
		}
	})
}

// TestAddClientAndUser: clients and users added by the test work like the
// defaults, each client with its own certificate.
func TestAddClientAndUser(t *testing.T) {
	s := optest.NewServer(t)
	ctx := testContext(t)
	s.AddUser("alice", "secret")
	s.AddClient("shop", optest.ClientName("The Shop"), optest.SubjectDN("CN=shop,O=Example"))

	cert := s.ClientCertificate("shop")
	if cert.Leaf == nil || cert.Leaf.Subject.String() != "CN=shop,O=Example" {
		t.Fatalf("shop's certificate: %+v", cert.Leaf)
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: s.CAPool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("shop's certificate does not verify with CAPool: %v", err)
	}
	if s.Client("shop") != s.Client("shop") {
		t.Fatal("Client returns a new client on each call")
	}

	id := startCIBA(t, s, "shop", "alice", "Basket 7")
	p, err := s.WaitPending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.AuthReqID != id || p.ClientName != "The Shop" || p.User != "alice" {
		t.Fatalf("pending %+v", p)
	}
	if err := s.Approve(ctx, id); err != nil {
		t.Fatal(err)
	}
	wantTokens(t, poll(t, s, "shop", id))

	// Another client's certificate does not authenticate shop (RFC 8705 §2.1).
	r := post(t, s, s.Client(optest.DefaultClientID), "/mtls/bc-authorize",
		url.Values{"client_id": {"shop"}, "scope": {"openid"}, "login_hint": {"alice"}})
	wantError(t, r, http.StatusUnauthorized, oauth.ErrInvalidClient)
}

// TestWaitPendingSkipsDecided: a request the test decided before waiting
// for it is not returned by WaitPending.
func TestWaitPendingSkipsDecided(t *testing.T) {
	s := optest.NewServer(t)
	ctx := testContext(t)
	first := startCIBA(t, s, optest.DefaultClientID, optest.DefaultUser, "first")
	if err := s.Deny(ctx, first); err != nil {
		t.Fatal(err)
	}
	second := startCIBA(t, s, optest.DefaultClientID, optest.DefaultUser, "second")
	p, err := s.WaitPending(ctx)
	if err != nil || p.AuthReqID != second {
		t.Fatalf("WaitPending: %+v, %v; want the second request", p, err)
	}
	if err := s.Approve(ctx, "no-such-request"); err == nil {
		t.Fatal("Approve of an unknown auth_req_id succeeded")
	}
}

// TestDelayedDecision: a policy's Delay keeps the request pending for a
// while, then the device answers.
func TestDelayedDecision(t *testing.T) {
	s := optest.NewServer(t, optest.Policy(func(optest.Pending) optest.Decision {
		return optest.Decision{Verdict: optest.Approved, Delay: 300 * time.Millisecond}
	}))
	ctx := testContext(t)
	id := startCIBA(t, s, optest.DefaultClientID, optest.DefaultUser, "")
	s.Advance(5 * time.Second)
	wantError(t, poll(t, s, optest.DefaultClientID, id), http.StatusBadRequest, oauth.ErrAuthorizationPending)
	if _, err := s.WaitDecided(ctx, id); err != nil {
		t.Fatal(err)
	}
	wantTokens(t, poll(t, s, optest.DefaultClientID, id))
}

// TestCloseCancelsDelayedDecisions: Close does not wait for a device that
// would answer in an hour.
func TestCloseCancelsDelayedDecisions(t *testing.T) {
	s := optest.NewServer(t, optest.Policy(func(optest.Pending) optest.Decision {
		return optest.Decision{Verdict: optest.Approved, Delay: time.Hour}
	}))
	id := startCIBA(t, s, optest.DefaultClientID, optest.DefaultUser, "")
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for a delayed decision")
	}
	if _, err := s.WaitDecided(context.Background(), id); err == nil {
		t.Fatal("WaitDecided on a closed server succeeded")
	}
	if _, err := s.WaitPending(context.Background()); err == nil {
		t.Fatal("WaitPending on a closed server succeeded")
	}
	s.Close() // twice is fine
}

// TestDropDeviceConnections: an offline device neither sees nor decides
// requests; once back, it finds the requests still pending.
func TestDropDeviceConnections(t *testing.T) {
	s := optest.NewServer(t)
	ctx := testContext(t)
	s.DropDeviceConnections()
	id := startCIBA(t, s, optest.DefaultClientID, optest.DefaultUser, "while offline")
	if err := s.Approve(ctx, id); err == nil || !strings.Contains(err.Error(), "offline") {
		t.Fatalf("Approve with the device offline: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if p, err := s.WaitPending(short); err == nil {
		t.Fatalf("an offline device saw %+v", p)
	}
	if err := s.ReconnectDevices(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := s.WaitPending(ctx)
	if err != nil || p.AuthReqID != id || p.BindingMessage != "while offline" {
		t.Fatalf("after reconnecting: %+v, %v", p, err)
	}
	if err := s.Approve(ctx, id); err != nil {
		t.Fatal(err)
	}
	wantTokens(t, poll(t, s, optest.DefaultClientID, id))
}

// TestDropOPConnection: the OP's NATS connection comes back, and the
// channel works again.
func TestDropOPConnection(t *testing.T) {
	s := optest.NewServer(t)
	ctx := testContext(t)
	if err := s.DropOPConnection(); err != nil {
		t.Fatal(err)
	}
	id := startCIBA(t, s, optest.DefaultClientID, optest.DefaultUser, "")
	if err := s.Approve(ctx, id); err != nil {
		t.Fatal(err)
	}
	wantTokens(t, poll(t, s, optest.DefaultClientID, id))
	if n := s.OP.NATS.Stats().Reconnects; n != 1 {
		t.Fatalf("the OP's NATS connection reconnected %d times, want 1", n)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if p, err := s.WaitPending(short); err == nil {
		t.Fatalf("decided request returned by WaitPending: %+v", p)
	}
}

// TestStartOutsideATest: Start and Close without a testing.TB; misuse
// panics instead of failing a test, and the state directory is removed.
func TestStartOutsideATest(t *testing.T) {
	s, err := optest.Start()
	if err != nil {
		t.Fatal(err)
	}
	dir := s.OP.Dir.Path()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Advance(-1s) did not panic")
			}
		}()
		s.Advance(-time.Second)
	}()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Client of an unknown client did not panic")
			}
		}()
		s.Client("nobody")
	}()
	s.Close()
	if _, err := http.Get(s.URL + "/.well-known/openid-configuration"); err == nil {
		t.Error("the OP still answers after Close")
	}
	if _, err := osStat(dir); err == nil {
		t.Errorf("state directory %s left behind", dir)
	}
}

// TestClientWithoutCertificate: a client registered with a secret gets an
// HTTP client that trusts the OP but presents no certificate, and
// authenticates with its secret (RFC 6749 §2.3.1).
func TestClientWithoutCertificate(t *testing.T) {
	s := optest.NewServer(t, optest.AutoApprove())
	secret := registry.GenerateClientSecret()
	hash, err := registry.HashClientSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	s.AddClient("basic", optest.AuthMethod(registry.AuthClientSecretBasic),
		optest.ClientMetadata(func(c *registry.Client) { c.ClientSecretHash = hash }))
	if cert := s.ClientCertificate("basic"); cert.Certificate != nil {
		t.Fatal("a client_secret_basic client got a certificate")
	}
	req, err := http.NewRequest(http.MethodPost, s.URL+"/mtls/bc-authorize",
		strings.NewReader(url.Values{"scope": {"openid"}, "login_hint": {optest.DefaultUser}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("basic", secret)
	resp, err := s.Client("basic").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("bc-authorize with client_secret_basic: %d", resp.StatusCode)
	}
}
