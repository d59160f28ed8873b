package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/server/bus"
	"github.com/cibalab/cibalab/server/op"
	"github.com/cibalab/cibalab/server/store"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// get serves path from h and returns the status and body.
func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

// families scrapes m's /metrics and parses it.
func families(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	status, body := get(t, m.Handler(), "/metrics")
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d %s", status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams
}

// value returns the value (a histogram's count) of the sample of name
// with exactly labels, and whether there is one.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		if len(m.GetLabel())*2 != len(labels) {
			continue
		}
		match := true
		for i, l := range m.GetLabel() {
			if l.GetName() != labels[2*i] || l.GetValue() != labels[2*i+1] {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func want(t *testing.T, fams map[string]*dto.MetricFamily, v float64, name string, labels ...string) {
	t.Helper()
	got, ok := value(fams, name, labels...)
	if !ok || got != v {
		t.Errorf("%s%v = %v (present %v), want %v", name, labels, got, ok, v)
	}
}

// TestExchanges: requests count by endpoint and outcome, and a token
// response counts as a token issued.
func TestExchanges(t *testing.T) {
	m := New(Config{})
	ctx := context.Background()
	for _, x := range []op.Exchange{
		{Endpoint: op.EndpointBCAuthorize, Status: 200, Duration: time.Millisecond},
		{Endpoint: op.EndpointToken, GrantType: "urn:openid:params:grant-type:ciba", Status: 400, Error: "authorization_pending"},
		{Endpoint: op.EndpointToken, GrantType: "urn:openid:params:grant-type:ciba", Status: 400, Error: "authorization_pending"},
		{Endpoint: op.EndpointToken, GrantType: "urn:openid:params:grant-type:ciba", Status: 200},
		{Endpoint: op.EndpointToken, GrantType: "refresh_token", Status: 200},
		{Endpoint: op.EndpointUserinfo, Status: 401},
	} {
		m.Exchange(ctx, x)
	}
	m.Notification(ctx, op.Notification{Mode: op.NotifyPush, Kind: op.KindTokens, Status: 204})
	m.Notification(ctx, op.Notification{Mode: op.NotifyPush, Kind: op.KindTokens, Status: 500, Err: errors.New("500")})
	m.Notification(ctx, op.Notification{Mode: op.NotifyPing, Kind: op.KindPing, Status: 204})

	f := families(t, m)
	want(t, f, 1, "cibalab_http_requests_total", "endpoint", "bc-authorize", "outcome", "ok")
	want(t, f, 2, "cibalab_http_requests_total", "endpoint", "token", "outcome", "authorization_pending")
	want(t, f, 2, "cibalab_http_requests_total", "endpoint", "token", "outcome", "ok")
	want(t, f, 1, "cibalab_http_requests_total", "endpoint", "userinfo", "outcome", "status_401")
	want(t, f, 4, "cibalab_http_request_duration_seconds", "endpoint", "token")
	want(t, f, 1, "cibalab_tokens_issued_total", "grant", "ciba", "via", "token_endpoint")
	want(t, f, 1, "cibalab_tokens_issued_total", "grant", "refresh_token", "via", "token_endpoint")
	want(t, f, 1, "cibalab_tokens_issued_total", "grant", "ciba", "via", "push")
	want(t, f, 1, "cibalab_notifications_delivered_total", "kind", "tokens", "mode", "push")
	want(t, f, 1, "cibalab_notifications_failed_total", "kind", "tokens", "mode", "push")
	want(t, f, 1, "cibalab_notifications_delivered_total", "kind", "ping", "mode", "ping")
}

// TestLatencies: the decision latency runs from creation to decision, the
// approve to token latency from decision to redemption.
func TestLatencies(t *testing.T) {
	m := New(Config{})
	ctx := context.Background()
	r := &store.Request{ClientID: "c", CreatedAt: t0}
	m.Transition(ctx, authreq.Event{Type: authreq.EventCreated, Time: t0, Request: r})
	r.DecidedAt = t0.Add(3 * time.Second)
	m.Transition(ctx, authreq.Event{Type: authreq.EventApproved, Time: r.DecidedAt, Request: r})
	m.Transition(ctx, authreq.Event{Type: authreq.EventRedeemed, Time: r.DecidedAt.Add(200 * time.Millisecond), Request: r, Detail: "poll"})
	d := &store.Request{ClientID: "c", CreatedAt: t0, DecidedAt: t0.Add(40 * time.Second)}
	m.Transition(ctx, authreq.Event{Type: authreq.EventDenied, Time: d.DecidedAt, Request: d})

	f := families(t, m)
	want(t, f, 1, "cibalab_decision_latency_seconds", "decision", "approved")
	want(t, f, 1, "cibalab_decision_latency_seconds", "decision", "denied")
	want(t, f, 1, "cibalab_approve_to_token_seconds", "via", "poll")
	want(t, f, 1, "cibalab_authreq_transitions_total", "event", "authreq.created")
	for _, m := range f["cibalab_decision_latency_seconds"].GetMetric() {
		sum := m.GetHistogram().GetSampleSum()
		if d := m.GetLabel()[0].GetValue(); (d == "approved" && sum != 3) || (d == "denied" && sum != 40) {
			t.Errorf("decision latency of %s: %v s", d, sum)
		}
	}
	if sum := f["cibalab_approve_to_token_seconds"].GetMetric()[0].GetHistogram().GetSampleSum(); sum != 0.2 {
		t.Errorf("approve to token: %v s, want 0.2", sum)
	}
}

// failingStore fails every operation after its first Create.
type failingStore struct {
	store.Store
	fail bool
}

var errBroken = errors.New("disk on fire")

func (s *failingStore) Get(ctx context.Context, id string) (*store.Request, error) {
	if s.fail {
		return nil, errBroken
	}
	return s.Store.Get(ctx, id)
}

// TestStore: operations and errors are counted, refusals and not found
// are no errors, and the pending gauge counts unexpired pending requests
// by client when scraped.
func TestStore(t *testing.T) {
	now := t0
	m := New(Config{Now: func() time.Time { return now }})
	inner := &failingStore{Store: store.NewMemory()}
	s := m.Store(inner)
	ctx := context.Background()
	for i, r := range []*store.Request{
		{ID: "a", ClientID: "c1", Status: store.StatusPending, CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)},
		{ID: "b", ClientID: "c1", Status: store.StatusPending, CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)},
		{ID: "c", ClientID: "c2", Status: store.StatusPending, CreatedAt: t0, ExpiresAt: t0.Add(time.Second)},
		{ID: "d", ClientID: "c2", Status: store.StatusApproved, CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)},
	} {
		if err := s.Create(ctx, r); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	if err := s.Create(ctx, &store.Request{ID: "a"}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	if _, err := s.Get(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get: %v", err)
	}
	refusal := errors.New("already decided")
	if _, err := s.Update(ctx, "a", func(*store.Request) error { return refusal }); !errors.Is(err, refusal) {
		t.Fatalf("update: %v", err)
	}
	inner.fail = true
	if _, err := s.Get(ctx, "a"); !errors.Is(err, errBroken) {
		t.Fatalf("get: %v", err)
	}
	now = t0.Add(2 * time.Second) // c expired

	f := families(t, m)
	want(t, f, 5, "cibalab_store_operations_total", "operation", "create")
	want(t, f, 0, "cibalab_store_errors_total", "operation", "create")
	want(t, f, 2, "cibalab_store_operations_total", "operation", "get")
	want(t, f, 1, "cibalab_store_errors_total", "operation", "get")
	want(t, f, 1, "cibalab_store_operations_total", "operation", "update")
	want(t, f, 0, "cibalab_store_errors_total", "operation", "update")
	want(t, f, 2, "cibalab_auth_requests_pending", "client_id", "c1")
	if _, ok := value(f, "cibalab_auth_requests_pending", "client_id", "c2"); ok {
		t.Error("c2's only pending request expired, yet it is counted")
	}
	// Scraping reads the unwrapped store: it is no store operation.
	want(t, families(t, m), 0, "cibalab_store_operations_total", "operation", "list")
}

// TestHealth: /healthz answers while the process runs; /readyz answers 503
// naming the check that failed, 200 when all pass.
func TestHealth(t *testing.T) {
	var natsDown error
	m := New(Config{Checks: []Check{
		{Name: "https", Check: func(context.Context) error { return nil }},
		{Name: "nats", Check: func(context.Context) error { return natsDown }},
	}})
	h := m.Handler()
	if status, body := get(t, h, "/healthz"); status != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", status, body)
	}
	if status, body := get(t, h, "/readyz"); status != 200 || body != "https: ok\nnats: ok\n" {
		t.Errorf("/readyz: %d %q", status, body)
	}
	natsDown = errors.New("the NATS connection is RECONNECTING")
	if status, body := get(t, h, "/readyz"); status != 503 || body != "https: ok\nnats: the NATS connection is RECONNECTING\n" {
		t.Errorf("/readyz with NATS down: %d %q", status, body)
	}
	if status, _ := get(t, h, "/nothing"); status != 404 {
		t.Errorf("/nothing: %d", status)
	}
}

