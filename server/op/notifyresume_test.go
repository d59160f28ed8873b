package op

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/store"
)

// replica builds another provider on the fixture's store, registry and
// clock, as a second OP sharing them, whose notifications reach e.
func (f *fixture) replica(t *testing.T, e *notifyEndpoint) *Provider {
	t.Helper()
	cfg := f.p.cfg
	cfg.NotificationClient = e.srv.Client()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.notifier.backoff = func(int) time.Duration { return 0 }
	t.Cleanup(func() { p.Close() })
	return p
}

// resumeAll calls ResumeDeliveries on every provider at once and returns
// how many deliveries they started in all, once those ended.
func resumeAll(t *testing.T, ps ...*Provider) int {
	t.Helper()
	var wg sync.WaitGroup
	counts := make([]int, len(ps))
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := p.ResumeDeliveries(context.Background())
			if err != nil {
				t.Error(err)
			}
			counts[i] = n
		}()
	}
	wg.Wait()
	total := 0
	for i, p := range ps {
		p.notifier.wg.Wait()
		total += counts[i]
	}
	return total
}

// TestDeliveryResumedByAnotherOP: the OP that accepted a decision for a
// push client stops answering in the middle of its delivery. While its
// claim holds, nobody else delivers; once it ran out, exactly one of two
// other OPs sharing the store resumes the delivery, the client receives
// the tokens once, and the stuck OP, when it stops, delivers nothing
// more. A delivery cut short by Close is released and resumed at once.
func TestDeliveryResumedByAnotherOP(t *testing.T) {
	for _, tt := range []struct {
		name  string
		crash bool // the first OP stops answering rather than closing
	}{{"owner stuck, claim runs out", true}, {"owner closed", false}} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			e := newNotifyEndpoint(t, nil)
			bt := &blockingTransport{seen: make(chan []byte, 1)}
			f.withNotifications(t, e, &http.Client{Transport: bt})
			b, c := f.replica(t, e), f.replica(t, e)

			id := f.startAs(t, "pusher", nil)
			f.decide(t, id, true)
			<-bt.seen // the first OP's push is in flight, and never answered
			if n := resumeAll(t, b, c); n != 0 {
				t.Fatalf("%d deliveries resumed while the owner's claim holds", n)
			}
			if tt.crash {
				f.clock.Advance(deliveryLease + time.Second)
			} else {
				f.p.Close()
			}
			if n := resumeAll(t, b, c); n != 1 {
				t.Fatalf("%d deliveries resumed by two OPs, want 1", n)
			}
			f.p.Close()
			f.settle()
			calls := e.Calls()
			if len(calls) != 1 {
				t.Fatalf("the client endpoint received %d pushes, want 1", len(calls))
			}
			if body := pushBody(t, calls[0]); body["auth_req_id"] != id || body["access_token"] == nil {
				t.Fatalf("push %v", body)
			}
			req := f.request(t, id)
			if req.Status != store.StatusRedeemed || req.DeliveryEnded.IsZero() || req.DeliveryOwner == f.p.instance {
				t.Fatalf("request after the resumed push: status %s, ended %v, owner is the first OP: %v", req.Status, req.DeliveryEnded, req.DeliveryOwner == f.p.instance)
			}
			if n := resumeAll(t, b, c); n != 0 {
				t.Fatalf("%d deliveries resumed after the push was delivered", n)
			}
		})
	}
}
