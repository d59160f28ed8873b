package op

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

func baseForm() url.Values {
	return url.Values{"client_id": {"client1"}, "scope": {"openid profile"}, "login_hint": {"user"}, "binding_message": {"Message"}}
}

func with(mod func(url.Values)) url.Values {
	f := baseForm()
	mod(f)
	return f
}

// TestBackchannelRejections covers CIBA Core 1.0 §7.2 and §13 and RFC 8705
// §2: each rejection answers with the spec's code and status and stores
// nothing.
func TestBackchannelRejections(t *testing.T) {
	tests := []struct {
		name   string
		form   url.Values
		cert   string // "" = no certificate
		status int
		code   string
	}{
		{"no certificate", baseForm(), "", 401, oauth.ErrInvalidClient},
		{"missing client_id", with(func(f url.Values) { f.Del("client_id") }), "client1", 401, oauth.ErrInvalidClient},
		{"unknown client", with(func(f url.Values) { f.Set("client_id", "nobody") }), "client1", 401, oauth.ErrInvalidClient},
		{"certificate from an untrusted CA", baseForm(), "otherCA", 401, oauth.ErrInvalidClient},
		{"certificate with another subject DN", baseForm(), "wrongDN", 401, oauth.ErrInvalidClient},
		{"another client's certificate", baseForm(), "client2", 401, oauth.ErrInvalidClient},
		{"client without the CIBA grant", with(func(f url.Values) { f.Set("client_id", "nociba") }), "nociba", 400, oauth.ErrUnauthorizedClient},
		{"missing scope", with(func(f url.Values) { f.Del("scope") }), "client1", 400, oauth.ErrInvalidRequest},
		{"scope without openid", with(func(f url.Values) { f.Set("scope", "profile") }), "client1", 400, oauth.ErrInvalidScope},
		{"unknown scope", with(func(f url.Values) { f.Set("scope", "openid admin") }), "client1", 400, oauth.ErrInvalidScope},
		{"no hint", with(func(f url.Values) { f.Del("login_hint") }), "client1", 400, oauth.ErrInvalidRequest},
		{"two hints", with(func(f url.Values) { f.Set("id_token_hint", "x.y.z") }), "client1", 400, oauth.ErrInvalidRequest},
		{"unknown user", with(func(f url.Values) { f.Set("login_hint", "mallory") }), "client1", 400, oauth.ErrUnknownUserID},
		{"empty login_hint", with(func(f url.Values) { f.Set("login_hint", "") }), "client1", 400, oauth.ErrUnknownUserID},
		{"requested_expiry not a number", with(func(f url.Values) { f.Set("requested_expiry", "abc") }), "client1", 400, oauth.ErrInvalidRequest},
		{"requested_expiry zero", with(func(f url.Values) { f.Set("requested_expiry", "0") }), "client1", 400, oauth.ErrInvalidRequest},
		{"requested_expiry negative", with(func(f url.Values) { f.Set("requested_expiry", "-5") }), "client1", 400, oauth.ErrInvalidRequest},
		{"requested_expiry fractional", with(func(f url.Values) { f.Set("requested_expiry", "1.5") }), "client1", 400, oauth.ErrInvalidRequest},
		{"requested_expiry with a space", with(func(f url.Values) { f.Set("requested_expiry", " 10") }), "client1", 400, oauth.ErrInvalidRequest},
		{"requested_expiry overflowing", with(func(f url.Values) { f.Set("requested_expiry", "99999999999999999999") }), "client1", 400, oauth.ErrInvalidRequest},
		{"binding_message too long", with(func(f url.Values) { f.Set("binding_message", strings.Repeat("x", MaxBindingMessage+1)) }), "client1", 400, oauth.ErrInvalidBindingMessage},
		{"binding_message with a control character", with(func(f url.Values) { f.Set("binding_message", "a\nb") }), "client1", 400, oauth.ErrInvalidBindingMessage},
		{"empty binding_message", with(func(f url.Values) { f.Set("binding_message", "") }), "client1", 400, oauth.ErrInvalidBindingMessage},
		{"user_code not supported", with(func(f url.Values) { f.Set("user_code", "1234") }), "client1", 400, oauth.ErrInvalidRequest},
		{"push client without client_notification_token", with(func(f url.Values) { f.Set("client_id", "pusher") }), "pusher", 400, oauth.ErrInvalidRequest},
		{"client_notification_token too long", with(func(f url.Values) {
			f.Set("client_id", "pusher")
			f.Set("client_notification_token", strings.Repeat("a", 1025))
		}), "pusher", 400, oauth.ErrInvalidRequest},
		{"client_notification_token not a b64token", with(func(f url.Values) {
			f.Set("client_id", "pusher")
			f.Set("client_notification_token", "abc def")
		}), "pusher", 400, oauth.ErrInvalidRequest},
		{"client_notification_token of padding only", with(func(f url.Values) {
			f.Set("client_id", "pusher")
			f.Set("client_notification_token", "==")
		}), "pusher", 400, oauth.ErrInvalidRequest},
		{"client_notification_token with padding inside", with(func(f url.Values) {
			f.Set("client_id", "pusher")
			f.Set("client_notification_token", "ab=cd")
		}), "pusher", 400, oauth.ErrInvalidRequest},
		{"acr_values with a control character", with(func(f url.Values) { f.Set("acr_values", "a\x01b") }), "client1", 400, oauth.ErrInvalidRequest},
		{"request_uri", with(func(f url.Values) { f.Set("request_uri", "urn:x") }), "client1", 400, oauth.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			r := f.post(t, pathBCAuthorize, tt.form, f.certs[tt.cert])
			wantError(t, r, tt.status, tt.code)
			if n := f.count(t); n != 0 {
				t.Fatalf("a rejected request left %d stored requests", n)
			}
			if len(f.ann.reqs) != 0 {
				t.Fatal("a rejected request was announced to devices")
			}
		})
	}
}

