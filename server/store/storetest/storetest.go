package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/store"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newRequest(id, user string, created time.Time) *store.Request {
	return &store.Request{
		ID: id, ClientID: "c1", User: user, Scope: []string{"openid"},
		CreatedAt: created, ExpiresAt: created.Add(time.Minute), LastPoll: created,
		Interval: 5 * time.Second, Status: store.StatusPending,
	}
}

// Run runs the suite against stores made by newStore, one per subtest.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"create and get", func(t *testing.T, s store.Store) {
			r := newRequest("a", "alice", t0)
			if err := s.Create(ctx, r); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, "a")
			if err != nil {
				t.Fatal(err)
			}
			if got.User != "alice" || got.Status != store.StatusPending || !got.CreatedAt.Equal(t0) || got.Scope[0] != "openid" {
				t.Fatalf("got %+v", got)
			}
			got.Scope[0] = "mutated"
			again, _ := s.Get(ctx, "a")
			if again.Scope[0] != "openid" {
				t.Fatal("Get returned shared memory")
			}
		}},
		{"authorization_details kept", func(t *testing.T, s store.Store) {
			r := newRequest("a", "alice", t0)
			r.AuthorizationDetails = `[{"type":"a"},{"type":"b"}]`
			if err := s.Create(ctx, r); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Update(ctx, "a", func(r *store.Request) error {
				r.Status, r.GrantedDetails = store.StatusApproved, `[{"type":"b"}]`
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, "a")
			if err != nil || got.AuthorizationDetails != r.AuthorizationDetails || got.GrantedDetails != `[{"type":"b"}]` {
				t.Fatalf("got %+v, %v", got, err)
			}
		}},
		{"create twice", func(t *testing.T, s store.Store) {
			if err := s.Create(ctx, newRequest("a", "alice", t0)); err != nil {
				t.Fatal(err)
			}
			if err := s.Create(ctx, newRequest("a", "bob", t0)); !errors.Is(err, store.ErrExists) {
				t.Fatalf("err = %v, want ErrExists", err)
			}
			got, _ := s.Get(ctx, "a")
			if got.User != "alice" {
				t.Fatal("second Create overwrote the first")
			}
		}},
		{"get unknown", func(t *testing.T, s store.Store) {
			if _, err := s.Get(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("err = %v", err)
			}
			if _, err := s.Update(ctx, "nope", func(*store.Request) error { return nil }); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("update err = %v", err)
			}
		}},
		{"update applies and aborts", func(t *testing.T, s store.Store) {
			s.Create(ctx, newRequest("a", "alice", t0))
			before, _ := s.Get(ctx, "a")
			got, err := s.Update(ctx, "a", func(r *store.Request) error { r.Status = store.StatusApproved; return nil })
			if err != nil || got.Status != store.StatusApproved || got.Revision == before.Revision {
				t.Fatalf("got %+v, %v", got, err)
			}
			boom := errors.New("boom")
			if _, err := s.Update(ctx, "a", func(r *store.Request) error { r.Status = store.StatusDenied; return boom }); !errors.Is(err, boom) {
				t.Fatalf("err = %v", err)
			}
			if cur, _ := s.Get(ctx, "a"); cur.Status != store.StatusApproved {
				t.Fatalf("aborted update was written: %v", cur.Status)
			}
		}},
		{"concurrent redeem happens once", func(t *testing.T, s store.Store) {
			r := newRequest("a", "alice", t0)
			r.Status = store.StatusApproved
			s.Create(ctx, r)
			var wins atomic.Int32
			var wg sync.WaitGroup
			for range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := s.Update(ctx, "a", func(r *store.Request) error {
						if r.Status != store.StatusApproved {
							return errors.New("not approved")
						}
						r.Status = store.StatusRedeemed
						return nil
					})
					if err == nil {
						wins.Add(1)
					}
				}()
			}
			wg.Wait()
			if wins.Load() != 1 {
				t.Fatalf("%d redeems succeeded, want exactly 1", wins.Load())
			}
		}},
		{"concurrent counters lose nothing", func(t *testing.T, s store.Store) {
			s.Create(ctx, newRequest("a", "alice", t0))
			var wg sync.WaitGroup
			for range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := s.Update(ctx, "a", func(r *store.Request) error { r.Polls++; return nil }); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if got, _ := s.Get(ctx, "a"); got.Polls != 20 {
				t.Fatalf("Polls = %d, want 20", got.Polls)
			}
		}},
		{"list filters and orders", func(t *testing.T, s store.Store) {
			s.Create(ctx, newRequest("b", "alice", t0.Add(time.Second)))
			s.Create(ctx, newRequest("a", "alice", t0))
			s.Create(ctx, newRequest("c", "bob", t0))
			d := newRequest("d", "alice", t0)
			d.Status = store.StatusDenied
			s.Create(ctx, d)
			got, err := s.List(ctx, "alice", store.StatusPending)
			if err != nil {
				t.Fatal(err)
			}
			if ids := idsOf(got); ids != "[a b]" {
				t.Fatalf("ids = %s", ids)
			}
			all, _ := s.List(ctx, "", store.StatusPending)
			if len(all) != 3 {
				t.Fatalf("all = %s", idsOf(all))
			}
		}},
		{"list expired", func(t *testing.T, s store.Store) {
			// newRequest's requests expire 1 minute after they are created.
			s.Create(ctx, newRequest("b", "alice", t0.Add(time.Second)))
			s.Create(ctx, newRequest("a", "bob", t0))
			s.Create(ctx, newRequest("live", "alice", t0.Add(time.Hour)))
			d := newRequest("d", "alice", t0)
			d.Status = store.StatusDenied
			s.Create(ctx, d)
			got, err := s.ListExpired(ctx, store.StatusPending, t0.Add(2*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if ids := idsOf(got); ids != "[a b]" {
				t.Fatalf("pending and expired = %s, want [a b]", ids)
			}
			if got, _ := s.ListExpired(ctx, store.StatusPending, t0.Add(time.Minute)); idsOf(got) != "[a]" {
				t.Fatalf("at its expiry instant = %s, want [a] (expired at ExpiresAt)", idsOf(got))
			}
			if got, _ := s.ListExpired(ctx, store.StatusDenied, t0.Add(2*time.Minute)); idsOf(got) != "[d]" {
				t.Fatalf("denied and expired = %s, want [d]", idsOf(got))
			}
		}},
		{"delete expired", func(t *testing.T, s store.Store) {
			s.Create(ctx, newRequest("old", "alice", t0))
			s.Create(ctx, newRequest("new", "alice", t0.Add(time.Hour)))
			n, err := s.DeleteExpired(ctx, t0.Add(2*time.Minute))
			if err != nil || n != 1 {
				t.Fatalf("n = %d, %v", n, err)
			}
			if _, err := s.Get(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
				t.Fatal("expired request still there")
			}
			if _, err := s.Get(ctx, "new"); err != nil {
				t.Fatal(err)
			}
		}},
		{"cancelled context", func(t *testing.T, s store.Store) {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if err := s.Create(cctx, newRequest("a", "alice", t0)); err == nil {
				t.Fatal("Create with a cancelled context succeeded")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newStore(t)) })
	}
}

func idsOf(rs []*store.Request) string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return fmt.Sprint(ids)
}
