package ciba_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/client/ciba"
	"github.com/cibalab/cibalab/client/internal/fakeop"
	"github.com/cibalab/cibalab/shared/oauth"
)

// notifier starts a notification server whose certificate the fake OP's CA
// issued, and returns it with the pool that trusts it.
func notifier(tb testing.TB, op *fakeop.OP) (*ciba.NotificationServer, *x509.CertPool) {
	tb.Helper()
	ns, err := ciba.NewNotificationServer(ciba.NotificationServerConfig{Certificate: op.CA.ServerCert(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ns.Close() })
	return ns, op.CA.Pool
}

// blockingSleep is a Sleep that only the context ends: a test that needs
// a notification to make progress never advances time by itself.
func blockingSleep(ctx context.Context, _ time.Duration) error {
	<-ctx.Done()
	return ctx.Err()
}

// notifyAfterAck answers the backchannel request and, once the answer is
// on its way, sends the notification body(r) with the request's bearer
// token. sent receives each status.
func notifyAfterAck(ns func() *ciba.NotificationServer, pool *x509.CertPool, body func(fakeop.Request) any, sent chan<- int) func(fakeop.Request) fakeop.Reply {
	return func(r fakeop.Request) fakeop.Reply {
		go func() {
			data, _ := json.Marshal(body(r))
			status, err := fakeop.Notify(ns().URL(), pool, r.Form.Get(oauth.ParamClientNotificationToken), "application/json", data)
			if err != nil {
				status = -1
			}
			sent <- status
		}()
		return fakeop.AckReply(fakeop.DefaultAuthReqID, 120, 5)
	}
}

func TestPingMode(t *testing.T) {
	var ns *ciba.NotificationServer
	sent := make(chan int, 1)
	var op *fakeop.OP
	var pool *x509.CertPool
	op, c, _ := setup(t, fakeop.Config{
		Ack: func(r fakeop.Request) fakeop.Reply {
			return notifyAfterAck(func() *ciba.NotificationServer { return ns }, pool,
				func(fakeop.Request) any { return map[string]string{"auth_req_id": fakeop.DefaultAuthReqID} }, sent)(r)
		},
	})
	ns, pool = notifier(t, op)
	c.DeliveryMode, c.Notifications, c.Sleep = oauth.ModePing, ns, blockingSleep
	ack := start(t, c)
	token := op.Requests("/mtls/bc-authorize")[0].Form.Get(oauth.ParamClientNotificationToken)
	if len(token) < 27 || strings.Trim(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/") != "" || token != ack.NotificationToken {
		t.Errorf("client_notification_token %q: want ≥160 bits in the b64token charset", token)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var progress []ciba.Progress
	tok, err := c.Wait(ctx, ack, func(p ciba.Progress) { progress = append(progress, p) })
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if status := <-sent; status != http.StatusNoContent {
		t.Errorf("ping answered %d, want 204", status)
	}
	if tok.AccessToken != "fake-access-token" || len(op.Polls()) != 1 {
		t.Errorf("token %q after %d polls, want one token request right after the ping", tok.AccessToken, len(op.Polls()))
	}
	// The ping ended the first wait: the poll came before the interval.
	if len(progress) != 2 || progress[0].Polls != 0 || progress[1].Notifications != 1 || progress[1].Polls != 0 {
		t.Errorf("progress %+v", progress)
	}
	// After Wait the token is no longer accepted.
	if status, _ := fakeop.Notify(ns.URL(), pool, token, "application/json", []byte(`{"auth_req_id":"x"}`)); status != http.StatusUnauthorized {
		t.Errorf("a ping after Wait answered %d, want 401", status)
	}
	second := start(t, c)
	if second.NotificationToken == ack.NotificationToken {
		t.Error("the client_notification_token was reused")
	}
}

func TestNotificationEndpoint(t *testing.T) {
	op := fakeop.New(t, fakeop.Config{})
	ns, pool := notifier(t, op)
	c := &ciba.Config{
		ClientID: fakeop.DefaultClientID, BackchannelAuthURL: op.BackchannelURL, DeliveryMode: oauth.ModePing, Notifications: ns,
		HTTPClient: ciba.NewHTTPClient(op.ClientCert, op.CA.Pool, false),
	}
	ack, err := c.Start(context.Background(), request())
	if err != nil {
		t.Fatal(err)
	}
	token := ack.NotificationToken
	good := []byte(`{"auth_req_id":"` + fakeop.DefaultAuthReqID + `"}`)
	tests := []struct {
		name, token, ct string
		body            []byte
		want            int
	}{
		{"no bearer token", "", "application/json", good, 401},
		{"wrong bearer token", token + "x", "application/json", good, 401},
		{"wrong content type", token, "text/plain", good, 415},
		{"garbage", token, "application/json", []byte("{{{"), 400},
		{"missing auth_req_id", token, "application/json", []byte(`{"id":"x"}`), 400},
		{"oversized", token, "application/json", []byte(`{"auth_req_id":"` + strings.Repeat("a", 70000) + `"}`), 413},
		{"good ping", token, "application/json; charset=utf-8", good, 204},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, err := fakeop.Notify(ns.URL(), pool, tt.token, tt.ct, tt.body)
			if err != nil || status != tt.want {
				t.Fatalf("status %d (%v), want %d", status, err, tt.want)
			}
		})
	}
	t.Run("GET", func(t *testing.T) {
		hc := op.HTTPClient(zeroCert)
		hc.Transport.(*http.Transport).TLSClientConfig.RootCAs = pool
		resp, err := hc.Get(ns.URL())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET answered %d, want 405", resp.StatusCode)
		}
	})
}

