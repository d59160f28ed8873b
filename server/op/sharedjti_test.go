package op

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/oauth"
)

// failingJTIs is a shared jti store that cannot be reached.
type failingJTIs struct{}

func (failingJTIs) UseJTI(context.Context, string, time.Time, time.Time) error {
	return errors.New("nats: no responders")
}

func (failingJTIs) DeleteExpiredJTIs(context.Context, time.Time) (int, error) { return 0, nil }

// TestSharedJTIs: with a jti store shared by replicas (Config.JTIs), a
// signed request whose jti another replica recorded is refused and stores
// nothing, a fresh one is accepted and recorded for the others, and a
// store that cannot be asked refuses rather than lets a replay through.
func TestSharedJTIs(t *testing.T) {
	shared := store.NewJTIMemory()
	f := newFixture(t, func(c *Config) { c.JTIs = shared })
	f.reg.clients["client1"].JWKS = jwksOf(t, "es", "ps")
	now := f.clock.Now()

	claims := f.requestClaims(nil)
	used := claims["jti"].(string)
	// Another replica accepted this request object first.
	if err := shared.UseJTI(context.Background(), "request\x00client1\x00"+used, now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	form := url.Values{"client_id": {"client1"}, "request": {signJWT(t, "es", claims, nil)}}
	wantError(t, f.post(t, pathBCAuthorize, form, f.certs["client1"]), http.StatusBadRequest, oauth.ErrInvalidRequest)
	if n := f.count(t); n != 0 {
		t.Fatalf("%d stored requests after a replay at another replica, want 0", n)
	}

	fresh := f.requestClaims(nil)
	form = url.Values{"client_id": {"client1"}, "request": {signJWT(t, "es", fresh, nil)}}
	if r := f.post(t, pathBCAuthorize, form, f.certs["client1"]); r.status != http.StatusOK {
		t.Fatalf("fresh request object: %d %s", r.status, r.raw)
	}
	key := "request\x00client1\x00" + fresh["jti"].(string)
	if err := shared.UseJTI(context.Background(), key, now.Add(time.Hour), now); !errors.Is(err, store.ErrReplay) {
		t.Fatalf("the accepted jti is not recorded for the other replicas: %v", err)
	}

	down := newFixture(t, func(c *Config) { c.JTIs = failingJTIs{} })
	down.reg.clients["client1"].JWKS = jwksOf(t, "es", "ps")
	form = url.Values{"client_id": {"client1"}, "request": {signJWT(t, "es", down.requestClaims(nil), nil)}}
	r := down.post(t, pathBCAuthorize, form, down.certs["client1"])
	if r.status == http.StatusOK || down.count(t) != 0 {
		t.Fatalf("request object accepted without its replay check: %d %s", r.status, r.raw)
	}
}
