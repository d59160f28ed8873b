package op

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/cibalab/cibalab/shared/oauth"
)

// observations records what an Observer sees.
type observations struct {
	mu            sync.Mutex
	exchanges     []Exchange
	notifications []Notification
}

func (o *observations) Exchange(_ context.Context, x Exchange) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.exchanges = append(o.exchanges, x)
}

func (o *observations) Notification(_ context.Context, n Notification) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.notifications = append(o.notifications, n)
}

func (o *observations) seen() ([]Exchange, []Notification) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Exchange(nil), o.exchanges...), append([]Notification(nil), o.notifications...)
}

// TestObserverExchanges: each exchange is seen once when it ends, with its
// endpoint, client, request reference, status and OAuth error.
func TestObserverExchanges(t *testing.T) {
	obs := &observations{}
	f := newFixture(t, func(c *Config) { c.Observer = obs })
	id := f.start(t, nil)
	f.clock.Advance(5 * time.Second)
	wantError(t, f.poll(t, "client1", id), http.StatusBadRequest, oauth.ErrAuthorizationPending)
	f.decide(t, id, true)
	if r := f.poll(t, "client1", id); r.status != http.StatusOK {
		t.Fatalf("poll: %d %s", r.status, r.raw)
	}
	wantError(t, f.post(t, pathToken, url.Values{"client_id": {"client1"}, "grant_type": {oauth.GrantTypeCIBA}, "auth_req_id": {id}}, nil),
		http.StatusUnauthorized, oauth.ErrInvalidClient)
	f.do(t, newGet(issuer+pathJWKS), nil)
	f.do(t, newGet(issuer+"/nowhere"), nil)

	ref := oauth.ReqRef(id)
	want := []Exchange{
		{Endpoint: EndpointBCAuthorize, ClientID: "client1", Req: ref, Status: 200},
		{Endpoint: EndpointToken, GrantType: oauth.GrantTypeCIBA, ClientID: "client1", Req: ref, Status: 400, Error: oauth.ErrAuthorizationPending},
		{Endpoint: EndpointToken, GrantType: oauth.GrantTypeCIBA, ClientID: "client1", Req: ref, Status: 200},
		{Endpoint: EndpointToken, Status: 401, Error: oauth.ErrInvalidClient},
		{Endpoint: EndpointJWKS, Status: 200},
		{Endpoint: EndpointNotFound, Status: 404, Error: "not_found"},
	}
	got, _ := obs.seen()
	if len(got) != len(want) {
		t.Fatalf("%d exchanges seen, want %d: %+v", len(got), len(want), got)
	}
	for i, x := range got {
		if x.Start.IsZero() || x.Duration < 0 {
			t.Errorf("exchange %d: start %v, duration %v", i, x.Start, x.Duration)
		}
		x.Start, x.Duration = time.Time{}, 0
		if x != want[i] {
			t.Errorf("exchange %d:\n got %+v\nwant %+v", i, x, want[i])
		}
	}
}

func newGet(u string) *http.Request {
	r, _ := http.NewRequest(http.MethodGet, u, nil)
	return r
}

// TestObserverNotifications: every delivery attempt is seen, with its
// mode, kind and outcome.
func TestObserverNotifications(t *testing.T) {
	obs := &observations{}
	f := newFixture(t, func(c *Config) { c.Observer = obs })
	e := newNotifyEndpoint(t, func(n int, w http.ResponseWriter) {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // the push's first attempt
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	f.withNotifications(t, e, nil)

	ping := f.startAs(t, "pinger", nil)
	f.decide(t, ping, true)
	f.settle()
	push := f.startAs(t, "pusher", nil)
	f.decide(t, push, false)
	f.settle()

	_, got := obs.seen()
	if len(got) != 3 {
		t.Fatalf("%d notifications seen, want 3: %+v", len(got), got)
	}
	type seen struct {
		Mode, Kind, ClientID, Req string
		Status                    int
		failed                    bool
	}
	want := []seen{
		{NotifyPing, KindPing, "pinger", oauth.ReqRef(ping), 204, false},
		{NotifyPush, KindError, "pusher", oauth.ReqRef(push), 503, true},
		{NotifyPush, KindError, "pusher", oauth.ReqRef(push), 204, false},
	}
	for i, n := range got {
		s := seen{n.Mode, n.Kind, n.ClientID, n.Req, n.Status, n.Err != nil}
		if s != want[i] {
			t.Errorf("notification %d: got %+v (err %v), want %+v", i, s, n.Err, want[i])
		}
	}
}

// TestObservers: the fan-out passes everything to each observer and drops
// nils.
func TestObservers(t *testing.T) {
	if Observers() != nil || Observers(nil, nil) != nil {
		t.Fatal("Observers of nothing is not nil")
	}
	a, b := &observations{}, &observations{}
	if Observers(nil, a) != Observer(a) {
		t.Error("Observers of one is not that one")
	}
	o := Observers(a, nil, b)
	o.Exchange(context.Background(), Exchange{Endpoint: "token"})
	o.Notification(context.Background(), Notification{Mode: "ping"})
	for _, x := range []*observations{a, b} {
		if xs, ns := x.seen(); len(xs) != 1 || len(ns) != 1 {
			t.Errorf("observer saw %d exchanges, %d notifications", len(xs), len(ns))
		}
	}
}
