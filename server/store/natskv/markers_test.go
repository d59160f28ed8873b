package natskv

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cibalab/cibalab/server/store"
)

// TestSweepsLeaveNothing: once the sweeps removed the expired records and
// their markers are old enough, the buckets hold no message at all: no
// value, no history, no delete or purge marker.
func TestSweepsLeaveNothing(t *testing.T) {
	old := markerAge
	markerAge = -1 // every marker is old enough
	t.Cleanup(func() { markerAge = old })
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	later := now.Add(2 * time.Hour)

	reqs, err := New(ctx, js, Config{})
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := NewTokens(ctx, js, Config{})
	if err != nil {
		t.Fatal(err)
	}
	jtis, err := NewJTIs(ctx, js, Config{})
	if err != nil {
		t.Fatal(err)
	}
	lockouts, err := NewLockouts(ctx, js, Config{})
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(reqs.Create(ctx, &store.Request{ID: "r1", User: "alice", Status: store.StatusPending, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}))
	_, err = reqs.Update(ctx, "r1", func(r *store.Request) error { r.Status = store.StatusDenied; return nil })
	must(err)
	must(tokens.CreateToken(ctx, &store.Token{Hash: "h1", Family: "f1", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}))
	_, err = tokens.RevokeFamily(ctx, "f1", now)
	must(err)
	must(tokens.RevokeAccessToken(ctx, "at1", now.Add(time.Minute)))
	must(jtis.UseJTI(ctx, "c\x00j1", now.Add(time.Minute), now))
	_, err = lockouts.Fail(ctx, "c\x00u", now, store.LockoutRule{Max: 1, Window: time.Minute, Cooldown: time.Minute})
	must(err)

	for _, sweep := range []func() (int, error){
		func() (int, error) { return reqs.DeleteExpired(ctx, later) },
		func() (int, error) { return tokens.DeleteExpiredTokens(ctx, later) },
		func() (int, error) { return jtis.DeleteExpiredJTIs(ctx, later) },
		func() (int, error) { return lockouts.DeleteExpiredLockouts(ctx, later) },
	} {
		if _, err := sweep(); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range []string{"cibalab_requests_master", "cibalab_tokens_master", "cibalab_jtis_master", "cibalab_lockouts_master"} {
		st, err := js.Stream(ctx, "KV_"+b)
		must(err)
		info, err := st.Info(ctx)
		must(err)
		if info.State.Msgs != 0 {
			t.Errorf("%s holds %d messages after the sweep, want 0", b, info.State.Msgs)
		}
	}
}