func TestNotificationServerNeedsACertificate(t *testing.T) {
	if _, err := ciba.NewNotificationServer(ciba.NotificationServerConfig{}); err == nil {
		t.Error("a notification server without TLS material started")
	}
	op := fakeop.New(t, fakeop.Config{})
	if _, err := ciba.NewNotificationServer(ciba.NotificationServerConfig{URL: "http://127.0.0.1/cb", Certificate: op.CA.ServerCert(t)}); err == nil {
		t.Error("an http notification URL was accepted (CIBA Core 1.0 §4 requires https)")
	}
}

func TestPushMode(t *testing.T) {
	tests := []struct {
		name    string
		payload func(op *fakeop.OP, r fakeop.Request) any
		check   func(t *testing.T, tok *ciba.Token, err error)
	}{
		{"token", func(op *fakeop.OP, r fakeop.Request) any {
			return pushPayload(t, op, r, &fakeop.IDToken{})
		}, func(t *testing.T, tok *ciba.Token, err error) {
			if err != nil || tok.AccessToken != "pushed-at" || tok.IDTokenClaims.AuthReqID != fakeop.DefaultAuthReqID {
				t.Fatalf("tok %+v err %v", tok, err)
			}
		}},
		{"id token without auth_req_id", func(op *fakeop.OP, r fakeop.Request) any {
			return pushPayload(t, op, r, &fakeop.IDToken{Claims: map[string]any{oauth.ClaimAuthReqID: nil}})
		}, wantIDTokenProblem("auth_req_id")},
		{"id token without at_hash", func(op *fakeop.OP, r fakeop.Request) any {
			return pushPayload(t, op, r, &fakeop.IDToken{Claims: map[string]any{"at_hash": nil}})
		}, wantIDTokenProblem("at_hash")},
		{"id token without rt_hash", func(op *fakeop.OP, r fakeop.Request) any {
			return pushPayload(t, op, r, &fakeop.IDToken{Claims: map[string]any{oauth.ClaimRTHash: nil}})
		}, wantIDTokenProblem("rt_hash")},
		{"id token with a wrong at_hash", func(op *fakeop.OP, r fakeop.Request) any {
			return pushPayload(t, op, r, &fakeop.IDToken{Claims: map[string]any{"at_hash": fakeop.HalfHash("x")}})
		}, wantIDTokenProblem("at_hash")},
		{"id token with alg none", func(op *fakeop.OP, r fakeop.Request) any {
			return pushPayload(t, op, r, &fakeop.IDToken{Alg: "none"})
		}, wantIDTokenProblem("none")},
	}
	for _, code := range []string{oauth.ErrAccessDenied, oauth.ErrExpiredToken, oauth.ErrTransactionFailed} {
		tests = append(tests, struct {
			name    string
			payload func(op *fakeop.OP, r fakeop.Request) any
			check   func(t *testing.T, tok *ciba.Token, err error)
		}{"error " + code, func(*fakeop.OP, fakeop.Request) any {
			return map[string]string{"auth_req_id": fakeop.DefaultAuthReqID, "error": code, "error_description": "pushed"}
		}, func(t *testing.T, _ *ciba.Token, err error) {
			var oe *oauth.Error
			if !errors.As(err, &oe) || oe.Code != code || oe.Description != "pushed" {
				t.Fatalf("err = %v, want %s", err, code)
			}
		}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ns *ciba.NotificationServer
			var pool *x509.CertPool
			var op *fakeop.OP
			sent := make(chan int, 2)
			op, c, _ := setup(t, fakeop.Config{Ack: func(r fakeop.Request) fakeop.Reply {
				// A push for another request first: ignored.
				return notifyAfterAck(func() *ciba.NotificationServer { return ns }, pool, func(r fakeop.Request) any {
					data, _ := json.Marshal(map[string]string{"auth_req_id": "another", "error": "access_denied"})
					fakeop.Notify(ns.URL(), pool, r.Form.Get(oauth.ParamClientNotificationToken), "application/json", data)
					return tt.payload(op, r)
				}, sent)(r)
			}})
			ns, pool = notifier(t, op)
			c.DeliveryMode, c.Notifications, c.Sleep = oauth.ModePush, ns, blockingSleep
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			tok, err := c.Wait(ctx, start(t, c), nil)
			tt.check(t, tok, err)
			if status := <-sent; status != http.StatusNoContent {
				t.Errorf("push answered %d, want 204", status)
			}
			if len(op.Polls()) != 0 {
				t.Error("push mode polled the token endpoint")
			}
		})
	}
}

