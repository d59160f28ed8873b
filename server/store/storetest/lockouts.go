package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/store"
)

// RunLockouts runs the suite against lockout stores made by newStore, one
// per subtest: failures lock a key out after the rule's maximum for its
// cooldown, a success forgets them, concurrent failures all count, and
// expired records are forgotten.
func RunLockouts(t *testing.T, newStore func(t *testing.T) store.LockoutStore) {
	ctx := context.Background()
	rule := store.LockoutRule{Max: 3, Window: time.Minute, Cooldown: 5 * time.Minute}
	tests := []struct {
		name string
		run  func(t *testing.T, s store.LockoutStore)
	}{
		{"locks out after max failures", func(t *testing.T, s store.LockoutStore) {
			for i := range 3 {
				started, err := s.Fail(ctx, "c\x00u", t0.Add(time.Duration(i)*time.Second), rule)
				if err != nil || started != (i == 2) {
					t.Fatalf("failure %d: started=%v, %v", i+1, started, err)
				}
			}
			if locked, err := s.Locked(ctx, "c\x00u", t0.Add(time.Minute)); !locked || err != nil {
				t.Fatalf("not locked out after 3 failures: %v %v", locked, err)
			}
			if locked, _ := s.Locked(ctx, "c\x00other", t0.Add(time.Minute)); locked {
				t.Fatal("another key locked out")
			}
			s.Succeed(ctx, "c\x00u", t0.Add(time.Minute))
			if locked, _ := s.Locked(ctx, "c\x00u", t0.Add(time.Minute)); !locked {
				t.Fatal("a success ended the cooling-off period")
			}
			if locked, _ := s.Locked(ctx, "c\x00u", t0.Add(2*time.Second+5*time.Minute)); locked {
				t.Fatal("still locked out after the cooldown")
			}
		}},
		{"success forgets failures", func(t *testing.T, s store.LockoutStore) {
			s.Fail(ctx, "k", t0, rule)
			s.Fail(ctx, "k", t0, rule)
			if err := s.Succeed(ctx, "k", t0); err != nil {
				t.Fatal(err)
			}
			if started, _ := s.Fail(ctx, "k", t0, rule); started {
				t.Fatal("failures counted across a success")
			}
		}},
		{"window restarts", func(t *testing.T, s store.LockoutStore) {
			s.Fail(ctx, "k", t0, rule)
			s.Fail(ctx, "k", t0, rule)
			if started, _ := s.Fail(ctx, "k", t0.Add(2*time.Minute), rule); started {
				t.Fatal("failures of an old window counted")
			}
		}},
		{"concurrent failures all count", func(t *testing.T, s store.LockoutStore) {
			many := store.LockoutRule{Max: 16, Window: time.Minute, Cooldown: time.Minute}
			var wg sync.WaitGroup
			starts := make(chan bool, 16)
			for range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					started, err := s.Fail(ctx, "k", t0, many)
					if err != nil {
						t.Error(err)
					}
					starts <- started
				}()
			}
			wg.Wait()
			close(starts)
			n := 0
			for s := range starts {
				if s {
					n++
				}
			}
			if locked, _ := s.Locked(ctx, "k", t0); !locked || n != 1 {
				t.Fatalf("16 concurrent failures of 16 allowed: locked=%v, %d lockouts started, want 1", locked, n)
			}
		}},
		{"delete expired", func(t *testing.T, s store.LockoutStore) {
			s.Fail(ctx, "old", t0, rule)
			for range 3 {
				s.Fail(ctx, "locked", t0, rule)
			}
			n, err := s.DeleteExpiredLockouts(ctx, t0.Add(2*time.Minute))
			if err != nil || n != 1 {
				t.Fatalf("n = %d, %v", n, err)
			}
			if locked, _ := s.Locked(ctx, "locked", t0.Add(2*time.Minute)); !locked {
				t.Fatal("a live lockout was forgotten")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newStore(t)) })
	}
}
