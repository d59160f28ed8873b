package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/store"
)

// RunJTIs runs the suite against jti stores made by newStore, one per
// subtest: first use, replay, reuse after expiry, concurrent first uses
// and forgetting expired keys.
func RunJTIs(t *testing.T, newStore func(t *testing.T) store.JTIStore) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, s store.JTIStore)
	}{
		{"replay refused until expiry", func(t *testing.T, s store.JTIStore) {
			if err := s.UseJTI(ctx, "c1\x00j1", t0.Add(time.Minute), t0); err != nil {
				t.Fatal(err)
			}
			if err := s.UseJTI(ctx, "c1\x00j1", t0.Add(time.Minute), t0.Add(time.Second)); !errors.Is(err, store.ErrReplay) {
				t.Fatalf("replay: %v, want ErrReplay", err)
			}
			if err := s.UseJTI(ctx, "c2\x00j1", t0.Add(time.Minute), t0); err != nil {
				t.Fatalf("another key: %v", err)
			}
			if err := s.UseJTI(ctx, "c1\x00j1", t0.Add(3*time.Minute), t0.Add(2*time.Minute)); err != nil {
				t.Fatalf("after expiry: %v", err)
			}
			if err := s.UseJTI(ctx, "c1\x00j1", t0.Add(3*time.Minute), t0.Add(2*time.Minute)); !errors.Is(err, store.ErrReplay) {
				t.Fatalf("replay of the renewed key: %v, want ErrReplay", err)
			}
		}},
		{"concurrent first uses", func(t *testing.T, s store.JTIStore) {
			var wins atomic.Int32
			var wg sync.WaitGroup
			for range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if s.UseJTI(ctx, "k", t0.Add(time.Minute), t0) == nil {
						wins.Add(1)
					}
				}()
			}
			wg.Wait()
			if wins.Load() != 1 {
				t.Fatalf("%d uses of one jti accepted, want 1", wins.Load())
			}
		}},
		{"delete expired", func(t *testing.T, s store.JTIStore) {
			s.UseJTI(ctx, "old", t0.Add(time.Minute), t0)
			s.UseJTI(ctx, "new", t0.Add(time.Hour), t0)
			n, err := s.DeleteExpiredJTIs(ctx, t0.Add(2*time.Minute))
			if err != nil || n != 1 {
				t.Fatalf("n = %d, %v", n, err)
			}
			if err := s.UseJTI(ctx, "new", t0.Add(time.Hour), t0.Add(3*time.Minute)); !errors.Is(err, store.ErrReplay) {
				t.Fatalf("live key forgotten: %v", err)
			}
		}},
		{"cancelled context", func(t *testing.T, s store.JTIStore) {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if err := s.UseJTI(cctx, "k", t0.Add(time.Minute), t0); err == nil {
				t.Fatal("UseJTI with a cancelled context succeeded")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newStore(t)) })
	}
}
