package bus

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/oauth"
)

// TestOperatorKey: the seed is created once, mode 0600, and read back the
// same; a seed others can read, or a file that is no seed, is refused.
func TestOperatorKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, OperatorSeedFile)
	pub, err := OperatorKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !nkeys.IsValidPublicUserKey(pub) {
		t.Fatalf("operator key %q is not a user nkey", pub)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("seed file mode %04o, want 0600", st.Mode().Perm())
	}
	again, err := OperatorKey(path)
	if err != nil || again != pub {
		t.Fatalf("second OperatorKey = %q, %v; want the same key %q", again, err, pub)
	}
	kp, err := ReadOperatorSeed(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := kp.PublicKey(); got != pub {
		t.Fatalf("ReadOperatorSeed key %q, want %q", got, pub)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("state directory holds %d files, want only the seed", len(entries))
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadOperatorSeed(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable seed: %v, want a refusal naming chmod 600", err)
	}
	if _, err := OperatorKey(path); err == nil {
		t.Fatal("OperatorKey accepted a world-readable seed")
	}
	bad := filepath.Join(dir, "bad.nk")
	if err := os.WriteFile(bad, []byte("not a seed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadOperatorSeed(bad); err == nil || !strings.Contains(err.Error(), "not an nkey seed") {
		t.Fatalf("garbage seed: %v", err)
	}
	if _, err := ReadOperatorSeed(filepath.Join(dir, "missing.nk")); err == nil {
		t.Fatal("a missing seed file was read")
	}
}

// operator connects with the operator's seed.
func operator(t testing.TB, url string, kp nkeys.KeyPair) (*nats.Conn, errs) {
	t.Helper()
	pub, _ := kp.PublicKey()
	e := make(errs, 10)
	nc, err := nats.Connect(url, e.handler(), nats.Nkey(pub, kp.Sign), nats.MaxReconnects(0))
	if err != nil {
		t.Fatalf("operator connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc, e
}

// TestOperatorReadsEventsOnly: the operator's nkey subscribes to the event
// stream and to nothing else, and publishes nothing; events are published
// only while somebody reads them; devices and anonymous connections still
// cannot read events.
func TestOperatorReadsEventsOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), OperatorSeedFile)
	pub, err := OperatorKey(path)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ReadOperatorSeed(path)
	if err != nil {
		t.Fatal(err)
	}
	var watched func() bool
	h := newHarnessServer(t, func(c *Config) {
		c.EventsWatched = func() bool { return watched() }
	}, WithOperator(pub, "master"))
	watched = h.ns.EventsWatched("master")
	alice := h.enroll(t, "alice")

	if h.r.Watched() {
		t.Fatal("events watched before anybody subscribed")
	}
	nc, e := operator(t, h.url, kp)
	events, err := nc.SubscribeSync(channel.EventsSubject("master"))
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !h.r.Watched() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !h.r.Watched() {
		t.Fatal("the operator's subscription is not seen as a watcher")
	}
	if err := h.r.Announce(context.Background(), channel.AuthRequest{Version: 1, AuthReqID: "secret-auth-req-id", ClientID: "c", User: "alice"}); err != nil {
		t.Fatal(err)
	}
	msg, err := events.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("no event: %v", err)
	}
	var ev channel.Event
	if err := json.Unmarshal(msg.Data, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != channel.EventRequestAnnounced || ev.ReqRef != oauth.ReqRef("secret-auth-req-id") || ev.User != "alice" || ev.AtMicros == 0 {
		t.Fatalf("event %+v, want request.announced for alice's request", ev)
	}
	if strings.Contains(string(msg.Data), "secret-auth-req-id") {
		t.Fatalf("the event carries the auth_req_id: %s", msg.Data)
	}

	for _, subject := range []string{
		channel.UserRequestsSubject("master", "alice"),
		channel.DeviceInboxPrefix("master", alice.id) + ".>",
		channel.EnrollSubject("master"),
		channel.EnrollInboxPrefix("master", alice.pub) + ".>",
		"_INBOX.>",
		channel.EventsSubject("other"),
		">",
	} {
		sub, _ := nc.SubscribeSync(subject)
		nc.Flush()
		e.wantViolation(t, "the operator subscribing to "+subject)
		sub.Unsubscribe()
	}
	for _, subject := range []string{
		channel.EventsSubject("master"),
		channel.DeviceDecideSubject("master", alice.id),
		channel.DevicePendingSubject("master", alice.id),
		channel.EnrollSubject("master"),
		channel.UserRequestsSubject("master", "alice"),
	} {
		nc.Publish(subject, []byte(`{"v":1}`))
		nc.Flush()
		e.wantViolation(t, "the operator publishing to "+subject)
	}

	// The device and an anonymous connection still cannot read events.
	anon, anonErrs := h.anonymous(t)
	for _, c := range []struct {
		name string
		nc   *nats.Conn
		e    errs
	}{{"alice's device", alice.nc, alice.errs}, {"anonymous", anon, anonErrs}} {
		sub, _ := c.nc.SubscribeSync(channel.EventsSubject("master"))
		c.nc.Flush()
		c.e.wantViolation(t, c.name+" subscribing to events")
		sub.Unsubscribe()
	}

	// Another nkey signing as the operator is refused.
	other, _ := nkeys.CreateUser()
	if c, err := nats.Connect(h.url, nats.Nkey(pub, other.Sign), nats.MaxReconnects(0)); err == nil {
		c.Close()
		t.Fatal("a signature by another key was taken for the operator's")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("forged operator: %v, want an authorization violation", err)
	}
}

// TestNoWatcherNoEvent: with nobody subscribed, Event publishes nothing
// (the OP's own wildcard subscription sees no message).
func TestNoWatcherNoEvent(t *testing.T) {
	var watched func() bool
	h := newHarnessServer(t, func(c *Config) { c.EventsWatched = func() bool { return watched() } })
	watched = func() bool { return false }
	spy, err := h.ns.ConnectOP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(spy.Close)
	sub, err := spy.SubscribeSync(channel.EventsSubject("master"))
	if err != nil {
		t.Fatal(err)
	}
	spy.Flush()
	h.r.Event(context.Background(), channel.Event{Version: 1, Type: channel.EventRequestCreated})
	h.op.Flush()
	if m, err := sub.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatalf("an event was published with nobody watching: %s", m.Data)
	}
	watched = func() bool { return true }
	h.r.Event(context.Background(), channel.Event{Version: 1, Type: channel.EventRequestCreated})
	if _, err := sub.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("no event once watched: %v", err)
	}
}
