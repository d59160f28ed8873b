package op

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/oauth"
)

// TestSharedUserCodeLockout: two replicas sharing a lockout store
// (Config.Lockouts) count wrong user_codes together: five wrong codes
// spread over them lock the client and user out at both, where each alone
// would have allowed more.
func TestSharedUserCodeLockout(t *testing.T) {
	const right, wrong = "4711", "4712"
	shared := store.NewLockoutMemory()
	hash, err := registry.HashUserCode(right, 2)
	if err != nil {
		t.Fatal(err)
	}
	var replicas []*fixture
	for range 2 {
		f := newFixture(t, func(c *Config) { c.Lockouts = shared; c.UserCodeSupported = true })
		f.reg.clients["client1"].BackchannelUserCodeParameter = true
		f.reg.users["user"].UserCodeHash = hash
		replicas = append(replicas, f)
	}
	post := func(f *fixture, code string) response {
		return f.post(t, pathBCAuthorize, with(func(v url.Values) {
			v.Set("client_id", "client1")
			v.Set("login_hint", "user")
			v.Set("user_code", code)
		}), f.certs["client1"])
	}
	for i := range userCodeMaxFailures {
		wantError(t, post(replicas[i%2], wrong), http.StatusBadRequest, oauth.ErrInvalidUserCode)
	}
	for i, f := range replicas {
		r := post(f, right)
		if r.status != http.StatusForbidden || r.str("error") != oauth.ErrAccessDenied {
			t.Fatalf("replica %d after %d wrong codes spread over two: %d %s, want 403 access_denied", i, userCodeMaxFailures, r.status, r.raw)
		}
	}
}
