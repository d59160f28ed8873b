package optest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/faults"
	"github.com/cibalab/cibalab/shared/oauth"
)

// endpoint is a client's notification endpoint that records what reaches
// it.
type endpoint struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
	got    chan string
}

func newEndpoint(t testing.TB) *endpoint {
	t.Helper()
	e := &endpoint{got: make(chan string, 16)}
	e.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		e.bodies = append(e.bodies, string(b))
		e.mu.Unlock()
		e.got <- string(b)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *endpoint) received() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.bodies...)
}

// TestNotificationTransport: each queued fault replaces one delivery, in
// order, and the OP sees the status or a timeout; without a fault the
// notification is delivered.
func TestNotificationTransport(t *testing.T) {
	ep := newEndpoint(t)
	tr := faults.NewNotifications(ep.Client().Transport)
	hc := &http.Client{Transport: tr}
	send := func(body string) (*http.Response, error) {
		req, err := http.NewRequest(http.MethodPost, ep.URL+"/cb", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		return hc.Do(req)
	}
	tr.Fail(http.StatusServiceUnavailable)
	tr.Timeout()
	tr.Fail(http.StatusUnauthorized)
	if tr.Queued() != 3 {
		t.Fatalf("queued %d faults, want 3", tr.Queued())
	}

	tests := []struct {
		name       string
		wantStatus int  // 0: an error
		wantTimout bool // the error is a timeout
		delivered  bool
	}{
		{"503", http.StatusServiceUnavailable, false, false},
		{"timeout", 0, true, false},
		{"401", http.StatusUnauthorized, false, false},
		{"no fault left", http.StatusNoContent, false, true},
	}
	for i, tt := range tests {
		resp, err := send(tt.name)
		switch {
		case tt.wantStatus == 0:
			var ue *url.Error
			if !errors.As(err, &ue) || !ue.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("%s: got %v, want a timeout error", tt.name, err)
			}
		case err != nil:
			t.Fatalf("%s: %v", tt.name, err)
		default:
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.wantStatus)
			}
		}
		if got := len(ep.received()); tt.delivered != (got == 1) || got > 1 {
			t.Fatalf("%s (%d): endpoint received %q", tt.name, i, ep.received())
		}
	}
	if got := ep.received(); len(got) != 1 || got[0] != "no fault left" {
		t.Fatalf("endpoint received %q", got)
	}
}

// TestPingFaults: a ping client whose ping the test makes fail is not
// notified, and can still poll for its tokens (CIBA Core 1.0 §10.2); the
// next ping arrives.
func TestPingFaults(t *testing.T) {
	ep := newEndpoint(t)
	s := NewServer(t, NotificationTransport(ep.Client().Transport))
	s.AddClient("pinger", DeliveryMode(oauth.ModePing), NotificationEndpoint(ep.URL+"/cb"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hc := s.Client("pinger")
	start := func() string {
		t.Helper()
		resp, err := hc.PostForm(s.URL+"/mtls/bc-authorize", url.Values{"client_id": {"pinger"}, "scope": {"openid"},
			"login_hint": {DefaultUser}, "client_notification_token": {"tok-0123456789"}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ack oauth.BackchannelAuthResponse
		if err := json.NewDecoder(resp.Body).Decode(&ack); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("bc-authorize: %d %v", resp.StatusCode, err)
		}
		return ack.AuthReqID
	}
	// waitFaultsApplied waits until the OP tried the faulted pings.
	waitFaultsApplied := func() {
		t.Helper()
		for s.notify.Queued() > 0 {
			select {
			case <-ctx.Done():
				t.Fatal("the OP sent no ping")
			case <-time.After(time.Millisecond):
			}
		}
	}

	for _, fault := range []func(){func() { s.FailNextNotification(http.StatusInternalServerError) }, s.TimeoutNextNotification} {
		fault()
		id := start()
		if err := s.Approve(ctx, id); err != nil {
			t.Fatal(err)
		}
		waitFaultsApplied()
		resp, err := hc.PostForm(s.URL+"/mtls/token", url.Values{"client_id": {"pinger"},
			"grant_type": {oauth.GrantTypeCIBA}, "auth_req_id": {id}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("poll after a failed ping: %d", resp.StatusCode)
		}
	}
	if got := ep.received(); len(got) != 0 {
		t.Fatalf("faulted pings reached the endpoint: %q", got)
	}

	id := start()
	if err := s.Approve(ctx, id); err != nil {
		t.Fatal(err)
	}
	select {
	case body := <-ep.got:
		var ping struct {
			AuthReqID string `json:"auth_req_id"`
		}
		if err := json.Unmarshal([]byte(body), &ping); err != nil || ping.AuthReqID != id {
			t.Fatalf("ping %q, want auth_req_id %s", body, id)
		}
	case <-ctx.Done():
		t.Fatal("the ping without a fault did not arrive")
	}
}

// TestPushExpiredOnAdvance: when Advance takes a push client's request past
// its expiry undecided, the OP pushes expired_token to the client's
// notification endpoint once (CIBA Core 1.0 §12).
func TestPushExpiredOnAdvance(t *testing.T) {
	ep := newEndpoint(t)
	s := NewServer(t, NotificationTransport(ep.Client().Transport))
	s.AddClient("pusher", DeliveryMode(oauth.ModePush), NotificationEndpoint(ep.URL+"/cb"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := s.Client("pusher").PostForm(s.URL+"/mtls/bc-authorize", url.Values{"client_id": {"pusher"}, "scope": {"openid"},
		"login_hint": {DefaultUser}, "client_notification_token": {"tok-0123456789"}, "requested_expiry": {"30"}})
	if err != nil {
		t.Fatal(err)
	}
	var ack oauth.BackchannelAuthResponse
	err = json.NewDecoder(resp.Body).Decode(&ack)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("bc-authorize: %d %v", resp.StatusCode, err)
	}
	s.Advance(31 * time.Second)
	s.Advance(time.Second) // a second sweep pushes nothing more
	select {
	case body := <-ep.got:
		var got map[string]string
		if err := json.Unmarshal([]byte(body), &got); err != nil || len(got) != 2 ||
			got["error"] != oauth.ErrExpiredToken || got["auth_req_id"] != ack.AuthReqID {
			t.Fatalf("push %q, want expired_token for %s", body, ack.AuthReqID)
		}
	case <-ctx.Done():
		t.Fatal("no expired_token push after the request expired")
	}
	if _, err := s.OP.Provider.NotifyExpired(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ep.received(); len(got) != 1 {
		t.Fatalf("endpoint received %q, want one push", got)
	}
}
