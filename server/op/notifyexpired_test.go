package op

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/oauth"
)

// expiry is the requested_expiry of the requests of these tests.
var expiry = url.Values{"requested_expiry": {"30"}}

// notifyExpired runs NotifyExpired on each of ps, concurrently, and
// returns how many pushes they started in all.
func notifyExpired(t testing.TB, ps ...*Provider) int {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
	)
	for _, p := range ps {
		wg.Go(func() {
			n, err := p.NotifyExpired(context.Background())
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	return total
}

// wantExpiredPush asserts that c is exactly the expired_token push of id to
// client (CIBA Core 1.0 §12).
func wantExpiredPush(t testing.TB, c notifyCall, client, id string) {
	t.Helper()
	if c.method != http.MethodPost || c.path != "/cb" || c.auth != "Bearer notify-"+client || c.contentType != "application/json" {
		t.Errorf("push %s %s, Authorization %q, Content-Type %q", c.method, c.path, c.auth, c.contentType)
	}
	b := pushBody(t, c)
	if len(b) != 2 || b["error"] != oauth.ErrExpiredToken || b["auth_req_id"] != id {
		t.Errorf("push body %s, want exactly {\"error\":\"expired_token\",\"auth_req_id\":%q}", c.body, id)
	}
}

// TestNotifyExpired: a push client's request that expires undecided gets
// expired_token pushed exactly once (CIBA Core 1.0 §12), whoever sweeps
// and however often; decided requests and ping and poll clients get
// nothing on expiry.
func TestNotifyExpired(t *testing.T) {
	t.Run("pushed once, even by concurrent sweeps of two providers", func(t *testing.T) {
		f := newFixture(t)
		e := newNotifyEndpoint(t, nil)
		f.withNotifications(t, e, nil)
		// A second provider sharing the store, as a replica would.
		replica, err := New(f.p.cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { replica.Close() })
		id := f.startAs(t, "pusher", expiry)

		f.clock.Advance(29 * time.Second)
		if n := notifyExpired(t, f.p, replica); n != 0 {
			t.Fatalf("%d pushes before expiry", n)
		}
		f.clock.Advance(time.Second)
		if n := notifyExpired(t, f.p, f.p, replica, replica); n != 1 {
			t.Fatalf("%d pushes started by concurrent sweeps, want 1", n)
		}
		f.clock.Advance(time.Minute)
		if n := notifyExpired(t, f.p, replica); n != 0 {
			t.Fatalf("%d pushes by a later sweep, want 0", n)
		}
		f.settle()
		replica.notifier.wg.Wait()
		calls := e.Calls()
		if len(calls) != 1 {
			t.Fatalf("%d calls to the endpoint, want 1: %+v", len(calls), calls)
		}
		wantExpiredPush(t, calls[0], "pusher", id)
		req := f.request(t, id)
		if req.Status != store.StatusPending || req.ExpiryPushedAt.IsZero() || req.NotifyAttempts != 1 || req.NotifiedAt.IsZero() {
			t.Errorf("request after the push: %s, claimed %v, attempts %d, notified %v", req.Status, req.ExpiryPushedAt, req.NotifyAttempts, req.NotifiedAt)
		}
		// A late decision is still refused, and push clients may not poll.
		if err := f.p.Decide(context.Background(), "user", id, authreq.Verdict{Approve: true}); err != authreq.ErrNotPending {
			t.Errorf("decision after expiry: %v", err)
		}
		wantError(t, f.poll(t, "pusher", id), 400, oauth.ErrUnauthorizedClient)
	})
	t.Run("decided and redeemed requests are not pushed expired_token", func(t *testing.T) {
		f := newFixture(t)
		e := newNotifyEndpoint(t, nil)
		f.withNotifications(t, e, nil)
		denied := f.startAs(t, "pusher", expiry)
		redeemed := f.startAs(t, "pushrt", expiry)
		f.decide(t, denied, false)
		f.decide(t, redeemed, true)
		f.settle()
		if got := f.request(t, redeemed).Status; got != store.StatusRedeemed {
			t.Fatalf("approved push request is %s after delivery", got)
		}
		f.clock.Advance(time.Minute)
		if n := notifyExpired(t, f.p); n != 0 {
			t.Fatalf("%d expired_token pushes for decided requests", n)
		}
		f.settle()
		if calls := e.Calls(); len(calls) != 2 {
			t.Fatalf("%d calls, want only the 2 decisions: %+v", len(calls), calls)
		}
	})
	t.Run("an approved push never delivered is not pushed expired_token", func(t *testing.T) {
		f := newFixture(t)
		e := newNotifyEndpoint(t, status(http.StatusUnauthorized))
		f.withNotifications(t, e, nil)
		id := f.startAs(t, "pusher", expiry)
		f.decide(t, id, true)
		f.settle()
		f.clock.Advance(time.Minute)
		if n := notifyExpired(t, f.p); n != 0 {
			t.Fatalf("%d expired_token pushes for an approved request", n)
		}
		f.settle()
		if calls := e.Calls(); len(calls) != 1 {
			t.Fatalf("%d calls, want only the refused token push", len(calls))
		}
	})
	t.Run("ping and poll clients get nothing on expiry", func(t *testing.T) {
		f := newFixture(t)
		e := newNotifyEndpoint(t, nil)
		f.withNotifications(t, e, nil)
		pinged := f.startAs(t, "pinger", expiry)
		polled := f.start(t, expiry)
		f.clock.Advance(time.Minute)
		if n := notifyExpired(t, f.p); n != 0 {
			t.Fatalf("%d pushes", n)
		}
		f.settle()
		if calls := e.Calls(); len(calls) != 0 {
			t.Fatalf("%d calls on expiry: %+v", len(calls), calls)
		}
		for client, id := range map[string]string{"pinger": pinged, "client1": polled} {
			if req := f.request(t, id); !req.ExpiryPushedAt.IsZero() || req.NotifyAttempts != 0 {
				t.Errorf("%s: claimed %v, %d attempts", client, req.ExpiryPushedAt, req.NotifyAttempts)
			}
			wantError(t, f.poll(t, client, id), 400, oauth.ErrExpiredToken)
		}
	})
	t.Run("a failed push is not retried", func(t *testing.T) {
		for _, tt := range []struct {
			name   string
			answer func(int, http.ResponseWriter)
			fault  bool
		}{
			{"503", status(http.StatusServiceUnavailable), false},
			{"401", status(http.StatusUnauthorized), false},
			{"network error", nil, true},
		} {
			t.Run(tt.name, func(t *testing.T) {
				f := newFixture(t)
				e := newNotifyEndpoint(t, tt.answer)
				var hc *http.Client
				ft := &faultTransport{}
				if tt.fault {
					hc = &http.Client{Transport: ft}
				}
				f.withNotifications(t, e, hc)
				id := f.startAs(t, "pusher", expiry)
				f.clock.Advance(time.Minute)
				if n := notifyExpired(t, f.p); n != 1 {
					t.Fatalf("%d pushes, want 1", n)
				}
				f.settle()
				if n := notifyExpired(t, f.p); n != 0 {
					t.Fatalf("%d pushes after a failed one, want 0", n)
				}
				f.settle()
				if got := len(e.Calls()) + ft.count(); got != 1 {
					t.Fatalf("%d attempts, want 1", got)
				}
				if req := f.request(t, id); req.NotifyAttempts != 1 || !req.NotifiedAt.IsZero() || req.ExpiryPushedAt.IsZero() {
					t.Errorf("attempts %d, notified %v, claimed %v", req.NotifyAttempts, req.NotifiedAt, req.ExpiryPushedAt)
				}
			})
		}
	})
	t.Run("a closed provider leaves the push to another", func(t *testing.T) {
		f := newFixture(t)
		e := newNotifyEndpoint(t, nil)
		f.withNotifications(t, e, nil)
		id := f.startAs(t, "pusher", expiry)
		f.clock.Advance(time.Minute)
		f.p.Close()
		if n := notifyExpired(t, f.p); n != 0 {
			t.Fatalf("a closed provider started %d pushes", n)
		}
		if req := f.request(t, id); !req.ExpiryPushedAt.IsZero() {
			t.Fatalf("the claim of a closed provider was kept: %v", req.ExpiryPushedAt)
		}
		other, err := New(f.p.cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { other.Close() })
		if n := notifyExpired(t, other); n != 1 {
			t.Fatalf("%d pushes by the other provider, want 1", n)
		}
		other.notifier.wg.Wait()
		if calls := e.Calls(); len(calls) != 1 {
			t.Fatalf("%d calls", len(calls))
		} else {
			wantExpiredPush(t, calls[0], "pusher", id)
		}
	})
}
