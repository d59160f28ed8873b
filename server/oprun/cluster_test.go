package oprun

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/cibalab/cibalab/server/simdevice"
	"github.com/cibalab/cibalab/shared/channel"
)

// TestTwoOPsOnExternalNATS: two OPs share one NATS server with JetStream
// and auth callout: the registry and the requests live in JetStream, the
// OPs admit the device through auth callout. A device enrolls over NATS,
// receives the request created on OP A and, after OP A stopped, approves
// it; OP B hands out the tokens.
func TestTwoOPsOnExternalNATS(t *testing.T) {
	issuer, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	issuerPub, _ := issuer.PublicKey()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true, AuthTimeout: 2, AlwaysEnableNonce: true,
		Users:       []*server.User{{Username: "ciba-op", Password: "op-secret"}},
		AuthCallout: &server.AuthCallout{Issuer: issuerPub, AuthUsers: []string{"ciba-op"}}})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	deviceURL := "nats://" + ns.Addr().String()
	opURL := "nats://ciba-op:op-secret@" + ns.Addr().String()
	key := []byte("0123456789abcdef0123456789abcdef")
	clock := &testClock{t: time.Now()}
	start := func(name string) *Server {
		s, err := Start(Config{StateDir: filepath.Join(t.TempDir(), name), Addr: "127.0.0.1:0", NATSURL: opURL, Persist: true,
			Registry: RegistryJetStream, RegistryKey: key, NATSAuthCallout: issuer, PasswordIterations: 1000, Now: clock.Now})
		if err != nil {
			t.Fatalf("start OP %s: %v", name, err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := start("a"), start("b")

	got := make(chan channel.AuthRequest, 8)
	dev, err := simdevice.New(simdevice.Config{NATSURL: deviceURL, Realm: "master", User: "user", Password: "password",
		Now: clock.Now, OnRequest: func(r channel.AuthRequest) { got <- r }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := dev.Connect(ctx); err != nil {
		t.Fatalf("the device could not enroll and connect through auth callout: %v", err)
	}
	t.Cleanup(dev.Drop)

	id := backchannel(t, a)
	select {
	case r := <-got:
		if r.AuthReqID != id {
			t.Fatalf("the device received %s, want %s", r.AuthReqID, id)
		}
	case <-ctx.Done():
		t.Fatal("the device did not receive the request created on OP A")
	}
	// OP A stops; the decision reaches OP B, which holds the request too
	// (in JetStream). B learns of the device from the registry within its
	// device sync interval (1 s), so the first attempts may find nobody
	// listening.
	a.Close()
	for {
		err := dev.Decide(ctx, id, true, nil)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("approve through OP B: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	clock.Add(10 * time.Second) // past the interval
	status, body := post(t, b, "/mtls/token", url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {id}})
	if status != http.StatusOK || body["access_token"] == nil || body["id_token"] == nil {
		t.Fatalf("token from OP B: %d %v", status, body)
	}
}
