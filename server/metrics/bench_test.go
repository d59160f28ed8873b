package metrics

import (
	"context"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/server/op"
	"github.com/cibalab/cibalab/server/store"
)

// BenchmarkPoll is what Metrics adds to one poll answered
// authorization_pending: counting the exchange and its transition. It
// asserts no speed.
func BenchmarkPoll(b *testing.B) {
	m := New(Config{})
	ctx := context.Background()
	s := m.Store(store.NewMemory())
	r := &store.Request{ID: "a", ClientID: "c", Status: store.StatusPending, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := s.Create(ctx, r); err != nil {
		b.Fatal(err)
	}
	x := op.Exchange{Endpoint: op.EndpointToken, GrantType: "urn:openid:params:grant-type:ciba", ClientID: "c", Req: "abcdef12",
		Status: 400, Error: "authorization_pending", Start: t0, Duration: 300 * time.Microsecond}
	e := authreq.Event{Type: authreq.EventPolled, Time: t0, Request: r, Detail: "authorization_pending"}
	b.ReportAllocs()
	for b.Loop() {
		m.Exchange(ctx, x)
		m.Transition(ctx, e)
	}
}
