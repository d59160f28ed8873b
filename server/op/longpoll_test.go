package op

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/shared/oauth"
)

func withLongPoll(d time.Duration) func(*Config) {
	return func(c *Config) { c.LongPoll = d }
}

// pollAsync polls in the background and returns where the answer comes.
func (f *fixture) pollAsync(t *testing.T, client, id string) <-chan response {
	t.Helper()
	out := make(chan response, 1)
	go func() { out <- f.poll(t, client, id) }()
	return out
}

// waitHeld waits until n polls are held.
func (f *fixture) waitHeld(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for f.p.holds.held() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d polls held, want %d", f.p.holds.held(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestLongPollAnswersOnDecision: with LongPoll, a poll on a pending
// request is held and answered as soon as the device decides, so the flow
// needs one token request: tokens on approval, access_denied on denial.
func TestLongPollAnswersOnDecision(t *testing.T) {
	for _, tt := range []struct {
		name    string
		verdict authreq.Verdict
		status  int
		code    string
	}{
		{"approved", authreq.Verdict{Approve: true, ACR: "urn:cibalab:acr:pwd", AMR: []string{"pwd"}}, http.StatusOK, ""},
		{"denied", authreq.Verdict{}, http.StatusBadRequest, oauth.ErrAccessDenied},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, withLongPoll(10*time.Second))
			id := f.start(t, nil)
			start := time.Now()
			answer := f.pollAsync(t, "client1", id)
			f.waitHeld(t, 1)
			if err := f.p.Decide(context.Background(), "user", id, tt.verdict); err != nil {
				t.Fatal(err)
			}
			r := <-answer
			if took := time.Since(start); took > 5*time.Second {
				t.Fatalf("the held poll answered after %v: the decision did not wake it", took)
			}
			if tt.code != "" {
				wantError(t, r, tt.status, tt.code)
			} else if r.status != http.StatusOK || r.str("access_token") == "" || r.str("id_token") == "" {
				t.Fatalf("held poll: %d %s, want tokens", r.status, r.raw)
			}
			req, err := f.store.Get(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if req.Polls != 1 {
				t.Fatalf("%d polls recorded, want the one held", req.Polls)
			}
			if f.p.holds.held() != 0 {
				t.Fatalf("%d polls still held", f.p.holds.held())
			}
		})
	}
}

// TestLongPollTimesOut: a request nobody decides gets authorization_pending
// once LongPoll has passed; the next poll sooner than the interval after
// the held one was sent is slow_down, answered at once (not held).
func TestLongPollTimesOut(t *testing.T) {
	const hold = 150 * time.Millisecond
	f := newFixture(t, withLongPoll(hold))
	id := f.start(t, nil)
	start := time.Now()
	wantError(t, f.poll(t, "client1", id), http.StatusBadRequest, oauth.ErrAuthorizationPending)
	if took := time.Since(start); took < hold {
		t.Fatalf("pending after %v, want the poll held for %v", took, hold)
	}
	start = time.Now()
	wantError(t, f.poll(t, "client1", id), http.StatusBadRequest, oauth.ErrSlowDown)
	if took := time.Since(start); took >= hold {
		t.Fatalf("slow_down after %v: a poll answered slow_down must not be held", took)
	}
}

// TestLongPollSeesExpiry: a request that expires while its poll is held
// is answered expired_token at the next look.
func TestLongPollSeesExpiry(t *testing.T) {
	f := newFixture(t, withLongPoll(10*time.Second))
	id := f.start(t, url.Values{"requested_expiry": {"10"}})
	answer := f.pollAsync(t, "client1", id)
	f.waitHeld(t, 1)
	f.clock.Advance(10 * time.Second)
	select {
	case r := <-answer:
		wantError(t, r, http.StatusBadRequest, oauth.ErrExpiredToken)
	case <-time.After(5 * time.Second):
		t.Fatal("the held poll did not see its request expire")
	}
}

// TestLongPollSeesAnotherOPsDecision: OPs sharing a store; a decision
// applied by one reaches a poll held by the other.
func TestLongPollSeesAnotherOPsDecision(t *testing.T) {
	f := newFixture(t, withLongPoll(10*time.Second))
	other := newFixture(t)
	other.store = f.store
	var err error
	cfg := other.p.cfg
	cfg.Store = f.store
	if other.p, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	id := f.start(t, nil)
	answer := f.pollAsync(t, "client1", id)
	f.waitHeld(t, 1)
	if err := other.p.Decide(context.Background(), "user", id, authreq.Verdict{Approve: true}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-answer:
		if r.status != http.StatusOK || r.str("access_token") == "" {
			t.Fatalf("held poll: %d %s, want tokens", r.status, r.raw)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the held poll did not see the other OP's decision")
	}
}

// TestLongPollGivesBackItsSlot: a held poll does not count against
// MaxConcurrentTokenRequests, so it never makes another client's token
// request 503.
func TestLongPollGivesBackItsSlot(t *testing.T) {
	f := newFixture(t, withLongPoll(10*time.Second), func(c *Config) { c.MaxConcurrentTokenRequests = 1 })
	held := f.start(t, nil)
	answer := f.pollAsync(t, "client1", held)
	f.waitHeld(t, 1)
	// Another request, decided: its poll is served while the first waits.
	id := f.start(t, nil)
	if err := f.p.Decide(context.Background(), "user", id, authreq.Verdict{Approve: true}); err != nil {
		t.Fatal(err)
	}
	if r := f.poll(t, "client1", id); r.status != http.StatusOK {
		t.Fatalf("token request beside a held poll: %d %s, want tokens", r.status, r.raw)
	}
	if err := f.p.Decide(context.Background(), "user", held, authreq.Verdict{Approve: true}); err != nil {
		t.Fatal(err)
	}
	if r := <-answer; r.status != http.StatusOK {
		t.Fatalf("held poll: %d %s, want tokens", r.status, r.raw)
	}
}

// TestLongPollEndsWhenTheClientGoes: a held poll whose client went away
// ends at once and changes nothing.
func TestLongPollEndsWhenTheClientGoes(t *testing.T) {
	f := newFixture(t, withLongPoll(10*time.Second))
	id := f.start(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	form := url.Values{"client_id": {"client1"}, "grant_type": {oauth.GrantTypeCIBA}, "auth_req_id": {id}}
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, issuer+pathToken, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	done := make(chan struct{})
	go func() {
		f.do(t, req, f.certs["client1"])
		close(done)
	}()
	f.waitHeld(t, 1)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the held poll outlived its client")
	}
	if err := f.p.Decide(context.Background(), "user", id, authreq.Verdict{Approve: true}); err != nil {
		t.Fatal(err)
	}
	if r := f.poll(t, "client1", id); r.status != http.StatusOK {
		t.Fatalf("poll after the first client went away: %d %s, want tokens", r.status, r.raw)
	}
}

// TestLongPollBounds: LongPoll is 0 to MaxLongPoll.
func TestLongPollBounds(t *testing.T) {
	for _, d := range []time.Duration{-time.Second, MaxLongPoll + time.Second} {
		cfg := newFixture(t).p.cfg
		cfg.LongPoll = d
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "LongPoll") {
			t.Errorf("LongPoll %v: %v, want an error naming LongPoll", d, err)
		}
	}
}
