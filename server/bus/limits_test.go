package bus

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/cibalab/cibalab/shared/channel"
)

// clock is a test clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// wantNothing asserts that sub received no message once every message the
// OP sent so far has been delivered: the OP's connection is flushed (the
// server has routed its messages), then the receiver's (the server wrote
// them to the receiver before its PONG).
func (h *harness) wantNothing(t testing.TB, receiver *nats.Conn, sub *nats.Subscription, what string) {
	t.Helper()
	if err := h.op.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := receiver.Flush(); err != nil {
		t.Fatal(err)
	}
	if n, _, err := sub.Pending(); err != nil || n != 0 {
		msg, _ := sub.NextMsg(0)
		t.Fatalf("%s: the OP published %d message(s) there (%v): %v", what, n, err, msg)
	}
}

// TestForeignReplyDropped: the OP answers nobody at a reply subject its
// sender may not read, neither for a connection without credentials nor
// for an enrolled device.
func TestForeignReplyDropped(t *testing.T) {
	h := newHarness(t)
	alice := h.enroll(t, "alice")
	bob := h.enroll(t, "bob")
	requests, err := alice.nc.SubscribeSync(channel.UserRequestsSubject("master", "alice"))
	if err != nil {
		t.Fatal(err)
	}
	aliceInbox, err := alice.nc.SubscribeSync(channel.DeviceInboxPrefix("master", alice.id) + ".>")
	if err != nil {
		t.Fatal(err)
	}
	bobInbox, err := bob.nc.SubscribeSync(channel.DeviceInboxPrefix("master", bob.id) + ".>")
	if err != nil {
		t.Fatal(err)
	}
	alice.nc.Flush()
	bob.nc.Flush()

	// A connection admitted to enroll directs the answers elsewhere.
	newcomer := newDevice(t)
	tk, _ := h.ticket(t, newcomer)
	enroll := channel.EnrollKeySubject("master", newcomer.pub)
	body := []byte(`{"v":1,"user":"alice","password":"x"}`)
	for _, reply := range []string{
		channel.UserRequestsSubject("master", "alice"),
		channel.DeviceInboxPrefix("master", alice.id) + ".x",
		channel.EventsSubject("master"),
	} {
		if err := tk.PublishRequest(enroll, reply, body); err != nil {
			t.Fatal(err)
		}
	}
	// The enrollment subscription handles messages in order: once this
	// one is answered, the ones above were handled.
	var resp channel.EnrollResponse
	request(t, tk, enroll, []byte("garbage"), &resp)
	h.wantNothing(t, alice.nc, requests, "enrollment reply to alice's requests subject")
	h.wantNothing(t, alice.nc, aliceInbox, "enrollment reply to alice's device's inbox")

	// Alice's device directs the answers to its own messages to bob's
	// device's inbox.
	for _, subject := range []string{
		channel.DevicePendingSubject("master", alice.id),
		channel.DeviceDecideSubject("master", alice.id),
	} {
		if err := alice.nc.PublishRequest(subject, channel.DeviceInboxPrefix("master", bob.id)+".x", []byte(`{"v":1}`)); err != nil {
			t.Fatal(err)
		}
		var res channel.PendingResponse
		request(t, alice.nc, subject, []byte(`{"v":1}`), &res) // answered: the one above was handled
	}
	h.wantNothing(t, bob.nc, bobInbox, "alice's device's reply to bob's device's inbox")

	if n := strings.Count(h.logs.String(), `reason="a foreign reply subject"`); n != 5 {
		t.Fatalf("%d drops logged, want 5:\n%s", n, h.logs)
	}
}

