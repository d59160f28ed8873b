package op

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/oauth"
)

// snapshot returns the stored request id, failing the test if it is gone.
func (f *fixture) snapshot(t testing.TB, id string) *store.Request {
	t.Helper()
	req, err := f.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// wantUnchanged fails unless the stored request id is still before.
func (f *fixture) wantUnchanged(t testing.TB, id string, before *store.Request) {
	t.Helper()
	after := f.snapshot(t, id)
	if after.Revision != before.Revision || after.Polls != before.Polls ||
		!after.LastPoll.Equal(before.LastPoll) || after.Interval != before.Interval || after.Status != before.Status {
		t.Errorf("request changed: before %+v, after %+v", before, after)
	}
}

// wantUnavailable fails unless r is 503 temporarily_unavailable with
// Retry-After: retryAfter (CIBA Core 1.0 §11).
func wantUnavailable(t testing.TB, r response, retryAfter string) {
	t.Helper()
	wantError(t, r, http.StatusServiceUnavailable, oauth.ErrTemporarilyUnavailable)
	if got := r.header.Get("Retry-After"); got != retryAfter {
		t.Errorf("Retry-After = %q, want %q", got, retryAfter)
	}
}

// untouchedBody records whether the handler read it.
type untouchedBody struct {
	read atomic.Bool
}

func (b *untouchedBody) Read([]byte) (int, error) {
	b.read.Store(true)
	return 0, io.EOF
}

// TestTokenConcurrencyGate fills the gate with one poll held inside the
// token endpoint: the next request gets 503 temporarily_unavailable with
// Retry-After: 1 before its body is read and changes nothing; once the
// held poll finishes, polls are answered normally again.
func TestTokenConcurrencyGate(t *testing.T) {
	f := newFixture(t)
	f.p.tokenGate = newGate(1)
	id := f.start(t, nil)
	f.clock.Advance(5 * time.Second)

	// The first token request blocks in the Throttle hook, which runs
	// inside the gate, until release is closed.
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	f.p.cfg.Throttle = func(string) (time.Duration, bool) {
		if calls.Add(1) == 1 {
			close(entered)
			<-release
		}
		return 0, false
	}
	held := make(chan response, 1)
	go func() { held <- f.poll(t, "client1", id) }()
	<-entered
	before := f.snapshot(t, id)

	body := &untouchedBody{}
	req := httptest.NewRequest(http.MethodPost, issuer+pathToken, body)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	wantUnavailable(t, f.do(t, req, f.certs["client1"]), "1")
	if body.read.Load() {
		t.Error("the refused request's body was read")
	}
	wantUnavailable(t, f.poll(t, "client2", id), "1")
	f.wantUnchanged(t, id, before)
	if n := calls.Load(); n != 1 {
		t.Errorf("Throttle called %d times, want 1: refused requests got past the gate", n)
	}

	close(release)
	wantError(t, <-held, http.StatusBadRequest, oauth.ErrAuthorizationPending)
	f.clock.Advance(5 * time.Second)
	wantError(t, f.poll(t, "client1", id), http.StatusBadRequest, oauth.ErrAuthorizationPending)
	approve(t, f, id)
	if r := f.poll(t, "client1", id); r.status != http.StatusOK || r.str("access_token") == "" {
		t.Fatalf("token response %d %s", r.status, r.raw)
	}
}

// TestGate: the gate admits its size and no more, never blocks, and frees
// a slot on release; 0 means the default size and a negative size no
// bound.
func TestGate(t *testing.T) {
	tests := []struct {
		name  string
		n     int
		admit int // -1: no bound
	}{
		{"one", 1, 1},
		{"three", 3, 3},
		{"default", 0, defaultMaxConcurrentTokenRequests},
		{"unlimited", -1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGate(tt.n)
			want := tt.admit
			if want < 0 {
				want = 1000
			}
			for i := range want {
				if !g.tryAcquire() {
					t.Fatalf("request %d refused, want %d admitted", i+1, want)
				}
			}
			if tt.admit < 0 {
				for range want {
					g.release()
				}
				return
			}
			if g.tryAcquire() {
				t.Fatalf("request %d admitted by a gate of %d", want+1, want)
			}
			g.release()
			if !g.tryAcquire() {
				t.Fatal("a released slot was not reusable")
			}
		})
	}
}

