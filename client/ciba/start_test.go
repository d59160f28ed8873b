package ciba_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/cibalab/cibalab/client/ciba"
	"github.com/cibalab/cibalab/client/internal/fakeop"
	"github.com/cibalab/cibalab/shared/oauth"
)

func TestStartSendsFormWithClientIDOverMTLS(t *testing.T) {
	op, c, clock := setup(t, fakeop.Config{})
	ack, err := c.Start(context.Background(), ciba.Request{
		Scope:           []string{"openid", "profile"},
		LoginHint:       "alice",
		BindingMessage:  "W4SCT",
		ACRValues:       "urn:acr:pin",
		RequestedExpiry: 300,
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	want := ciba.Ack{AuthReqID: fakeop.DefaultAuthReqID, ExpiresIn: 120, Interval: 5, ReceivedAt: clock.Now()}
	if *ack != want {
		t.Errorf("ack = %+v, want %+v", *ack, want)
	}
	reqs := op.Requests("/mtls/bc-authorize")
	if len(reqs) != 1 {
		t.Fatalf("got %d backchannel requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.ContentType != "application/x-www-form-urlencoded" {
		t.Errorf("request %s %q, want POST application/x-www-form-urlencoded", r.Method, r.ContentType)
	}
	if r.Cert == nil || r.Cert.Subject.CommonName != fakeop.DefaultClientID {
		t.Errorf("client certificate not presented: %v", r.Cert)
	}
	for k, v := range map[string]string{
		"client_id": fakeop.DefaultClientID, "scope": "openid profile", "login_hint": "alice",
		"binding_message": "W4SCT", "acr_values": "urn:acr:pin", "requested_expiry": "300",
	} {
		if got := r.Form.Get(k); got != v {
			t.Errorf("form %s = %q, want %q", k, got, v)
		}
	}
	for _, k := range []string{"login_hint_token", "id_token_hint", "user_code"} {
		if r.Form.Has(k) {
			t.Errorf("form has %s, want it omitted", k)
		}
	}
}

func TestStartOmitsRequestedExpiryWhenZero(t *testing.T) {
	op, c, _ := setup(t, fakeop.Config{})
	start(t, c)
	if f := op.Requests("/mtls/bc-authorize")[0].Form; f.Has("requested_expiry") {
		t.Errorf("requested_expiry sent: %q", f.Get("requested_expiry"))
	}
}

func TestStartRejectsBadRequestLocally(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*ciba.Config, *ciba.Request)
		want   string
	}{
		{"no openid scope", func(_ *ciba.Config, r *ciba.Request) { r.Scope = []string{"profile"} }, "openid"},
		{"no hint", func(_ *ciba.Config, r *ciba.Request) { r.LoginHint = "" }, "exactly one"},
		{"two hints", func(_ *ciba.Config, r *ciba.Request) { r.IDTokenHint = "x.y.z" }, "exactly one"},
		{"negative expiry", func(_ *ciba.Config, r *ciba.Request) { r.RequestedExpiry = -1 }, "requested_expiry"},
		{"no client_id", func(c *ciba.Config, _ *ciba.Request) { c.ClientID = "" }, "client_id"},
		{"no endpoint", func(c *ciba.Config, _ *ciba.Request) { c.BackchannelAuthURL = "" }, "endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, c, _ := setup(t, fakeop.Config{})
			r := request()
			tt.mutate(c, &r)
			_, err := c.Start(context.Background(), r)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "ciba: ") {
				t.Fatalf("err = %v, want a ciba: error about %q", err, tt.want)
			}
			if n := len(op.Requests("")); n != 0 {
				t.Errorf("%d requests sent, want none", n)
			}
		})
	}
}