func TestReplySubjects(t *testing.T) {
	h := &Responder{cfg: Config{Realm: "master"}}
	dev := channel.DeviceDecideSubject("master", "dev-1")
	nkey, otherNKey := newDevice(t).pub, newDevice(t).pub
	ein := channel.EnrollInboxPrefix("master", nkey)
	tests := []struct {
		name, subject, reply string
		want                 bool
	}{
		{"enroll: own enrollment inbox", "", ein + ".abcdefghijklmnopqrstuv.1", true},
		{"enroll: shared inbox", "", "_INBOX.abcdefghijklmnopqrstuv.1", false},
		{"enroll: another nkey's inbox", "", channel.EnrollInboxPrefix("master", otherNKey) + ".x", false},
		{"enroll: requests subject", "", channel.UserRequestsSubject("master", "alice"), false},
		{"enroll: device inbox", "", channel.DeviceInboxPrefix("master", "dev-1") + ".x", false},
		{"enroll: wildcard", "", ein + ".>", false},
		{"enroll: star", "", ein + ".*", false},
		{"enroll: embedded wildcard", "", ein + ".a*b", false},
		{"enroll: space", "", ein + ".a b", false},
		{"enroll: empty token", "", ein + "..a", false},
		{"enroll: trailing dot", "", ein + ".a.", false},
		{"enroll: prefix only", "", ein, false},
		{"enroll: look-alike", "", ein + "x.a", false},
		{"enroll: too long", "", ein + "." + strings.Repeat("a", maxReplyLen), false},
		{"enroll: control byte", "", ein + ".a\x00", false},
		{"device: own inbox", dev, channel.DeviceInboxPrefix("master", "dev-1") + ".abc.2", true},
		{"device: own inbox prefix only", dev, channel.DeviceInboxPrefix("master", "dev-1"), false},
		{"device: another device", dev, channel.DeviceInboxPrefix("master", "dev-12") + ".x", false},
		{"device: own inbox wildcard", dev, channel.DeviceInboxPrefix("master", "dev-1") + ".>", false},
		{"device: shared inbox", dev, "_INBOX.x", false},
		{"device: another realm", dev, channel.DeviceInboxPrefix("other", "dev-1") + ".x", false},
		{"device: bad subject", "cibalab.v1.master.device.decide", channel.DeviceInboxPrefix("master", "decide") + ".x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got bool
			if tt.subject == "" {
				got = h.enrollReplyOK(nkey, tt.reply)
			} else {
				got = h.deviceReplyOK(tt.subject, tt.reply)
			}
			if got != tt.want {
				t.Fatalf("reply %q allowed = %v, want %v", tt.reply, got, tt.want)
			}
		})
	}
}

// FuzzEnrollReply: an accepted reply subject is a literal subject below
// the enrolling nkey's own inbox prefix.
func FuzzEnrollReply(f *testing.F) {
	nkey := "UCO2PUCRWUOTM5AYMHP2BOWIA5P37PKXD4TYWT6ZMZI2XS2QKIFV2TDP"
	prefix := channel.EnrollInboxPrefix("master", nkey) + "."
	for _, s := range []string{prefix + "a.1", prefix + ">", "_INBOX.a *", "cibalab.v1.master.user.alice.requests", ""} {
		f.Add(s)
	}
	r := &Responder{cfg: Config{Realm: "master"}}
	f.Fuzz(func(t *testing.T, reply string) {
		if !r.enrollReplyOK(nkey, reply) {
			return
		}
		if !strings.HasPrefix(reply, prefix) || strings.ContainsAny(reply, "*> \t\r\n") || strings.Contains(reply, "..") || strings.HasSuffix(reply, ".") {
			t.Fatalf("accepted %q", reply)
		}
	})
}