func TestBackchannelMalformedHTTP(t *testing.T) {
	f := newFixture(t)
	t.Run("GET", func(t *testing.T) {
		req := newRequest(http.MethodGet, pathBCAuthorize, "", "")
		wantError(t, f.do(t, req, f.certs["client1"]), 405, oauth.ErrInvalidRequest)
	})
	t.Run("JSON body", func(t *testing.T) {
		req := newRequest(http.MethodPost, pathBCAuthorize, `{"client_id":"client1"}`, "application/json")
		wantError(t, f.do(t, req, f.certs["client1"]), 400, oauth.ErrInvalidRequest)
	})
	t.Run("repeated parameter", func(t *testing.T) {
		req := newRequest(http.MethodPost, pathBCAuthorize, baseForm().Encode()+"&scope=openid", "application/x-www-form-urlencoded")
		wantError(t, f.do(t, req, f.certs["client1"]), 400, oauth.ErrInvalidRequest)
	})
	t.Run("malformed escape", func(t *testing.T) {
		req := newRequest(http.MethodPost, pathBCAuthorize, "client_id=%zz", "application/x-www-form-urlencoded")
		wantError(t, f.do(t, req, f.certs["client1"]), 400, oauth.ErrInvalidRequest)
	})
	t.Run("oversized body", func(t *testing.T) {
		body := baseForm().Encode() + "&pad=" + strings.Repeat("a", 70<<10)
		req := newRequest(http.MethodPost, pathBCAuthorize, body, "application/x-www-form-urlencoded")
		wantError(t, f.do(t, req, f.certs["client1"]), 400, oauth.ErrInvalidRequest)
	})
	if n := f.count(t); n != 0 {
		t.Fatalf("malformed requests left %d stored requests", n)
	}
}

