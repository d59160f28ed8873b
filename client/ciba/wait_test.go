package ciba_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/client/ciba"
	"github.com/cibalab/cibalab/client/internal/fakeop"
	"github.com/cibalab/cibalab/shared/oauth"
)

func ackReply(expiresIn, interval int) func(fakeop.Request) fakeop.Reply {
	return func(fakeop.Request) fakeop.Reply { return fakeop.AckReply("id-1", expiresIn, interval) }
}

func TestWaitTiming(t *testing.T) {
	s := time.Second
	tests := []struct {
		name      string
		expiresIn int
		interval  int
		replies   []fakeop.Reply
		want      []time.Duration // poll send times after the ack
	}{
		{"first poll only after the interval", 120, 31, []fakeop.Reply{fakeop.TokenReply("at")}, []time.Duration{31 * s}},
		{"default interval when absent", 120, 0, []fakeop.Reply{fakeop.Pending(), fakeop.TokenReply("at")}, []time.Duration{5 * s, 10 * s}},
		{"pending keeps the interval", 120, 5, []fakeop.Reply{fakeop.Pending(), fakeop.Pending(), fakeop.TokenReply("at")}, []time.Duration{5 * s, 10 * s, 15 * s}},
		{"slow_down on the 2nd poll adds 5 s for good", 120, 5,
			[]fakeop.Reply{fakeop.Pending(), fakeop.SlowDown(), fakeop.Pending(), fakeop.TokenReply("at")},
			[]time.Duration{5 * s, 10 * s, 20 * s, 30 * s}},
		{"two slow_downs add 10 s", 120, 5,
			[]fakeop.Reply{fakeop.SlowDown(), fakeop.SlowDown(), fakeop.TokenReply("at")},
			[]time.Duration{5 * s, 15 * s, 30 * s}},
		{"503 waits for Retry-After", 120, 5, []fakeop.Reply{fakeop.Unavailable(12), fakeop.Pending(), fakeop.TokenReply("at")},
			[]time.Duration{5 * s, 17 * s, 22 * s}},
		{"503 waits at least the interval", 120, 5, []fakeop.Reply{fakeop.Unavailable(2), fakeop.TokenReply("at")},
			[]time.Duration{5 * s, 10 * s}},
		{"503 with a JSON body", 120, 5, []fakeop.Reply{
			fakeop.JSON(503, map[string]string{"error": "temporarily_unavailable"}), fakeop.TokenReply("at")},
			[]time.Duration{5 * s, 10 * s}},
		{"503 with JSON that is not an OAuth error", 120, 5, []fakeop.Reply{
			fakeop.Raw(503, "application/json", `{"busy":true}`), fakeop.TokenReply("at")},
			[]time.Duration{5 * s, 10 * s}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, c, _ := setup(t, fakeop.Config{Ack: ackReply(tt.expiresIn, tt.interval), Token: script(tt.replies...)})
			ack := start(t, c)
			tok, err := c.Wait(context.Background(), ack, nil)
			if err != nil {
				t.Fatalf("Wait: %v", err)
			}
			if tok.AccessToken != "at" {
				t.Errorf("access token %q, want at", tok.AccessToken)
			}
			if got := pollOffsets(op, ack.ReceivedAt); !slices.Equal(got, tt.want) {
				t.Errorf("polls at %v, want %v", got, tt.want)
			}
			if op.MaxInFlight() != 1 {
				t.Errorf("%d requests in flight at once, want 1", op.MaxInFlight())
			}
		})
	}
}