// TestSubscriptionLimit: a connection holds at most MaxSubscriptions
// subscriptions.
func TestSubscriptionLimit(t *testing.T) {
	h := newHarness(t)
	d := newDevice(t)
	tk, e := h.ticket(t, d)
	for i := range MaxSubscriptions + 1 {
		if _, err := tk.SubscribeSync(tk.NewRespInbox()); err != nil {
			t.Fatalf("subscription %d: %v", i, err)
		}
	}
	tk.Flush()
	select {
	case err := <-e:
		if !errors.Is(err, nats.ErrMaxSubscriptionsExceeded) {
			t.Fatalf("got %v, want %v", err, nats.ErrMaxSubscriptionsExceeded)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("subscription beyond the limit accepted")
	}
	cid, err := tk.GetClientID()
	if err != nil {
		t.Fatal(err)
	}
	connz, err := h.ns.Connz(&server.ConnzOptions{CID: cid})
	if err != nil || len(connz.Conns) != 1 {
		t.Fatalf("connz: %v %+v", err, connz)
	}
	if n := connz.Conns[0].NumSubs; n > MaxSubscriptions {
		t.Fatalf("the server holds %d subscriptions for the connection, want at most %d", n, MaxSubscriptions)
	}
	varz, err := h.ns.Varz(nil)
	if err != nil {
		t.Fatal(err)
	}
	if varz.MaxConn != MaxConnections || varz.MaxPending != MaxPendingBytes {
		t.Fatalf("max_connections %d, max_pending %d; want %d, %d", varz.MaxConn, varz.MaxPending, MaxConnections, MaxPendingBytes)
	}
}

// TestAnonymousSeesOnlyOwnReplies: a connection without credentials may
// not subscribe to _INBOX.> (nor anything), and a connection admitted to
// enroll reads only its own enrollment inbox: neither reads another
// device's enrollment reply (user id, device id, subjects).
func TestAnonymousSeesOnlyOwnReplies(t *testing.T) {
	h := newHarness(t)
	anon, e := h.anonymous(t)
	if _, err := anon.SubscribeSync("_INBOX.>"); err != nil {
		t.Fatal(err)
	}
	anon.Flush()
	e.wantViolation(t, "anonymous subscribe to _INBOX.>")
	// Another admitted nkey tries the enrolling device's inbox.
	spy := newDevice(t)
	spyConn, spyErrs := h.ticket(t, spy)
	victim := newDevice(t)
	var spied []*nats.Subscription
	for _, subject := range []string{
		channel.EnrollInboxPrefix("master", victim.pub) + ".>",
		"_INBOX_cibalab_enroll.master.*.>",
		"_INBOX_cibalab_enroll.>",
		"_INBOX.>",
	} {
		sub, _ := spyConn.SubscribeSync(subject)
		spyConn.Flush()
		spyErrs.wantViolation(t, "an admitted nkey subscribing to "+subject)
		spied = append(spied, sub)
	}
	// Nor may it ask in the victim's name.
	spyConn.Publish(channel.EnrollKeySubject("master", victim.pub), []byte(`{"v":1}`))
	spyConn.Flush()
	spyErrs.wantViolation(t, "an admitted nkey publishing on another's enrollment subject")

	tk, _ := h.ticket(t, victim)
	resp := enrollOn(t, tk, victim, victim.enrollRequest(t, "alice", "password"))
	if resp.Error != "" || resp.DeviceID == "" {
		t.Fatalf("enroll: %+v", resp)
	}
	for _, sub := range spied {
		if m, err := sub.NextMsg(100 * time.Millisecond); err == nil {
			t.Fatalf("the spy read %s: %s", m.Subject, m.Data)
		}
	}
	// The spy's own enrollment still works.
	if resp := enrollOn(t, spyConn, spy, spy.enrollRequest(t, "bob", "password")); resp.Error != "" {
		t.Fatalf("the spy's own enrollment: %+v", resp)
	}
}

// TestTicketLimits: a hello that is not a version 1 hello with a user
// nkey admits nothing; admissions pass a token bucket and expire after
// TicketTTL.
func TestTicketLimits(t *testing.T) {
	clk := newClock()
	h := newHarnessWith(t, func(c *Config) {
		c.Now = clk.Now
		c.Enroll = EnrollLimits{TicketBurst: 1, TicketInterval: time.Hour, TicketTTL: time.Minute}
	})
	connects := func(d *device) bool {
		nc, err := nats.Connect(h.url, nats.Nkey(d.pub, d.nkey.Sign), nats.MaxReconnects(0))
		if err == nil {
			nc.Close()
		}
		return err == nil
	}
	anon, _ := h.anonymous(t)
	acc, _ := nkeys.CreateAccount()
	accPub, _ := acc.PublicKey()
	for _, bad := range []string{`garbage`, `{"v":2,"nkey":"` + newDevice(t).pub + `"}`, `{"v":1,"nkey":"` + accPub + `"}`, `{"v":1,"nkey":"U.>"}`} {
		anon.Publish(channel.EnrollSubject("master"), []byte(bad))
	}
	first := newDevice(t)
	h.ticket(t, first) // admitted: the bucket's one token
	second := newDevice(t)
	h.hello(t, second.pub)
	h.op.Flush()
	h.hello(t, first.pub) // handled after second's: in order
	time.Sleep(50 * time.Millisecond)
	if connects(second) {
		t.Fatal("an nkey admitted beyond the ticket bucket")
	}
	clk.Advance(2 * time.Minute)
	h.r.expireTickets(clk.Now())
	if connects(first) {
		t.Fatal("an nkey still admitted after its ticket expired")
	}
}

// TestEnrollLockout: MaxFailures wrong passwords from one source (an
// enrolling nkey) lock that source out of the user id: during the lockout
// even the right password from it is refused, after it the right one
// enrolls, and a wrong one after a lockout locks it for twice as long.
// Another source enrolls the same user meanwhile: nobody can keep a user
// from enrolling.
func TestEnrollLockout(t *testing.T) {
	clk := newClock()
	h := newHarnessWith(t, func(c *Config) {
		c.Now = clk.Now
		c.Enroll = EnrollLimits{Burst: 100, MaxFailures: 3, Lockout: time.Minute}
	})
	attacker := newDevice(t)
	atk, _ := h.ticket(t, attacker)
	wrong := attacker.enrollRequest(t, "alice", "s3cret-guess")
	right := attacker.enrollRequest(t, "alice", "password")
	try := func(in channel.EnrollRequest) channel.EnrollResponse {
		t.Helper()
		return enrollOn(t, atk, attacker, in)
	}
	const limited = "too many attempts; try again later"
	for i := range 3 {
		if resp := try(wrong); resp.Error != channel.ErrBadCredentials || resp.ErrorDescription == limited {
			t.Fatalf("wrong password %d: %+v", i+1, resp)
		}
	}
	if resp := try(wrong); resp.Error != channel.ErrBadCredentials || resp.ErrorDescription != limited {
		t.Fatalf("wrong password 4: %+v, want limited", resp)
	}
	// The user's own device, another source, enrolls at once.
	phone := newDevice(t)
	ph, _ := h.ticket(t, phone)
	if resp := enrollOn(t, ph, phone, phone.enrollRequest(t, "alice", "password")); resp.Error != "" || resp.DeviceID == "" {
		t.Fatalf("alice's phone during the lockout of another source: %+v", resp)
	}
	clk.Advance(59 * time.Second)
	if resp := try(right); resp.Error != channel.ErrBadCredentials || resp.DeviceID != "" {
		t.Fatalf("right password from the locked source: %+v", resp)
	}
	if devs, _ := h.dir.Devices(); len(devs) != 1 {
		t.Fatalf("devices %+v, want the phone only", devs)
	}
	clk.Advance(2 * time.Second)
	if resp := try(wrong); resp.Error != channel.ErrBadCredentials || resp.ErrorDescription == limited {
		t.Fatalf("wrong password after the lockout: %+v", resp)
	}
	clk.Advance(61 * time.Second)
	if resp := try(right); resp.ErrorDescription != limited {
		t.Fatalf("right password 61 s into the doubled lockout: %+v", resp)
	}
	clk.Advance(60 * time.Second)
	if resp := try(right); resp.Error != "" || resp.DeviceID == "" {
		t.Fatalf("right password after the lockout: %+v", resp)
	}
	if !strings.Contains(h.logs.String(), "msg=enroll.locked") || strings.Contains(h.logs.String(), "s3cret-guess") {
		t.Fatalf("log:\n%s", h.logs)
	}
}

// TestEnrollRateLimit: password checks beyond the global bucket are
// refused before the password is checked, until the bucket refills.
func TestEnrollRateLimit(t *testing.T) {
	clk := newClock()
	h := newHarnessWith(t, func(c *Config) {
		c.Now = clk.Now
		c.Enroll = EnrollLimits{Burst: 3, Interval: time.Second, MaxFailures: 100}
	})
	const limited = "too many attempts; try again later"
	tests := []struct {
		user, password string
		advance        time.Duration
		limited        bool
	}{
		{"alice", "wrong", 0, false},
		{"alice", "wrong", 0, false},
		{"bob", "wrong", 0, false},
		{"user", "password", 0, true}, // the bucket is empty
		{"user", "password", time.Second, false},
		{"alice", "password", 0, true},
		{"alice", "password", time.Second, false},
	}
	d := newDevice(t)
	tk, _ := h.ticket(t, d)
	for i, tt := range tests {
		clk.Advance(tt.advance)
		resp := enrollOn(t, tk, d, d.enrollRequest(t, tt.user, tt.password))
		if got := resp.ErrorDescription == limited; got != tt.limited || got && resp.Error != channel.ErrBadCredentials {
			t.Fatalf("attempt %d (%s): %+v, want limited %v", i+1, tt.user, resp, tt.limited)
		}
		if !tt.limited && tt.password == "password" && resp.Error != "" && resp.Error != channel.ErrBadMessage {
			t.Fatalf("attempt %d (%s): %+v", i+1, tt.user, resp)
		}
	}
}

// TestEnrollLimiterBounded: the limiter tracks at most MaxSources pairs
// and forgets idle ones, but not locked ones.
func TestEnrollLimiterBounded(t *testing.T) {
	clk := newClock()
	l := newEnrollLimiter(EnrollLimits{MaxSources: 2, MaxFailures: 1, Lockout: time.Hour})
	if ok, _ := l.allow("a", "s", clk.Now()); !ok {
		t.Fatal("a refused")
	}
	l.result("a", "s", false, clk.Now()) // locked for an hour
	if ok, _ := l.allow("b", "s", clk.Now()); !ok {
		t.Fatal("b refused")
	}
	l.result("b", "s", true, clk.Now())
	if ok, _ := l.allow("a", "t", clk.Now()); !ok {
		t.Fatal("a from another source refused: b was idle")
	}
	l.result("a", "t", false, clk.Now()) // locked too
	if ok, _ := l.allow("c", "s", clk.Now()); ok {
		t.Fatal("a third pair tracked beyond MaxSources")
	}
	if ok, _ := l.allow("a", "s", clk.Now()); ok || len(l.sources) != 2 {
		t.Fatalf("a's lockout forgotten; %d pairs tracked", len(l.sources))
	}
}
