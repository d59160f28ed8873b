package natskv_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/server/store/natskv"
	"github.com/cibalab/cibalab/server/store/storetest"
)

// startJetStream starts a nats-server with JetStream on a random loopback
// port, its data in a temporary directory, and returns a JetStream context
// on a connection to it.
func startJetStream(t testing.TB) jetstream.JetStream {
	t.Helper()
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
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
	return js
}

func TestJetStreamConformance(t *testing.T) {
	js := startJetStream(t)
	var n atomic.Int32
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := natskv.New(context.Background(), js, natskv.Config{Bucket: fmt.Sprintf("requests_%d", n.Add(1))})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestJetStreamSharedBucket: two stores on one bucket (two OP replicas)
// see each other's requests, and an ID that is not a valid key survives
// the round trip.
func TestJetStreamSharedBucket(t *testing.T) {
	ctx := context.Background()
	js := startJetStream(t)
	a, err := natskv.New(ctx, js, natskv.Config{Realm: "lab"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := natskv.New(ctx, js, natskv.Config{Realm: "lab"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.KeyValue(ctx, "cibalab_requests_lab"); err != nil {
		t.Fatalf("default bucket: %v", err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, id := range []string{"Zm9v-YmFy_", "has space", "a.b", "=x", "ünï"} {
		if err := a.Create(ctx, &store.Request{ID: id, User: "alice", Status: store.StatusPending, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
			t.Fatalf("Create(%q): %v", id, err)
		}
		got, err := b.Get(ctx, id)
		if err != nil || got.ID != id || got.User != "alice" {
			t.Fatalf("Get(%q) = %+v, %v", id, got, err)
		}
		upd, err := b.Update(ctx, id, func(r *store.Request) error { r.Status = store.StatusApproved; return nil })
		if err != nil {
			t.Fatalf("Update(%q): %v", id, err)
		}
		if again, _ := a.Get(ctx, id); again.Status != store.StatusApproved || again.Revision != upd.Revision {
			t.Fatalf("Get(%q) after Update = %+v", id, again)
		}
	}
	list, err := a.List(ctx, "alice", store.StatusApproved)
	if err != nil || len(list) != 5 {
		t.Fatalf("List = %d requests, %v", len(list), err)
	}
}

func TestJetStreamTokensConformance(t *testing.T) {
	js := startJetStream(t)
	var n atomic.Int32
	storetest.RunTokens(t, func(t *testing.T) store.TokenStore {
		s, err := natskv.NewTokens(context.Background(), js, natskv.Config{Bucket: fmt.Sprintf("tokens_%d", n.Add(1))})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestJetStreamTokensShared: two token stores on one bucket (two OP
// replicas) spend a refresh token once between them, and a family revoked
// through one refuses new tokens through the other.
func TestJetStreamTokensShared(t *testing.T) {
	ctx := context.Background()
	js := startJetStream(t)
	var stores [2]*natskv.Tokens
	for i := range stores {
		s, err := natskv.NewTokens(ctx, js, natskv.Config{Realm: "lab"})
		if err != nil {
			t.Fatal(err)
		}
		stores[i] = s
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tok := &store.Token{Hash: "h1", Family: "f1", ClientID: "c", User: "alice", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := stores[0].CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	done := make(chan struct{})
	for i := range 16 {
		go func() {
			defer func() { done <- struct{}{} }()
			_, err := stores[i%2].UpdateToken(ctx, "h1", func(tk *store.Token) error {
				if !tk.Active(now) {
					return store.ErrNotFound
				}
				tk.UsedAt = now
				return nil
			})
			if err == nil {
				wins.Add(1)
			}
		}()
	}
	for range 16 {
		<-done
	}
	if wins.Load() != 1 {
		t.Fatalf("%d spends of one refresh token, want 1", wins.Load())
	}
	revoked, err := stores[1].RevokeFamily(ctx, "f1", now)
	if err != nil || len(revoked) != 1 {
		t.Fatalf("RevokeFamily = %d tokens, %v", len(revoked), err)
	}
	next := &store.Token{Hash: "h2", Family: "f1", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := stores[0].CreateToken(ctx, next); !errors.Is(err, store.ErrFamilyRevoked) {
		t.Fatalf("CreateToken in a family revoked by the other replica: %v", err)
	}
}

func TestJetStreamJTIsConformance(t *testing.T) {
	js := startJetStream(t)
	var n atomic.Int32
	storetest.RunJTIs(t, func(t *testing.T) store.JTIStore {
		s, err := natskv.NewJTIs(context.Background(), js, natskv.Config{Bucket: fmt.Sprintf("jtis_%d", n.Add(1))})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestJetStreamLockoutsConformance(t *testing.T) {
	js := startJetStream(t)
	var n atomic.Int32
	storetest.RunLockouts(t, func(t *testing.T) store.LockoutStore {
		s, err := natskv.NewLockouts(context.Background(), js, natskv.Config{Bucket: fmt.Sprintf("lockouts_%d", n.Add(1))})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