// TestRegistriesAreOwn: two Metrics do not share counters.
func TestRegistriesAreOwn(t *testing.T) {
	a, b := New(Config{}), New(Config{})
	a.Exchange(context.Background(), op.Exchange{Endpoint: "jwks", Status: 200})
	if _, ok := value(families(t, b), "cibalab_http_requests_total", "endpoint", "jwks", "outcome", "ok"); ok {
		t.Fatal("a's exchange shows in b")
	}
	want(t, families(t, a), 1, "cibalab_http_requests_total", "endpoint", "jwks", "outcome", "ok")
}

// TestDocsListEveryMetric: docs/architecture.md lists every cibalab_
// metric a fully configured Metrics exports.
func TestDocsListEveryMetric(t *testing.T) {
	ns, err := bus.StartServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	nc, err := ns.ConnectOP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	m := New(Config{NATS: nc, Devices: ns.ConnectedDevices})
	ctx := context.Background()
	s := m.Store(store.NewMemory())
	r := &store.Request{ID: "a", ClientID: "c", Status: store.StatusPending, CreatedAt: t0, ExpiresAt: time.Now().Add(time.Hour)}
	if err := s.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	m.Exchange(ctx, op.Exchange{Endpoint: op.EndpointToken, GrantType: "refresh_token", Status: 200})
	m.Notification(ctx, op.Notification{Mode: op.NotifyPush, Kind: op.KindTokens})
	m.Notification(ctx, op.Notification{Mode: op.NotifyPush, Kind: op.KindTokens, Err: errBroken})
	m.Transition(ctx, authreq.Event{Type: authreq.EventApproved, Time: t0, Request: r})
	m.Transition(ctx, authreq.Event{Type: authreq.EventRedeemed, Time: t0, Request: &store.Request{DecidedAt: t0}})

	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	fams := families(t, m)
	n := 0
	for name := range fams {
		if !strings.HasPrefix(name, "cibalab_") {
			continue
		}
		n++
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/architecture.md does not list %s", name)
		}
	}
	if n != 14 {
		t.Errorf("%d cibalab_ metrics exported, want the 14 of docs/architecture.md", n)
	}
}