func TestPushModeExpires(t *testing.T) {
	op, c, clock := setup(t, fakeop.Config{})
	ns, _ := notifier(t, op)
	c.DeliveryMode, c.Notifications = oauth.ModePush, ns
	ack := start(t, c)
	_, err := c.Wait(context.Background(), ack, nil)
	if !errors.Is(err, ciba.ErrNoPush) || !errors.Is(err, ciba.ErrExpired) {
		t.Fatalf("err = %v, want ErrNoPush, which is an ErrExpired", err)
	}
	if strings.Contains(err.Error(), "expired") {
		t.Errorf("%q claims an expiry the client cannot know", err)
	}
	if got := clock.Now().Sub(ack.ReceivedAt); got != 120*time.Second+ciba.PushGrace {
		t.Errorf("gave up after %v, want expires_in and PushGrace", got)
	}
}

func pushPayload(tb testing.TB, op *fakeop.OP, r fakeop.Request, idt *fakeop.IDToken) map[string]any {
	form := r.Form
	form.Set(oauth.ParamAuthReqID, fakeop.DefaultAuthReqID)
	return map[string]any{
		"auth_req_id":   fakeop.DefaultAuthReqID,
		"access_token":  "pushed-at",
		"token_type":    "Bearer",
		"expires_in":    300,
		"refresh_token": "pushed-rt",
		"id_token":      op.MintIDToken(tb, idt, form, "pushed-at", "pushed-rt"),
	}
}

func wantIDTokenProblem(problem string) func(t *testing.T, tok *ciba.Token, err error) {
	return func(t *testing.T, _ *ciba.Token, err error) {
		var ie *ciba.IDTokenError
		if !errors.As(err, &ie) || !strings.Contains(ie.Problem, problem) {
			t.Fatalf("err = %v, want an ID token problem about %q", err, problem)
		}
	}
}

func TestModesNeedANotificationServer(t *testing.T) {
	_, c, _ := setup(t, fakeop.Config{})
	for _, m := range []oauth.DeliveryMode{oauth.ModePing, oauth.ModePush, "fax"} {
		c.DeliveryMode = m
		if _, err := c.Start(context.Background(), request()); err == nil {
			t.Errorf("%s mode started without a notification server", m)
		}
	}
}

