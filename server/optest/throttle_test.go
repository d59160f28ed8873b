package optest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/op"
	"github.com/cibalab/cibalab/server/optest"
	"github.com/cibalab/cibalab/shared/oauth"
)

// pollRaw polls the token endpoint once as clientID and returns the
// answer with its Retry-After header.
func pollRaw(t testing.TB, s *optest.Server, clientID, authReqID string) (reply, string) {
	t.Helper()
	resp, err := s.Client(clientID).PostForm(s.URL+"/mtls/token", url.Values{
		"client_id": {clientID}, "grant_type": {oauth.GrantTypeCIBA}, "auth_req_id": {authReqID}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := reply{status: resp.StatusCode}
	if err := json.NewDecoder(resp.Body).Decode(&r.body); err != nil {
		t.Fatalf("token endpoint: answer is not JSON: %v", err)
	}
	return r, resp.Header.Get("Retry-After")
}

// TestThrottleNextPolls drives a CIBA flow with plain net/http: the
// throttled polls get 503 temporarily_unavailable with Retry-After
// (CIBA Core 1.0 §11), each with its own value; they count for nothing,
// so the next poll, sent at once, gets authorization_pending rather than
// slow_down, and the approved request is then redeemed.
func TestThrottleNextPolls(t *testing.T) {
	s := optest.NewServer(t)
	id := startCIBA(t, s, optest.DefaultClientID, optest.DefaultUser, "Throttle")
	p, err := s.WaitPending(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	s.Advance(5 * time.Second)

	s.ThrottleNextPolls(1, 2*time.Second)
	s.ThrottleNextPolls(1, 1500*time.Millisecond)
	for _, want := range []string{"2", "2"} {
		r, retryAfter := pollRaw(t, s, optest.DefaultClientID, id)
		wantError(t, r, http.StatusServiceUnavailable, oauth.ErrTemporarilyUnavailable)
		if retryAfter != want {
			t.Errorf("Retry-After = %q, want %q", retryAfter, want)
		}
	}
	r, retryAfter := pollRaw(t, s, optest.DefaultClientID, id)
	wantError(t, r, http.StatusBadRequest, oauth.ErrAuthorizationPending)
	if retryAfter != "" {
		t.Errorf("Retry-After %q on an ordinary answer", retryAfter)
	}

	if err := s.Approve(testContext(t), p.AuthReqID); err != nil {
		t.Fatal(err)
	}
	s.ThrottleNextPolls(1, 0)
	r, retryAfter = pollRaw(t, s, optest.DefaultClientID, id)
	wantError(t, r, http.StatusServiceUnavailable, oauth.ErrTemporarilyUnavailable)
	if retryAfter != "1" {
		t.Errorf("Retry-After = %q for a zero retryAfter, want 1", retryAfter)
	}
	r, _ = pollRaw(t, s, optest.DefaultClientID, id)
	wantTokens(t, r)
}

// TestThrottleNextPollsThenProviderThrottle: a Throttle set with
// ProviderConfig is asked once the queued refusals are used up, and only
// then.
func TestThrottleNextPollsThenProviderThrottle(t *testing.T) {
	var asked atomic.Int32
	s := optest.NewServer(t, optest.ProviderConfig(func(c *op.Config) {
		c.Throttle = func(string) (time.Duration, bool) {
			asked.Add(1)
			return 3 * time.Second, true
		}
	}))
	id := startCIBA(t, s, optest.DefaultClientID, optest.DefaultUser, "")
	s.ThrottleNextPolls(1, time.Second)
	for _, want := range []struct {
		retryAfter string
		asked      int32
	}{{"1", 0}, {"3", 1}} {
		r, retryAfter := pollRaw(t, s, optest.DefaultClientID, id)
		wantError(t, r, http.StatusServiceUnavailable, oauth.ErrTemporarilyUnavailable)
		if retryAfter != want.retryAfter || asked.Load() != want.asked {
			t.Errorf("Retry-After %q with the provider's Throttle asked %d times, want %q and %d",
				retryAfter, asked.Load(), want.retryAfter, want.asked)
		}
	}
}

// TestThrottleNextPollsConcurrent: n refusals are shared by concurrent
// polls, exactly n of which get 503 (run with -race).
func TestThrottleNextPollsConcurrent(t *testing.T) {
	s := optest.NewServer(t)
	id := startCIBA(t, s, optest.DefaultClientID, optest.DefaultUser, "")
	const n, polls = 3, 8
	s.ThrottleNextPolls(n, time.Second)
	statuses := make(chan int, polls)
	hc := s.Client(optest.DefaultClientID)
	form := url.Values{"client_id": {optest.DefaultClientID}, "grant_type": {oauth.GrantTypeCIBA}, "auth_req_id": {id}}
	for range polls {
		go func() {
			resp, err := hc.PostForm(s.URL+"/mtls/token", form)
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	refused := 0
	for range polls {
		switch st := <-statuses; st {
		case http.StatusServiceUnavailable:
			refused++
		case http.StatusBadRequest: // authorization_pending or slow_down
		default:
			t.Errorf("poll answered %d", st)
		}
	}
	if refused != n {
		t.Errorf("%d polls refused, want %d", refused, n)
	}
}
