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

func newToken(hash, family string, issued time.Time) *store.Token {
	return &store.Token{
		Hash: hash, Family: family, ClientID: "c1", User: "alice", Scope: []string{"openid"},
		CertThumbprint: "x5t", AMR: []string{"pwd"}, IssuedAt: issued, ExpiresAt: issued.Add(time.Hour),
	}
}

// RunTokens runs the suite against token stores made by newStore, one per
// subtest: create, get, compare-and-swap rotation under contention, family
// revocation, revoked access tokens and expiry.
func RunTokens(t *testing.T, newStore func(t *testing.T) store.TokenStore) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, s store.TokenStore)
	}{
		{"create and get", func(t *testing.T, s store.TokenStore) {
			if err := s.CreateToken(ctx, newToken("h1", "f1", t0)); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetToken(ctx, "h1")
			if err != nil {
				t.Fatal(err)
			}
			if got.Family != "f1" || got.User != "alice" || !got.IssuedAt.Equal(t0) || !got.Active(t0) {
				t.Fatalf("got %+v", got)
			}
			got.Scope[0] = "mutated"
			got.AMR[0] = "mutated"
			again, _ := s.GetToken(ctx, "h1")
			if again.Scope[0] != "openid" || again.AMR[0] != "pwd" {
				t.Fatal("GetToken returned shared memory")
			}
		}},
		{"create twice", func(t *testing.T, s store.TokenStore) {
			s.CreateToken(ctx, newToken("h1", "f1", t0))
			other := newToken("h1", "f2", t0)
			if err := s.CreateToken(ctx, other); !errors.Is(err, store.ErrExists) {
				t.Fatalf("err = %v, want ErrExists", err)
			}
			if got, _ := s.GetToken(ctx, "h1"); got.Family != "f1" {
				t.Fatal("second CreateToken overwrote the first")
			}
		}},
		{"unknown", func(t *testing.T, s store.TokenStore) {
			if _, err := s.GetToken(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("err = %v", err)
			}
			if _, err := s.UpdateToken(ctx, "nope", func(*store.Token) error { return nil }); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("update err = %v", err)
			}
		}},
		{"update applies and aborts", func(t *testing.T, s store.TokenStore) {
			s.CreateToken(ctx, newToken("h1", "f1", t0))
			before, _ := s.GetToken(ctx, "h1")
			got, err := s.UpdateToken(ctx, "h1", func(tk *store.Token) error { tk.UsedAt = t0; tk.Family = "changed"; return nil })
			if err != nil || !got.UsedAt.Equal(t0) || got.Revision == before.Revision || got.Active(t0) {
				t.Fatalf("got %+v, %v", got, err)
			}
			if got.Family != "f1" {
				t.Fatal("UpdateToken changed the family")
			}
			boom := errors.New("boom")
			if _, err := s.UpdateToken(ctx, "h1", func(tk *store.Token) error { tk.RevokedAt = t0; return boom }); !errors.Is(err, boom) {
				t.Fatalf("err = %v", err)
			}
			if cur, _ := s.GetToken(ctx, "h1"); !cur.RevokedAt.IsZero() {
				t.Fatal("aborted update was written")
			}
		}},
		{"concurrent rotation happens once", func(t *testing.T, s store.TokenStore) {
			s.CreateToken(ctx, newToken("h1", "f1", t0))
			var wins atomic.Int32
			var wg sync.WaitGroup
			for range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := s.UpdateToken(ctx, "h1", func(tk *store.Token) error {
						if !tk.Active(t0) {
							return errors.New("spent")
						}
						tk.UsedAt = t0
						return nil
					})
					if err == nil {
						wins.Add(1)
					}
				}()
			}
			wg.Wait()
			if wins.Load() != 1 {
				t.Fatalf("%d rotations succeeded, want exactly 1", wins.Load())
			}
		}},
		{"revoke family", func(t *testing.T, s store.TokenStore) {
			s.CreateToken(ctx, newToken("a", "f1", t0))
			s.CreateToken(ctx, newToken("b", "f1", t0))
			s.CreateToken(ctx, newToken("c", "f2", t0))
			got, err := s.RevokeFamily(ctx, "f1", t0.Add(time.Minute))
			if err != nil || len(got) != 2 {
				t.Fatalf("revoked %d, %v", len(got), err)
			}
			for _, h := range []string{"a", "b"} {
				if tk, _ := s.GetToken(ctx, h); tk.Active(t0) || !tk.RevokedAt.Equal(t0.Add(time.Minute)) {
					t.Fatalf("%s still active: %+v", h, tk)
				}
			}
			if tk, _ := s.GetToken(ctx, "c"); !tk.Active(t0) {
				t.Fatal("another family was revoked")
			}
			again, err := s.RevokeFamily(ctx, "f1", t0.Add(2*time.Minute))
			if err != nil || len(again) != 0 {
				t.Fatalf("second revocation returned %d tokens", len(again))
			}
			if tk, _ := s.GetToken(ctx, "a"); !tk.RevokedAt.Equal(t0.Add(time.Minute)) {
				t.Fatal("second revocation moved RevokedAt")
			}
		}},
		{"a revoked family takes no new tokens", func(t *testing.T, s store.TokenStore) {
			// A rotation that lost the race against a replay: the replay
			// revoked the family before the rotated token was stored.
			s.CreateToken(ctx, newToken("a", "f1", t0))
			if _, err := s.RevokeFamily(ctx, "f1", t0.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateToken(ctx, newToken("b", "f1", t0.Add(2*time.Minute))); !errors.Is(err, store.ErrFamilyRevoked) {
				t.Fatalf("CreateToken in a revoked family: %v, want ErrFamilyRevoked", err)
			}
			if _, err := s.GetToken(ctx, "b"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("the refused token was stored: %v", err)
			}
			if err := s.CreateToken(ctx, newToken("c", "f2", t0)); err != nil {
				t.Fatalf("another family: %v", err)
			}
			// The record lasts while the family's tokens could be live.
			if _, err := s.DeleteExpiredTokens(ctx, t0.Add(30*time.Minute)); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateToken(ctx, newToken("d", "f1", t0)); !errors.Is(err, store.ErrFamilyRevoked) {
				t.Fatalf("the revocation was forgotten before the family expired: %v", err)
			}
		}},
		{"revoked access tokens", func(t *testing.T, s store.TokenStore) {
			if ok, err := s.AccessTokenRevoked(ctx, "j1"); ok || err != nil {
				t.Fatalf("unknown jti revoked: %v %v", ok, err)
			}
			if err := s.RevokeAccessToken(ctx, "j1", t0.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if ok, _ := s.AccessTokenRevoked(ctx, "j1"); !ok {
				t.Fatal("revoked jti not reported")
			}
			if ok, _ := s.AccessTokenRevoked(ctx, "j2"); ok {
				t.Fatal("another jti reported revoked")
			}
		}},
		{"delete expired", func(t *testing.T, s store.TokenStore) {
			s.CreateToken(ctx, newToken("old", "f1", t0))
			s.CreateToken(ctx, newToken("new", "f2", t0.Add(2*time.Hour)))
			s.RevokeAccessToken(ctx, "jold", t0.Add(time.Minute))
			s.RevokeAccessToken(ctx, "jnew", t0.Add(5*time.Hour))
			n, err := s.DeleteExpiredTokens(ctx, t0.Add(2*time.Hour))
			if err != nil || n != 2 {
				t.Fatalf("n = %d, %v", n, err)
			}
			if _, err := s.GetToken(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
				t.Fatal("expired token still there")
			}
			if _, err := s.GetToken(ctx, "new"); err != nil {
				t.Fatal(err)
			}
			if ok, _ := s.AccessTokenRevoked(ctx, "jnew"); !ok {
				t.Fatal("live revocation record removed")
			}
		}},
		{"cancelled context", func(t *testing.T, s store.TokenStore) {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if err := s.CreateToken(cctx, newToken("a", "f", t0)); err == nil {
				t.Fatal("CreateToken with a cancelled context succeeded")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newStore(t)) })
	}
}