func TestWaitSendsGrantOverMTLS(t *testing.T) {
	op, c, clock := setup(t, fakeop.Config{})
	ack := start(t, c)
	tok, err := c.Wait(context.Background(), ack, nil)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	polls := op.Polls()
	if len(polls) != 1 {
		t.Fatalf("%d polls, want 1", len(polls))
	}
	p := polls[0]
	if p.Cert == nil || p.Cert.Subject.CommonName != fakeop.DefaultClientID {
		t.Error("client certificate not presented at the token endpoint")
	}
	if p.ContentType != "application/x-www-form-urlencoded" {
		t.Errorf("content type %q", p.ContentType)
	}
	for k, v := range map[string]string{"grant_type": oauth.GrantTypeCIBA, "auth_req_id": fakeop.DefaultAuthReqID, "client_id": fakeop.DefaultClientID} {
		if got := p.Form.Get(k); got != v {
			t.Errorf("form %s = %q, want %q", k, got, v)
		}
	}
	if tok.TokenType != "Bearer" || tok.IDToken == "" || tok.Scope != "openid profile" || tok.ExpiresIn != 300 {
		t.Errorf("token = %+v", tok.TokenResponse)
	}
	if tok.Raw["expires_in"] == nil || tok.Raw["access_token"] != "fake-access-token" || !tok.ReceivedAt.Equal(clock.Now()) {
		t.Errorf("raw = %v, received %v", tok.Raw, tok.ReceivedAt)
	}
}

func TestWaitStops(t *testing.T) {
	tests := []struct {
		code   string
		status int
	}{
		{oauth.ErrAccessDenied, 400},
		{oauth.ErrExpiredToken, 400},
		{oauth.ErrInvalidGrant, 400},
		{oauth.ErrInvalidRequest, 400},
		{oauth.ErrUnauthorizedClient, 400},
		{oauth.ErrInvalidClient, 401},
		{oauth.ErrUnsupportedGrantType, 400},
		{oauth.ErrServerError, 500},
		{"something_new", 400},
		// A 503 is retried only with temporarily_unavailable (CIBA Core
		// 1.0 §11); any other code it carries is final.
		{oauth.ErrInvalidRequest, 503},
		{oauth.ErrAccessDenied, 503},
		{oauth.ErrExpiredToken, 503},
		{oauth.ErrInvalidGrant, 503},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %d", tt.code, tt.status), func(t *testing.T) {
			reply := fakeop.JSON(tt.status, oauth.Error{Code: tt.code, Description: "stop"})
			op, c, _ := setup(t, fakeop.Config{Token: script(fakeop.Pending(), fakeop.Pending(), reply, fakeop.TokenReply("never"))})
			_, err := c.Wait(context.Background(), start(t, c), nil)
			var oe *oauth.Error
			if !errors.As(err, &oe) {
				t.Fatalf("err = %v (%T), want *oauth.Error", err, err)
			}
			if oe.Code != tt.code || oe.Status != tt.status || oe.Description != "stop" {
				t.Errorf("error %+v, want %s HTTP %d", oe, tt.code, tt.status)
			}
			if n := len(op.Polls()); n != 3 {
				t.Errorf("%d polls, want 3 (no poll after the error)", n)
			}
		})
	}
}

func TestWaitExpiresLocally(t *testing.T) {
	tests := []struct {
		name      string
		expiresIn int
		interval  int
		polls     int
	}{
		{"polls until the deadline", 20, 5, 3},           // at 5, 10, 15; 20 would be too late
		{"interval longer than the lifetime", 10, 31, 0}, // never polls
		{"slow_down pushes past the deadline", 12, 5, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := script(fakeop.Pending())
			if strings.Contains(tt.name, "slow_down") {
				token = script(fakeop.SlowDown())
			}
			op, c, clock := setup(t, fakeop.Config{Ack: ackReply(tt.expiresIn, tt.interval), Token: token})
			ack := start(t, c)
			var last ciba.Progress
			_, err := c.Wait(context.Background(), ack, func(p ciba.Progress) { last = p })
			if !errors.Is(err, ciba.ErrExpired) {
				t.Fatalf("err = %v, want ErrExpired", err)
			}
			if n := len(op.Polls()); n != tt.polls {
				t.Errorf("%d polls, want %d", n, tt.polls)
			}
			for _, at := range pollOffsets(op, ack.ReceivedAt) {
				if at >= time.Duration(tt.expiresIn)*time.Second {
					t.Errorf("poll at %v, after the request expired", at)
				}
			}
			if got := clock.Now().Sub(ack.ReceivedAt); got != time.Duration(tt.expiresIn)*time.Second {
				t.Errorf("stopped after %v, want exactly expires_in", got)
			}
			if last.Polls != tt.polls {
				t.Errorf("last progress %+v", last)
			}
		})
	}
}

