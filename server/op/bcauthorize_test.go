package op

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"cibalab/shared/oauth"
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
		{"push client (not supported yet)", with(func(f url.Values) { f.Set("client_id", "pusher") }), "pusher", 400, oauth.ErrUnauthorizedClient},
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
