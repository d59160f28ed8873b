package bus

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/cibalab/cibalab/shared/channel"
)

// calloutServer starts a NATS server that asks auth callout about every
// connection but the user "op", and a Callout answering on op's
// connection; it returns the server's URL, the Callout and op's
// connection.
func calloutServer(t *testing.T) (string, *Callout, *nats.Conn) {
	t.Helper()
	issuer, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := issuer.PublicKey()
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, AuthTimeout: 1, AlwaysEnableNonce: true,
		Users:       []*server.User{{Username: "op", Password: "op-password"}},
		AuthCallout: &server.AuthCallout{Issuer: pub, AuthUsers: []string{"op"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	op, err := nats.Connect(ns.ClientURL(), nats.UserInfo("op", "op-password"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(op.Close)
	c, err := NewCallout(CalloutConfig{Conn: op, Issuer: issuer})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return ns.ClientURL(), c, op
}

// deviceConn connects with the nkey of kp, its nonce signed by sign.
func deviceConn(url string, kp nkeys.KeyPair, sign func([]byte) ([]byte, error), errs chan error) (*nats.Conn, error) {
	pub, _ := kp.PublicKey()
	return nats.Connect(url, nats.Nkey(pub, sign), nats.MaxReconnects(0), nats.Timeout(5*time.Second),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
}

// TestCallout: on an external server with auth callout, an enrolled
// device gets exactly its grant, a connection without credentials may
// only say hello, and unknown or forged nkeys are refused.
func TestCallout(t *testing.T) {
	url, callout, op := calloutServer(t)
	dev, _ := nkeys.CreateUser()
	devPub, _ := dev.PublicKey()
	realm := "lab"
	grant := DeviceGrant{NKey: devPub,
		Publish:   []string{channel.DevicePendingSubject(realm, "d1")},
		Subscribe: []string{channel.UserRequestsSubject(realm, "alice")}}
	if err := callout.SetDevices([]DeviceGrant{grant}); err != nil {
		t.Fatal(err)
	}
	got := make(chan *nats.Msg, 16)
	for _, subj := range []string{channel.DevicePendingSubject(realm, "d1"), channel.DevicePendingSubject(realm, "d2"), channel.EnrollSubject(realm)} {
		if _, err := op.ChanSubscribe(subj, got); err != nil {
			t.Fatal(err)
		}
	}
	op.Flush()

	errs := make(chan error, 16)
	nc, err := deviceConn(url, dev, dev.Sign, errs)
	if err != nil {
		t.Fatalf("enrolled device refused: %v", err)
	}
	defer nc.Close()
	// Its own subject goes through; another device's does not.
	nc.Publish(channel.DevicePendingSubject(realm, "d2"), []byte("other"))
	nc.Publish(channel.DevicePendingSubject(realm, "d1"), []byte("mine"))
	nc.Flush()
	select {
	case m := <-got:
		if string(m.Data) != "mine" {
			t.Fatalf("OP received %q on %s, want only the device's own subject", m.Data, m.Subject)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the device's message on its own subject did not arrive")
	}
	wantViolation(t, errs, "publish")
	// It reads its user's requests, not another user's.
	if _, err := nc.SubscribeSync(channel.UserRequestsSubject(realm, "bob")); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	wantViolation(t, errs, "subscription")

	// Without credentials: a hello, and nothing else.
	anonErrs := make(chan error, 16)
	anon, err := nats.Connect(url, nats.MaxReconnects(0), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { anonErrs <- err }))
	if err != nil {
		t.Fatalf("a connection without credentials was refused: %v", err)
	}
	defer anon.Close()
	anon.Publish(channel.EnrollSubject(realm), []byte("hello"))
	anon.Flush()
	select {
	case m := <-got:
		if m.Subject != channel.EnrollSubject(realm) {
			t.Fatalf("got %s, want the hello", m.Subject)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the hello did not arrive")
	}
	anon.SubscribeSync(channel.UserRequestsSubject(realm, "alice"))
	anon.Flush()
	wantViolation(t, anonErrs, "subscription")

	// A forged signature is refused; so is an nkey nobody admitted.
	other, _ := nkeys.CreateUser()
	if _, err := deviceConn(url, dev, other.Sign, make(chan error, 16)); err == nil {
		t.Fatal("a connection signing with another key was admitted")
	}
	if _, err := deviceConn(url, other, other.Sign, make(chan error, 16)); err == nil {
		t.Fatal("an unknown nkey was admitted")
	}
	// A device withdrawn from the grants is refused from then on.
	callout.SetDevices(nil)
	if _, err := deviceConn(url, dev, dev.Sign, make(chan error, 16)); err == nil {
		t.Fatal("a withdrawn device was admitted")
	}
}

// wantViolation waits for a permissions violation about what.
func wantViolation(t *testing.T, errs chan error, what string) {
	t.Helper()
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) && !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Fatalf("error %v, want a permissions violation", err)
		}
		if !strings.Contains(strings.ToLower(err.Error()), what) {
			t.Fatalf("violation %v, want one about %s", err, what)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no permissions violation for a forbidden %s", what)
	}
}

func TestNewCalloutChecksIssuer(t *testing.T) {
	user, _ := nkeys.CreateUser()
	if _, err := NewCallout(CalloutConfig{Conn: &nats.Conn{}, Issuer: user}); err == nil {
		t.Fatal("a user nkey accepted as issuer")
	}
	acc, _ := nkeys.CreateAccount()
	pub, _ := acc.PublicKey()
	pubOnly, _ := nkeys.FromPublicKey(pub)
	if _, err := NewCallout(CalloutConfig{Conn: &nats.Conn{}, Issuer: pubOnly}); err == nil {
		t.Fatal("an issuer without its seed accepted")
	}
}