// pingSetup starts a ping-mode request whose token endpoint answers
// replies, and returns the Config, the ack and a function that sends a
// ping for an auth_req_id.
func pingSetup(t *testing.T, replies ...fakeop.Reply) (*fakeop.OP, *ciba.Config, *ciba.Ack, func(id string)) {
	t.Helper()
	op, c, _ := setup(t, fakeop.Config{Token: script(replies...)})
	// The server answers 204 before it queues the ping for Wait; Trace
	// runs once it is queued, so a ping returns only then.
	handled := make(chan struct{}, 1)
	ns, err := ciba.NewNotificationServer(ciba.NotificationServerConfig{Certificate: op.CA.ServerCert(t),
		Trace: func(*http.Request, []byte, int) { handled <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	c.DeliveryMode, c.Notifications = oauth.ModePing, ns
	ack := start(t, c)
	ping := func(id string) {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"auth_req_id": id})
		want := http.StatusNoContent
		if id != ack.AuthReqID {
			want = http.StatusBadRequest // the token is this request's
		}
		if status, err := fakeop.Notify(ns.URL(), op.CA.Pool, ack.NotificationToken, "application/json", body); err != nil || status != want {
			t.Fatalf("ping for %q answered %d (%v), want %d", id, status, err, want)
		}
		<-handled
	}
	return op, c, ack, ping
}

func TestPingsNeverSpeedUpPolling(t *testing.T) {
	s := time.Second
	mine := fakeop.DefaultAuthReqID
	tests := []struct {
		name    string
		pings   []string // queued before Wait
		replies []fakeop.Reply
		want    []time.Duration // poll send times after the ack
		seen    int             // Progress.Notifications at the end
	}{
		{"pings for another request are ignored",
			[]string{"SOMEONE-ELSE", "SOMEONE-ELSE", "SOMEONE-ELSE", "SOMEONE-ELSE", "SOMEONE-ELSE", "SOMEONE-ELSE"},
			[]fakeop.Reply{fakeop.Pending(), fakeop.TokenReply("at")}, []time.Duration{5 * s, 10 * s}, 0},
		{"only the first ping skips the interval", []string{mine, mine, mine, mine},
			[]fakeop.Reply{fakeop.Pending(), fakeop.Pending(), fakeop.TokenReply("at")}, []time.Duration{0, 5 * s, 10 * s}, 4},
		{"our ping after others", []string{"SOMEONE-ELSE", "SOMEONE-ELSE", mine},
			[]fakeop.Reply{fakeop.TokenReply("at")}, []time.Duration{0}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, c, ack, ping := pingSetup(t, tt.replies...)
			for _, id := range tt.pings {
				ping(id)
			}
			var last ciba.Progress
			tok, err := c.Wait(context.Background(), ack, func(p ciba.Progress) { last = p })
			if err != nil || tok.AccessToken != "at" {
				t.Fatalf("Wait: %v", err)
			}
			if got := pollOffsets(op, ack.ReceivedAt); !slices.Equal(got, tt.want) {
				t.Errorf("polls at %v, want %v", got, tt.want)
			}
			if last.Notifications != tt.seen {
				t.Errorf("Progress.Notifications = %d, want %d", last.Notifications, tt.seen)
			}
		})
	}
}

func TestCancelDropsTheNotificationToken(t *testing.T) {
	op, c, _ := setup(t, fakeop.Config{})
	ns, pool := notifier(t, op)
	c.DeliveryMode, c.Notifications = oauth.ModePing, ns
	ack := start(t, c)
	c.Cancel(ack)
	c.Cancel(ack) // twice is harmless
	c.Cancel(nil)
	body := []byte(`{"auth_req_id":"` + fakeop.DefaultAuthReqID + `"}`)
	if status, err := fakeop.Notify(ns.URL(), pool, ack.NotificationToken, "application/json", body); err != nil || status != http.StatusUnauthorized {
		t.Errorf("a ping after Cancel answered %d (%v), want 401", status, err)
	}
	if _, err := c.Wait(context.Background(), ack, nil); err == nil {
		t.Error("Wait after Cancel succeeded")
	}
}

func TestNotificationTokenExpiresWithTheRequest(t *testing.T) {
	op, c, _ := setup(t, fakeop.Config{}) // the ack says expires_in 120
	srvClock := &fakeClock{t: time.Now()}
	begin := srvClock.Now()
	ns, err := ciba.NewNotificationServer(ciba.NotificationServerConfig{Certificate: op.CA.ServerCert(t), Now: srvClock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	c.DeliveryMode, c.Notifications = oauth.ModePing, ns
	ack := start(t, c) // never waited for
	body := []byte(`{"auth_req_id":"` + fakeop.DefaultAuthReqID + `"}`)
	tests := []struct {
		advance time.Duration
		want    int
	}{
		{119 * time.Second, http.StatusNoContent},
		{time.Second, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		srvClock.Sleep(context.Background(), tt.advance)
		if status, err := fakeop.Notify(ns.URL(), op.CA.Pool, ack.NotificationToken, "application/json", body); err != nil || status != tt.want {
			t.Errorf("ping %v after the ack answered %d (%v), want %d", srvClock.Now().Sub(begin), status, err, tt.want)
		}
	}
}
