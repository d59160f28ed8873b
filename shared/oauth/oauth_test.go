package oauth

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestStatuses(t *testing.T) {
	tests := []struct {
		code             string
		backchannel, tok int
	}{
		{ErrInvalidRequest, 400, 400},
		{ErrInvalidClient, 401, 401},
		{ErrAccessDenied, 403, 400},
		{ErrUnauthorizedClient, 400, 400},
		{ErrAuthorizationPending, 400, 400},
		{ErrSlowDown, 400, 400},
		{ErrExpiredToken, 400, 400},
		{ErrServerError, 500, 500},
		{ErrTemporarilyUnavailable, 503, 503},
		{ErrUnknownUserID, 400, 400},
	}
	for _, tt := range tests {
		if got := BackchannelError(tt.code, "").Status; got != tt.backchannel {
			t.Errorf("backchannel %s: %d, want %d", tt.code, got, tt.backchannel)
		}
		if got := TokenError(tt.code, "").Status; got != tt.tok {
			t.Errorf("token %s: %d, want %d", tt.code, got, tt.tok)
		}
	}
}

// TestErrorJSON: only error, error_description and error_uri are
// serialised (CIBA Core 1.0 §13), and each constructor returns a fresh value.
func TestErrorJSON(t *testing.T) {
	e := TokenError(ErrSlowDown, "wait %d s", 10)
	e.RetryAfter = 3
	b, _ := json.Marshal(e)
	if string(b) != `{"error":"slow_down","error_description":"wait 10 s"}` {
		t.Fatal(string(b))
	}
	if e.Error() != "slow_down: wait 10 s" {
		t.Fatal(e.Error())
	}
	if TokenError(ErrSlowDown, "") == TokenError(ErrSlowDown, "") {
		t.Fatal("constructors share a value")
	}
	if d := TokenError(ErrInvalidRequest, "100%").Description; d != "100%" {
		t.Fatalf("a description without arguments was formatted: %q", d)
	}
}

func TestMTLSEndpoint(t *testing.T) {
	m := ProviderMetadata{TokenEndpoint: "https://a/token", BackchannelAuthenticationEndpoint: "https://a/bc",
		MTLSEndpointAliases: map[string]string{"token_endpoint": "https://mtls.a/token"}}
	if m.MTLSEndpoint("token_endpoint") != "https://mtls.a/token" {
		t.Error("alias not preferred (RFC 8705 §5)")
	}
	if m.MTLSEndpoint("backchannel_authentication_endpoint") != "https://a/bc" {
		t.Error("top-level fallback")
	}
	if m.MTLSEndpoint("unknown") != "" {
		t.Error("unknown endpoint")
	}
}

func TestDeliveryModeValid(t *testing.T) {
	for _, m := range []DeliveryMode{ModePoll, ModePing, ModePush} {
		if !m.Valid() {
			t.Errorf("%s invalid", m)
		}
	}
	if DeliveryMode("POLL").Valid() || DeliveryMode("").Valid() {
		t.Error("bad mode accepted")
	}
}

// TestReqRef: eight hex digits of the SHA-256, the same for the same id,
// and no part of the id itself.
func TestReqRef(t *testing.T) {
	id := "Rg9BnNxyrRYVaTSx2ZLvltjjaTrpHqpbNonNZy_3Dn8"
	got := ReqRef(id)
	if got != ReqRef(id) || len(got) != 8 || strings.Contains(id, got) {
		t.Fatalf("ReqRef(%q) = %q", id, got)
	}
	if got != "180c320f" {
		t.Fatalf("ReqRef(%q) = %q, want the first 4 bytes of its SHA-256, 180c320f", id, got)
	}
}
