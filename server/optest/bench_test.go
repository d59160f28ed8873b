package optest_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/cibalab/cibalab/server/optest"
	"github.com/cibalab/cibalab/shared/oauth"
)

// BenchmarkApproveScenario measures one complete approve scenario on a
// running server: the backchannel authentication request, the approval
// through the user's device over NATS, and the token request.
func BenchmarkApproveScenario(b *testing.B) {
	s := optest.NewServer(b)
	hc := s.Client(optest.DefaultClientID)
	ctx := context.Background()
	start := url.Values{"client_id": {optest.DefaultClientID}, "scope": {"openid"}, "login_hint": {optest.DefaultUser}}
	// Warm the TLS connection and the shared keys.
	post(b, s, hc, "/mtls/bc-authorize", start)
	b.ResetTimer()
	for b.Loop() {
		r := post(b, s, hc, "/mtls/bc-authorize", start)
		id := r.str("auth_req_id")
		if err := s.Approve(ctx, id); err != nil {
			b.Fatal(err)
		}
		tok := post(b, s, hc, "/mtls/token", url.Values{"client_id": {optest.DefaultClientID},
			"grant_type": {oauth.GrantTypeCIBA}, "auth_req_id": {id}})
		if tok.status != http.StatusOK {
			b.Fatalf("token: %d %v", tok.status, tok.body)
		}
	}
}

// BenchmarkNewServer measures starting and stopping a server, with the
// signing keys already generated.
func BenchmarkNewServer(b *testing.B) {
	optest.NewServer(b).Close()
	for b.Loop() {
		optest.NewServer(b).Close()
	}
}