func newRequest(method, path, body, contentType string) *http.Request {
	req, _ := http.NewRequest(method, issuer+path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

// TestBackchannelAcknowledgement checks the §7.3 acknowledgement and the
// message devices receive (§8).
func TestBackchannelAcknowledgement(t *testing.T) {
	tests := []struct {
		name       string
		expiry     string
		wantExpiry float64
	}{
		{"default expiry", "", 120},
		{"requested_expiry honoured", "200", 200},
		{"requested_expiry capped", "100000", 600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			form := baseForm()
			if tt.expiry != "" {
				form.Set("requested_expiry", tt.expiry)
			}
			r := f.post(t, pathBCAuthorize, form, f.certs["client1"])
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			id := r.str("auth_req_id")
			if !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(id) {
				t.Errorf("auth_req_id %q is not 256 bits of base64url", id)
			}
			if r.body["expires_in"] != tt.wantExpiry || r.body["interval"] != 5.0 {
				t.Errorf("expires_in %v interval %v", r.body["expires_in"], r.body["interval"])
			}
			if r.header.Get("Cache-Control") != "no-store" {
				t.Error("acknowledgement without Cache-Control: no-store")
			}
			if len(f.ann.reqs) != 1 {
				t.Fatalf("%d announcements", len(f.ann.reqs))
			}
			a := f.ann.reqs[0]
			if a.AuthReqID != id || a.User != "user" || a.ClientName != "Client One" || a.BindingMessage != "Message" ||
				strings.Join(a.Scope, " ") != "openid profile" || a.ExpiresAt-a.CreatedAt != int64(tt.wantExpiry) {
				t.Errorf("announcement %+v", a)
			}
		})
	}
}

func TestBindingMessageUnicode(t *testing.T) {
	f := newFixture(t)
	f.start(t, url.Values{"binding_message": {"Paiement 42 € ✅"}})
	if got := f.ann.reqs[0].BindingMessage; got != "Paiement 42 € ✅" {
		t.Fatalf("binding message %q", got)
	}
}

// TestNotificationToken covers client_notification_token (CIBA Core 1.0
// §7.1): required for ping and push, at most 1024 characters of b64token
// syntax, stored for the callback; ignored for poll clients.
func TestNotificationToken(t *testing.T) {
	max := strings.Repeat("A", 1020) + "===="
	tests := []struct {
		name, client, token string
		wantStored          string
	}{
		{"push", "pusher", "abc-._~+/XYZ09==", "abc-._~+/XYZ09=="},
		{"ping", "pinger", "dGVzdA", "dGVzdA"},
		{"1024 characters", "pinger", max, max},
		{"poll: ignored", "client1", "not a b64token!", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.addClient(registry.Client{ID: "pinger", TokenEndpointAuthMethod: oauth.AuthTLSClient, SubjectDN: "CN=client1,O=cibalab",
				DeliveryMode: oauth.ModePing, NotificationEndpoint: "https://rp.test/cb"})
			cert := f.certs[tt.client]
			if tt.client == "pinger" {
				cert = f.certs["client1"]
			}
			form := with(func(v url.Values) {
				v.Set("client_id", tt.client)
				v.Set("client_notification_token", tt.token)
			})
			r := f.post(t, pathBCAuthorize, form, cert)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			req, err := f.store.Get(context.Background(), r.str("auth_req_id"))
			if err != nil {
				t.Fatal(err)
			}
			if req.NotificationToken != tt.wantStored {
				t.Errorf("stored token %q, want %q", req.NotificationToken, tt.wantStored)
			}
			if req.CertThumbprint != pki.ThumbprintS256(cert) {
				t.Errorf("stored x5t#S256 %q, want the certificate of this request (push binds its tokens to it)", req.CertThumbprint)
			}
			if _, hasInterval := r.body["interval"]; hasInterval == (tt.client == "pusher") {
				t.Errorf("interval %v for a %s client (CIBA Core 1.0 §7.3: poll and ping only)", r.body["interval"], tt.client)
			}
		})
	}
}

// TestUserCode covers user_code (CIBA Core 1.0 §7.1.2): checked only when
// both the OP and the client enable it; missing → missing_user_code, wrong
// → invalid_user_code; sent when not enabled → invalid_request.
func TestUserCode(t *testing.T) {
	hash, err := registry.HashUserCode("4711", 2)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name           string
		opOn, clientOn bool
		code           string // "" = not sent
		userHasCode    bool
		wantStatus     int
		wantCode       string
	}{
		{"enabled, right code", true, true, "4711", true, 200, ""},
		{"enabled, wrong code", true, true, "4712", true, 400, oauth.ErrInvalidUserCode},
		{"enabled, missing", true, true, "", true, 400, oauth.ErrMissingUserCode},
		{"enabled, user without a code", true, true, "4711", false, 400, oauth.ErrInvalidUserCode},
		{"OP only: code refused", true, false, "4711", true, 400, oauth.ErrInvalidRequest},
		{"client only: code refused", false, true, "4711", true, 400, oauth.ErrInvalidRequest},
		{"client only: no code needed", false, true, "", true, 200, ""},
		{"OP only: no code needed", true, false, "", true, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.p.cfg.UserCodeSupported = tt.opOn
			f.reg.clients["client1"].BackchannelUserCodeParameter = tt.clientOn
			if tt.userHasCode {
				f.reg.users["user"].UserCodeHash = hash
			}
			form := baseForm()
			if tt.code != "" {
				form.Set("user_code", tt.code)
			}
			r := f.post(t, pathBCAuthorize, form, f.certs["client1"])
			if tt.wantStatus == 200 {
				if r.status != 200 {
					t.Fatalf("status %d: %s", r.status, r.raw)
				}
				return
			}
			wantError(t, r, tt.wantStatus, tt.wantCode)
			if n := f.count(t); n != 0 || len(f.ann.reqs) != 0 {
				t.Fatal("a rejected request was stored or announced")
			}
			if strings.Contains(r.raw, tt.code) && tt.code != "" {
				t.Error("the error echoes the user_code")
			}
		})
	}
}

// TestACRValuesStored: acr_values are stored and reach the device in order
// of preference, duplicates removed (CIBA Core 1.0 §7.1).
func TestACRValuesStored(t *testing.T) {
	f := newFixture(t)
	id := f.start(t, url.Values{"acr_values": {ACRPIN + " urn:x " + ACRPIN}})
	req, err := f.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(req.ACRValues, " ") != ACRPIN+" urn:x" || strings.Join(f.ann.reqs[0].ACRValues, " ") != ACRPIN+" urn:x" {
		t.Fatalf("stored %v, announced %v", req.ACRValues, f.ann.reqs[0].ACRValues)
	}
}