// TestGateConcurrent: under concurrent use the gate never has more than
// its size admitted at once (run with -race).
func TestGateConcurrent(t *testing.T) {
	const size = 4
	g := newGate(size)
	var inside, maxInside atomic.Int32
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range 100 {
				if !g.tryAcquire() {
					continue
				}
				n := inside.Add(1)
				for {
					m := maxInside.Load()
					if n <= m || maxInside.CompareAndSwap(m, n) {
						break
					}
				}
				inside.Add(-1)
				g.release()
			}
		})
	}
	wg.Wait()
	if m := maxInside.Load(); m > size || m < 1 {
		t.Fatalf("at most %d admitted at once, want 1..%d", m, size)
	}
}

// TestThrottleHook: a poll that Config.Throttle refuses gets 503
// temporarily_unavailable with Retry-After in whole seconds, rounded up,
// at least 1 (CIBA Core 1.0 §11); the request is left as it was, so the
// next poll, sent at once, is answered normally rather than with
// slow_down.
func TestThrottleHook(t *testing.T) {
	tests := []struct {
		retryAfter time.Duration
		want       string
	}{
		{0, "1"},
		{-5 * time.Second, "1"},
		{time.Millisecond, "1"},
		{time.Second, "1"},
		{1500 * time.Millisecond, "2"},
		{3 * time.Second, "3"},
		{2 * time.Minute, "120"},
	}
	for _, tt := range tests {
		t.Run(tt.retryAfter.String(), func(t *testing.T) {
			f := newFixture(t)
			id := f.start(t, nil)
			f.clock.Advance(5 * time.Second)
			var mu sync.Mutex
			var asked []string
			remaining := 1
			f.p.cfg.Throttle = func(clientID string) (time.Duration, bool) {
				mu.Lock()
				defer mu.Unlock()
				asked = append(asked, clientID)
				remaining--
				return tt.retryAfter, remaining >= 0
			}
			before := f.snapshot(t, id)
			wantUnavailable(t, f.poll(t, "client1", id), tt.want)
			f.wantUnchanged(t, id, before)

			wantError(t, f.poll(t, "client1", id), http.StatusBadRequest, oauth.ErrAuthorizationPending)
			if got := f.snapshot(t, id).Polls; got != before.Polls+1 {
				t.Errorf("Polls = %d after one answered poll, want %d", got, before.Polls+1)
			}
			mu.Lock()
			defer mu.Unlock()
			if strings.Join(asked, ",") != "client1,client1" {
				t.Errorf("Throttle asked about %q, want client1 twice", asked)
			}
		})
	}
}

// TestThrottleAfterClientAuthentication: Throttle is asked only about
// authenticated clients; a request without a valid certificate still gets
// invalid_client, and a redemption refused by Throttle spends nothing.
func TestThrottleAfterClientAuthentication(t *testing.T) {
	f := newFixture(t)
	id := f.start(t, nil)
	approve(t, f, id)
	throttled := atomic.Bool{}
	throttled.Store(true)
	var calls atomic.Int32
	f.p.cfg.Throttle = func(string) (time.Duration, bool) {
		calls.Add(1)
		return 2 * time.Second, throttled.Load()
	}
	form := url.Values{"client_id": {"client1"}, "grant_type": {oauth.GrantTypeCIBA}, "auth_req_id": {id}}
	wantError(t, f.post(t, pathToken, form, nil), http.StatusUnauthorized, oauth.ErrInvalidClient)
	wantError(t, f.post(t, pathToken, form, f.certs["wrongDN"]), http.StatusUnauthorized, oauth.ErrInvalidClient)
	if n := calls.Load(); n != 0 {
		t.Fatalf("Throttle asked %d times about unauthenticated requests", n)
	}

	before := f.snapshot(t, id)
	wantUnavailable(t, f.poll(t, "client1", id), "2")
	f.wantUnchanged(t, id, before)

	throttled.Store(false)
	if r := f.poll(t, "client1", id); r.status != http.StatusOK || r.str("access_token") == "" {
		t.Fatalf("token response after the throttle %d %s", r.status, r.raw)
	}
}

// TestMaxConcurrentTokenRequestsConfig: New builds the gate from
// Config.MaxConcurrentTokenRequests.
func TestMaxConcurrentTokenRequestsConfig(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct{ n, cap int }{{0, defaultMaxConcurrentTokenRequests}, {5, 5}, {-1, 0}} {
		cfg := f.p.cfg
		cfg.MaxConcurrentTokenRequests = tt.n
		p, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := cap(p.tokenGate.slots); got != tt.cap || (tt.n < 0) != (p.tokenGate.slots == nil) {
			t.Errorf("MaxConcurrentTokenRequests %d: gate of %d slots (nil %v), want %d", tt.n, got, p.tokenGate.slots == nil, tt.cap)
		}
	}
}
