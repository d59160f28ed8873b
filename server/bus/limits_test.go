package bus

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"cibalab/shared/channel"
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

	anon, _ := h.anonymous(t)
	enroll := channel.EnrollSubject("master")
	body := []byte(`{"v":1,"user":"alice","password":"x"}`)
	for _, reply := range []string{
		channel.UserRequestsSubject("master", "alice"),
		channel.DeviceInboxPrefix("master", alice.id) + ".x",
		channel.EventsSubject("master"),
	} {
		if err := anon.PublishRequest(enroll, reply, body); err != nil {
			t.Fatal(err)
		}
	}
	// The enrollment subscription handles messages in order: once this
	// one is answered, the ones above were handled.
	var resp channel.EnrollResponse
	request(t, anon, enroll, []byte("garbage"), &resp)
	h.wantNothing(t, alice.nc, requests, "anonymous reply to alice's requests subject")
	h.wantNothing(t, alice.nc, aliceInbox, "anonymous reply to alice's device's inbox")

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

	if n := strings.Count(h.logs.String(), "foreign reply subject dropped"); n != 5 {
		t.Fatalf("%d drops logged, want 5:\n%s", n, h.logs)
	}
}

func TestReplySubjects(t *testing.T) {
	h := &Responder{cfg: Config{Realm: "master"}}
	dev := channel.DeviceDecideSubject("master", "dev-1")
	tests := []struct {
		name, subject, reply string
		want                 bool
	}{
		{"enroll: nats.go inbox", "", "_INBOX.abcdefghijklmnopqrstuv.1", true},
		{"enroll: requests subject", "", channel.UserRequestsSubject("master", "alice"), false},
		{"enroll: device inbox", "", channel.DeviceInboxPrefix("master", "dev-1") + ".x", false},
		{"enroll: wildcard", "", "_INBOX.>", false},
		{"enroll: star", "", "_INBOX.*", false},
		{"enroll: embedded wildcard", "", "_INBOX.a*b", false},
		{"enroll: space", "", "_INBOX.a b", false},
		{"enroll: empty token", "", "_INBOX..a", false},
		{"enroll: trailing dot", "", "_INBOX.a.", false},
		{"enroll: prefix only", "", "_INBOX.", false},
		{"enroll: look-alike", "", "_INBOXx.a", false},
		{"enroll: too long", "", "_INBOX." + strings.Repeat("a", maxReplyLen), false},
		{"enroll: control byte", "", "_INBOX.a\x00", false},
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
				got = enrollReplyOK(tt.reply)
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
// "_INBOX.".
func FuzzEnrollReply(f *testing.F) {
	for _, s := range []string{"_INBOX.a.1", "_INBOX.>", "_INBOX.a *", "cibalab.v1.master.user.alice.requests", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		if !enrollReplyOK(reply) {
			return
		}
		if !strings.HasPrefix(reply, "_INBOX.") || strings.ContainsAny(reply, "*> \t\r\n") || strings.Contains(reply, "..") || strings.HasSuffix(reply, ".") {
			t.Fatalf("accepted %q", reply)
		}
	})
}

// TestAnonymousSubscriptionLimit: a connection without credentials holds
// at most MaxSubscriptions subscriptions.
func TestAnonymousSubscriptionLimit(t *testing.T) {
	h := newHarness(t)
	anon, e := h.anonymous(t)
	for i := range MaxSubscriptions + 1 {
		if _, err := anon.SubscribeSync(nats.NewInbox()); err != nil {
			t.Fatalf("subscription %d: %v", i, err)
		}
	}
	anon.Flush()
	select {
	case err := <-e:
		if !errors.Is(err, nats.ErrMaxSubscriptionsExceeded) {
			t.Fatalf("got %v, want %v", err, nats.ErrMaxSubscriptionsExceeded)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("subscription beyond the limit accepted")
	}
	cid, err := anon.GetClientID()
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

// TestEnrollLockout: MaxFailures wrong passwords lock the user id; during
// the lockout even the right password is refused, after it the right one
// enrolls; a wrong one after a lockout locks for twice as long.
func TestEnrollLockout(t *testing.T) {
	clk := newClock()
	h := newHarnessWith(t, func(c *Config) {
		c.Now = clk.Now
		c.Enroll = EnrollLimits{Burst: 100, UserBurst: 100, MaxFailures: 3, Lockout: time.Minute}
	})
	anon, _ := h.anonymous(t)
	d := newDevice(t)
	good := d.enrollRequest(t, "alice", "password")
	wrong := good
	wrong.Password = "s3cret-guess"
	try := func(in channel.EnrollRequest) channel.EnrollResponse {
		t.Helper()
		var resp channel.EnrollResponse
		request(t, anon, channel.EnrollSubject("master"), in, &resp)
		return resp
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
	// Another user is not locked.
	if resp := try(newDevice(t).enrollRequest(t, "bob", "password")); resp.Error != "" {
		t.Fatalf("bob during alice's lockout: %+v", resp)
	}
	clk.Advance(59 * time.Second)
	if resp := try(good); resp.Error != channel.ErrBadCredentials || resp.DeviceID != "" {
		t.Fatalf("right password during the lockout: %+v", resp)
	}
	if devs, _ := h.dir.Devices(); len(devs) != 1 {
		t.Fatalf("devices %+v, want bob's only", devs)
	}
	clk.Advance(2 * time.Second)
	if resp := try(wrong); resp.Error != channel.ErrBadCredentials || resp.ErrorDescription == limited {
		t.Fatalf("wrong password after the lockout: %+v", resp)
	}
	clk.Advance(61 * time.Second)
	if resp := try(good); resp.Error != channel.ErrBadCredentials {
		t.Fatalf("right password 61 s into the doubled lockout: %+v", resp)
	}
	clk.Advance(60 * time.Second)
	if resp := try(good); resp.Error != "" || resp.DeviceID == "" {
		t.Fatalf("right password after the lockout: %+v", resp)
	}
	// Success clears the failures: one wrong password does not lock.
	if resp := try(wrong); resp.ErrorDescription == limited {
		t.Fatalf("wrong password after a success: %+v", resp)
	}
	if resp := try(good); resp.Error != "" {
		t.Fatalf("right password after one failure: %+v", resp)
	}
	if !strings.Contains(h.logs.String(), "enrollment locked") || strings.Contains(h.logs.String(), "s3cret-guess") {
		t.Fatalf("log:\n%s", h.logs)
	}
}

// TestEnrollRateLimit: attempts beyond the global and per-user buckets
// are refused before the password is checked, until the buckets refill.
func TestEnrollRateLimit(t *testing.T) {
	clk := newClock()
	h := newHarnessWith(t, func(c *Config) {
		c.Now = clk.Now
		c.Enroll = EnrollLimits{Burst: 3, Interval: time.Second, UserBurst: 2, UserInterval: time.Minute, MaxFailures: 100}
	})
	anon, _ := h.anonymous(t)
	const limited = "too many attempts; try again later"
	tests := []struct {
		user, password string
		advance        time.Duration
		limited        bool
	}{
		{"alice", "wrong", 0, false},
		{"alice", "wrong", 0, false},
		{"alice", "password", 0, true}, // alice's bucket is empty
		{"bob", "wrong", 0, false},
		{"user", "password", 0, true}, // the global bucket is empty
		{"user", "password", time.Second, false},
		{"alice", "password", 0, true},
		{"alice", "password", time.Minute, false}, // a token and a bit
	}
	for i, tt := range tests {
		clk.Advance(tt.advance)
		var resp channel.EnrollResponse
		request(t, anon, channel.EnrollSubject("master"), newDevice(t).enrollRequest(t, tt.user, tt.password), &resp)
		if got := resp.ErrorDescription == limited; got != tt.limited || got && resp.Error != channel.ErrBadCredentials {
			t.Fatalf("attempt %d (%s): %+v, want limited %v", i+1, tt.user, resp, tt.limited)
		}
		if !tt.limited && tt.password == "password" && resp.Error != "" {
			t.Fatalf("attempt %d (%s): %+v", i+1, tt.user, resp)
		}
	}
}

// TestEnrollLimiterBounded: the limiter tracks at most MaxUsers user ids
// and forgets idle ones, but not locked ones.
func TestEnrollLimiterBounded(t *testing.T) {
	clk := newClock()
	l := newEnrollLimiter(EnrollLimits{MaxUsers: 2, MaxFailures: 1, UserBurst: 1, UserInterval: time.Second, Lockout: time.Hour})
	if ok, _ := l.allow("a", clk.Now()); !ok {
		t.Fatal("a refused")
	}
	l.result("a", false, clk.Now()) // locked for an hour
	if ok, _ := l.allow("b", clk.Now()); !ok {
		t.Fatal("b refused")
	}
	if ok, _ := l.allow("c", clk.Now()); ok {
		t.Fatal("a third user id tracked beyond MaxUsers")
	}
	clk.Advance(2 * time.Second) // b is idle again, a still locked
	if ok, _ := l.allow("c", clk.Now()); !ok {
		t.Fatal("c refused after b went idle")
	}
	if ok, _ := l.allow("a", clk.Now()); ok || len(l.users) != 2 {
		t.Fatalf("a's lockout forgotten; %d users tracked", len(l.users))
	}
}