func TestWaitProgress(t *testing.T) {
	_, c, _ := setup(t, fakeop.Config{Ack: ackReply(60, 5), Token: script(fakeop.Pending(), fakeop.SlowDown(), fakeop.TokenReply("at"))})
	var got []ciba.Progress
	if _, err := c.Wait(context.Background(), start(t, c), func(p ciba.Progress) { got = append(got, p) }); err != nil {
		t.Fatal(err)
	}
	s := time.Second
	want := []ciba.Progress{
		{Polls: 0, Interval: 5 * s, SecondsLeft: 60, Wait: 5 * s},
		{Polls: 1, Interval: 5 * s, SecondsLeft: 55, LastError: oauth.ErrAuthorizationPending, Wait: 5 * s},
		{Polls: 2, Interval: 10 * s, SecondsLeft: 50, LastError: oauth.ErrSlowDown, Wait: 10 * s},
	}
	if !slices.Equal(got, want) {
		t.Errorf("progress\n got %+v\nwant %+v", got, want)
	}
}

func TestWaitHonoursCancel(t *testing.T) {
	t.Run("fake sleep", func(t *testing.T) {
		op, c, _ := setup(t, fakeop.Config{Token: script(fakeop.Pending())})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_, err := c.Wait(ctx, start(t, c), func(p ciba.Progress) {
			if p.Polls == 2 {
				cancel()
			}
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if n := len(op.Polls()); n != 2 {
			t.Errorf("%d polls, want 2", n)
		}
	})
	t.Run("real timer", func(t *testing.T) {
		op, c, _ := setup(t, fakeop.Config{})
		c.Sleep, c.Now = nil, nil
		ack := start(t, c)
		ctx, cancel := context.WithCancel(context.Background())
		begin := time.Now()
		_, err := c.Wait(ctx, ack, func(ciba.Progress) { cancel() })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if len(op.Polls()) != 0 || time.Since(begin) > 4*time.Second {
			t.Error("the wait did not end with the context")
		}
	})
}

func TestWaitRejectsMalformedTokenResponses(t *testing.T) {
	tests := []struct {
		name    string
		reply   fakeop.Reply
		problem string
	}{
		{"wrong content type", fakeop.Raw(200, "text/plain", `{"access_token":"a","token_type":"Bearer"}`), "content type"},
		{"garbage JSON", fakeop.Raw(200, "application/json", `{"access_token":`), "malformed"},
		{"not an object", fakeop.Raw(200, "application/json", `"token"`), "malformed"},
		{"no access_token", fakeop.Raw(200, "application/json", `{"token_type":"Bearer"}`), "access_token"},
		{"not bearer", fakeop.Raw(200, "application/json", `{"access_token":"a","token_type":"DPoP"}`), "Bearer"},
		{"no token_type", fakeop.Raw(200, "application/json", `{"access_token":"a"}`), "Bearer"},
		{"expires_in a string", fakeop.Raw(200, "application/json", `{"access_token":"a","token_type":"Bearer","expires_in":"300"}`), "expires_in"},
		{"oversized", fakeop.Raw(200, "application/json", `{"access_token":"`+strings.Repeat("a", 1<<20)+`","token_type":"Bearer"}`), "larger than"},
		{"error without JSON", fakeop.Raw(400, "text/html", "<p>no</p>"), "content type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, c, _ := setup(t, fakeop.Config{Token: script(tt.reply)})
			_, err := c.Wait(context.Background(), start(t, c), nil)
			var re *ciba.ResponseError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v (%T), want *ciba.ResponseError", err, err)
			}
			if !strings.Contains(re.Problem, tt.problem) || !strings.HasSuffix(re.Endpoint, "/mtls/token") {
				t.Errorf("ResponseError %+v, want a problem about %q at the token endpoint", re, tt.problem)
			}
			if len(op.Polls()) != 1 {
				t.Errorf("%d polls, want 1", len(op.Polls()))
			}
		})
	}
}

