package ciba_test

import (
	"context"
	"testing"

	"github.com/cibalab/cibalab/client/internal/fakeop"
)

// BenchmarkStartAndWait is the client's side of one flow against a fake OP
// over mutual TLS with keep-alive: the backchannel authentication request,
// one token request answered with tokens, and the ID token's checks (an
// ES256 signature against the JWKS, fetched once).
func BenchmarkStartAndWait(b *testing.B) {
	_, c, _ := setup(b, fakeop.Config{Token: func(int, fakeop.Request) fakeop.Reply {
		return fakeop.TokenReplyWith("at", "", &fakeop.IDToken{})
	}})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		tok, err := c.Wait(ctx, start(b, c), nil)
		if err != nil || tok.IDTokenClaims == nil {
			b.Fatalf("Wait: %v", err)
		}
	}
}
