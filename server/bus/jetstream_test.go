package bus

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestJetStreamOnlyForTheOP: with JetStream on, the OP's connection can
// open a key-value bucket and a connection without credentials cannot use
// the JetStream API at all.
func TestJetStreamOnlyForTheOP(t *testing.T) {
	ns, err := StartServer("127.0.0.1:0", WithJetStream(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	opc, err := ns.ConnectOP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(opc.Close)
	js, err := jetstream.New(opc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "secret"})
	if err != nil {
		t.Fatalf("OP cannot use JetStream: %v", err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}

	errs := make(chan error, 4)
	anon, err := nats.Connect(ns.ClientURL(), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(anon.Close)
	ajs, err := jetstream.New(anon)
	if err != nil {
		t.Fatal(err)
	}
	// The request fails once refused; cancel it as soon as the server
	// reported the violation rather than wait for its timeout.
	actx, acancel := context.WithTimeout(ctx, 5*time.Second)
	defer acancel()
	opened := make(chan error, 1)
	go func() { _, err := ajs.KeyValue(actx, "secret"); opened <- err }()
	// The connection may not even subscribe to its reply inbox; the
	// publish to $JS.API is refused too.
wait:
	for {
		select {
		case err := <-errs:
			if !strings.Contains(err.Error(), "Permissions Violation") {
				t.Fatalf("err = %v, want a permissions violation", err)
			}
			if strings.Contains(err.Error(), "$JS.API") {
				break wait
			}
		case <-ctx.Done():
			t.Fatal("no permissions violation on $JS.API reported")
		}
	}
	acancel()
	if err := <-opened; err == nil {
		t.Fatal("a connection without credentials opened the OP's bucket")
	}
}
