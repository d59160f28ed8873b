package channel

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestUserToken(t *testing.T) {
	tests := []struct{ user, want string }{
		{"user", "user"},
		{"Alice-1", "Alice-1"},
		{"a.b", "a_2Eb"},
		{"a_2Eb", "a_5F2Eb"},
		{"*", "_2A"},
		{">", "_3E"},
		{"x y", "x_20y"},
		{"é", "_C3_A9"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := UserToken(tt.user); got != tt.want {
			t.Errorf("UserToken(%q) = %q, want %q", tt.user, got, tt.want)
		}
	}
}

// FuzzUserToken: the encoding is injective and never yields a character
// that changes NATS routing.
func FuzzUserToken(f *testing.F) {
	for _, s := range []string{"user", "a.b", "a_2Eb", "*", "> x", "\x00"} {
		f.Add(s, s+".")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ta, tb := UserToken(a), UserToken(b)
		if strings.ContainsAny(ta, ".*> \t\r\n") {
			t.Fatalf("UserToken(%q) = %q contains a routing character", a, ta)
		}
		if a != b && ta == tb {
			t.Fatalf("UserToken(%q) == UserToken(%q) == %q", a, b, ta)
		}
	})
}

func TestSubjects(t *testing.T) {
	if got := UserRequestsSubject("master", "a.b"); got != "cibalab.v1.master.user.a_2Eb.requests" {
		t.Fatal(got)
	}
	for _, s := range []string{DevicePendingSubject("m", "d"), DeviceDecideSubject("m", "d"), EnrollSubject("m"), EventsSubject("m")} {
		if !strings.HasPrefix(s, "cibalab.v1.m.") {
			t.Errorf("subject %q lacks the versioned prefix", s)
		}
	}
	for _, bad := range []string{"", "a.b", "a*", "a b", strings.Repeat("x", 65)} {
		if ValidRealm(bad) == nil {
			t.Errorf("ValidRealm(%q) accepted", bad)
		}
	}
	if ValidRealm("master_2") != nil {
		t.Error("ValidRealm(master_2) refused")
	}
}

// TestGoldenJSON pins the wire format of version 1.
func TestGoldenJSON(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{AuthRequest{Version: 1, AuthReqID: "id", ClientID: "c", User: "u", Scope: []string{"openid"}, BindingMessage: "m", CreatedAt: 1, ExpiresAt: 2},
			`{"v":1,"auth_req_id":"id","client_id":"c","user":"u","scope":["openid"],"binding_message":"m","created_at":1,"expires_at":2}`},
		{Decision{Version: 1, JWT: "j"}, `{"v":1,"jwt":"j"}`},
		{DecisionResult{Version: 1, Accepted: true}, `{"v":1,"accepted":true}`},
		{PendingRequest{Version: 1}, `{"v":1}`},
		{RequestClosed{Version: 1, Type: RequestClosedType, AuthReqID: "id", User: "u", Reason: ClosedApproved, DeviceID: "d"},
			`{"v":1,"type":"request.closed","auth_req_id":"id","user":"u","reason":"approved","device_id":"d"}`},
		{RequestClosed{Version: 1, Type: RequestClosedType, AuthReqID: "id", User: "u", Reason: ClosedExpired},
			`{"v":1,"type":"request.closed","auth_req_id":"id","user":"u","reason":"expired"}`},
		{DecisionResult{Version: 1, Error: ErrRateLimited}, `{"v":1,"accepted":false,"error":"rate_limited"}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.v)
		if err != nil || string(b) != tt.want {
			t.Errorf("got %s (%v), want %s", b, err, tt.want)
		}
	}
}

func TestDecisionClaimsValidate(t *testing.T) {
	ok := DecisionClaims{AuthReqID: "a", Verdict: VerdictApprove, DeviceID: "d",
		RegisteredClaims: jwt.RegisteredClaims{ID: "j", IssuedAt: jwt.NewNumericDate(time.Unix(1, 0))}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*DecisionClaims){
		"no auth_req_id": func(c *DecisionClaims) { c.AuthReqID = "" },
		"bad verdict":    func(c *DecisionClaims) { c.Verdict = "yes" },
		"no device_id":   func(c *DecisionClaims) { c.DeviceID = "" },
		"no jti":         func(c *DecisionClaims) { c.ID = "" },
		"no iat":         func(c *DecisionClaims) { c.IssuedAt = nil },
	} {
		c := ok
		mod(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	r := AuthRequest{ExpiresAt: 100}
	if r.SecondsLeft(time.Unix(40, 0)) != 60 || r.SecondsLeft(time.Unix(200, 0)) != 0 {
		t.Error("SecondsLeft")
	}
}