func TestWaitAcceptsLowercaseBearerAndMinimalResponse(t *testing.T) {
	_, c, _ := setup(t, fakeop.Config{Token: script(fakeop.Raw(200, "application/json", `{"access_token":"a","token_type":"bearer"}`))})
	tok, err := c.Wait(context.Background(), start(t, c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "a" || tok.Scope != "" || tok.ExpiresIn != 0 {
		t.Errorf("token %+v", tok.TokenResponse)
	}
}

func TestWaitSmallerMaxResponseBytes(t *testing.T) {
	_, c, _ := setup(t, fakeop.Config{})
	c.MaxResponseBytes = 16
	_, err := c.Start(context.Background(), request())
	var re *ciba.ResponseError
	if !errors.As(err, &re) || !strings.Contains(re.Problem, "larger than 16 bytes") {
		t.Fatalf("err = %v, want a body-size ResponseError", err)
	}
}

func TestWaitNeedsAnAck(t *testing.T) {
	_, c, _ := setup(t, fakeop.Config{})
	for _, ack := range []*ciba.Ack{nil, {}, {AuthReqID: "x"}} {
		if _, err := c.Wait(context.Background(), ack, nil); err == nil {
			t.Errorf("Wait(%+v) succeeded", ack)
		}
	}
}

func TestLogsNeverHoldSecrets(t *testing.T) {
	var buf bytes.Buffer
	_, c, _ := setup(t, fakeop.Config{Token: script(fakeop.Pending(), fakeop.TokenReply("secret-access-token"))})
	c.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if _, err := c.Wait(context.Background(), start(t, c), nil); err != nil {
		t.Fatal(err)
	}
	logs := buf.String()
	for _, secret := range []string{fakeop.DefaultAuthReqID, "secret-access-token", "eyJ"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log holds %q:\n%s", secret, logs)
		}
	}
	if ref := oauth.LogAttrReq + "=" + oauth.ReqRef(fakeop.DefaultAuthReqID); !strings.Contains(logs, ref) {
		t.Errorf("log lacks %s:\n%s", ref, logs)
	}
}

func TestUntrustedClientCertificateFailsTheHandshake(t *testing.T) {
	op, c, _ := setup(t, fakeop.Config{})
	other := fakeop.NewCA(t, "other CA").ClientCert(t, fakeop.DefaultClientID)
	c.HTTPClient = ciba.NewHTTPClient(other, op.CA.Pool, false)
	_, err := c.Start(context.Background(), request())
	var oe *oauth.Error
	var re *ciba.ResponseError
	if err == nil || errors.As(err, &oe) || errors.As(err, &re) {
		t.Fatalf("err = %v, want a TLS failure", err)
	}
}

func TestUntrustedServerFails(t *testing.T) {
	op, c, _ := setup(t, fakeop.Config{})
	c.HTTPClient = ciba.NewHTTPClient(op.ClientCert, fakeop.NewCA(t, "other").Pool, false)
	if _, err := c.Start(context.Background(), request()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("err = %v, want a certificate verification failure", err)
	}
	c.HTTPClient = ciba.NewHTTPClient(op.ClientCert, nil, true)
	if _, err := c.Start(context.Background(), request()); err != nil {
		t.Fatalf("with InsecureSkipVerify: %v", err)
	}
}
