package kvget

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func startJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("NATS server not ready")
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

// A bucket whose stream nobody serves (here: deleted under the handle)
// answers "no responders"; Get keeps asking until the stream is back.
func TestGetWaitsOutNoResponders(t *testing.T) {
	js := startJetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := jetstream.KeyValueConfig{Bucket: "b"}
	kv, err := js.CreateKeyValue(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteKeyValue(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, "k"); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("plain Get on a stream nobody serves: %v, want no responders", err)
	}

	back := make(chan error, 1)
	start := time.Now()
	go func() {
		time.Sleep(200 * time.Millisecond)
		_, err := js.CreateKeyValue(ctx, cfg)
		back <- err
	}()
	// The bucket comes back empty: once it is served, the answer is that
	// the key is not there.
	_, err = Get(ctx, kv, "k")
	if err := <-back; err != nil {
		t.Fatal(err)
	}
	if !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("Get: %v, want key not found from the bucket served again", err)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Fatalf("Get answered after %v, before the bucket was back", waited)
	}
}

// Get gives up with the last error when its context ends, and passes
// other answers through at once.
func TestGetStopsWithItsContext(t *testing.T) {
	js := startJetStream(t)
	ctx := context.Background()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Get(ctx, kv, "missing"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("missing key: %v, want key not found", err)
	}
	if err := js.DeleteKeyValue(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := Get(short, kv, "k"); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("Get after its context ended: %v, want no responders", err)
	}
	if waited := time.Since(start); waited < 100*time.Millisecond {
		t.Fatalf("Get returned after %v: it did not wait for its context", waited)
	}
}