func TestStartValidatesAcknowledgement(t *testing.T) {
	big := `{"auth_req_id":"a","expires_in":60,"pad":"` + strings.Repeat("x", 2<<20) + `"}`
	tests := []struct {
		name    string
		reply   fakeop.Reply
		problem string // "" means success
		want    ciba.Ack
	}{
		{"interval absent defaults to 5", fakeop.Raw(200, "application/json", `{"auth_req_id":"a","expires_in":60}`), "", ciba.Ack{AuthReqID: "a", ExpiresIn: 60, Interval: 5}},
		{"interval zero defaults to 5", fakeop.Raw(200, "application/json", `{"auth_req_id":"a","expires_in":60,"interval":0}`), "", ciba.Ack{AuthReqID: "a", ExpiresIn: 60, Interval: 5}},
		{"unknown members ignored", fakeop.Raw(200, "application/json; charset=utf-8", `{"auth_req_id":"a","expires_in":60,"interval":7,"x":{"y":[1]}}`), "", ciba.Ack{AuthReqID: "a", ExpiresIn: 60, Interval: 7}},
		{"missing auth_req_id", fakeop.Raw(200, "application/json", `{"expires_in":60}`), "without auth_req_id", ciba.Ack{}},
		{"empty auth_req_id", fakeop.Raw(200, "application/json", `{"auth_req_id":"","expires_in":60}`), "without auth_req_id", ciba.Ack{}},
		{"auth_req_id not a string", fakeop.Raw(200, "application/json", `{"auth_req_id":7,"expires_in":60}`), "malformed", ciba.Ack{}},
		{"missing expires_in", fakeop.Raw(200, "application/json", `{"auth_req_id":"a"}`), "without expires_in", ciba.Ack{}},
		{"zero expires_in", fakeop.Raw(200, "application/json", `{"auth_req_id":"a","expires_in":0}`), "expires_in", ciba.Ack{}},
		{"string expires_in", fakeop.Raw(200, "application/json", `{"auth_req_id":"a","expires_in":"60"}`), "expires_in", ciba.Ack{}},
		{"fractional expires_in", fakeop.Raw(200, "application/json", `{"auth_req_id":"a","expires_in":1.5}`), "expires_in", ciba.Ack{}},
		{"huge expires_in", fakeop.Raw(200, "application/json", `{"auth_req_id":"a","expires_in":99999999999999999999}`), "expires_in", ciba.Ack{}},
		{"negative interval", fakeop.Raw(200, "application/json", `{"auth_req_id":"a","expires_in":60,"interval":-1}`), "interval", ciba.Ack{}},
		{"wrong content type", fakeop.Raw(200, "text/html", `<html>hello</html>`), "content type", ciba.Ack{}},
		{"no content type", fakeop.Reply{Status: 200, ContentType: "", Body: nil}, "content type", ciba.Ack{}},
		{"garbage JSON", fakeop.Raw(200, "application/json", `{"auth_req_id":`), "malformed", ciba.Ack{}},
		{"JSON array", fakeop.Raw(200, "application/json", `[]`), "malformed", ciba.Ack{}},
		{"oversized body", fakeop.Raw(200, "application/json", big), "larger than", ciba.Ack{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c, clock := setup(t, fakeop.Config{Ack: func(fakeop.Request) fakeop.Reply { return tt.reply }})
			ack, err := c.Start(context.Background(), request())
			if tt.problem == "" {
				if err != nil {
					t.Fatalf("Start: %v", err)
				}
				tt.want.ReceivedAt = clock.Now()
				if *ack != tt.want {
					t.Fatalf("ack = %+v, want %+v", *ack, tt.want)
				}
				return
			}
			var re *ciba.ResponseError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v (%T), want *ciba.ResponseError", err, err)
			}
			if !strings.Contains(re.Problem, tt.problem) || re.Status != 200 || !strings.HasSuffix(re.Endpoint, "/mtls/bc-authorize") {
				t.Errorf("ResponseError = %+v, want problem about %q from the backchannel endpoint", re, tt.problem)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error message spans lines: %q", err)
			}
		})
	}
}

func TestStartReturnsProviderErrors(t *testing.T) {
	tests := []struct {
		name       string
		reply      fakeop.Reply
		cert       bool
		wantCode   string
		wantStatus int
	}{
		{"unknown user", fakeop.BackchannelError(oauth.ErrUnknownUserID, "no such user"), true, oauth.ErrUnknownUserID, 400},
		{"policy denial", fakeop.BackchannelError(oauth.ErrAccessDenied, "not allowed"), true, oauth.ErrAccessDenied, 403},
		{"invalid request", fakeop.BackchannelError(oauth.ErrInvalidRequest, "bad"), true, oauth.ErrInvalidRequest, 400},
		{"no certificate", fakeop.Reply{}, false, oauth.ErrInvalidClient, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, c, _ := setup(t, fakeop.Config{Ack: func(fakeop.Request) fakeop.Reply { return tt.reply }})
			if !tt.cert {
				c.HTTPClient = op.HTTPClient(zeroCert)
			}
			_, err := c.Start(context.Background(), request())
			var oe *oauth.Error
			if !errors.As(err, &oe) {
				t.Fatalf("err = %v (%T), want *oauth.Error", err, err)
			}
			if oe.Code != tt.wantCode || oe.Status != tt.wantStatus {
				t.Errorf("error %q HTTP %d, want %q HTTP %d", oe.Code, oe.Status, tt.wantCode, tt.wantStatus)
			}
		})
	}
}

func TestStartErrorBodyMustBeOAuthJSON(t *testing.T) {
	tests := []struct {
		name  string
		reply fakeop.Reply
	}{
		{"html 400", fakeop.Raw(400, "text/html", "<h1>Bad Request</h1>")},
		{"json without error", fakeop.Raw(400, "application/json", `{"message":"nope"}`)},
		{"control characters in code", fakeop.Raw(400, "application/json", `{"error":"bad\u001b[2J"}`)},
		{"redirect", fakeop.Reply{Status: http.StatusFound, Header: http.Header{"Location": {"https://example.com/"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c, _ := setup(t, fakeop.Config{Ack: func(fakeop.Request) fakeop.Reply { return tt.reply }})
			_, err := c.Start(context.Background(), request())
			var re *ciba.ResponseError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v (%T), want *ciba.ResponseError", err, err)
			}
			if re.Status != tt.reply.Status {
				t.Errorf("status %d, want %d", re.Status, tt.reply.Status)
			}
		})
	}
}

func TestStartHonoursContext(t *testing.T) {
	_, c, _ := setup(t, fakeop.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Start(ctx, request())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestRedirectsAreNotFollowedEvenByDefaultClient(t *testing.T) {
	followed := false
	op, c, _ := setup(t, fakeop.Config{Ack: func(fakeop.Request) fakeop.Reply {
		return fakeop.Reply{Status: http.StatusTemporaryRedirect, Header: http.Header{"Location": {"/master/mtls/token"}}}
	}})
	hc := op.HTTPClient(op.ClientCert)
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { followed = true; return nil }
	c.HTTPClient = hc
	_, err := c.Start(context.Background(), request())
	var re *ciba.ResponseError
	if !errors.As(err, &re) || re.Status != http.StatusTemporaryRedirect {
		t.Fatalf("err = %v, want a ResponseError with status 307", err)
	}
	if followed || len(op.Polls()) != 0 {
		t.Error("redirect was followed")
	}
}
