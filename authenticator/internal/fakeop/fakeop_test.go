package fakeop

import (
	"encoding/json"
	"testing"
	"time"

	"cibalab/authenticator/devicekey"
	"cibalab/shared/channel"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"
)

// call sends in on subject and decodes the reply into out.
func call(tb testing.TB, nc *nats.Conn, subject string, in, out any) {
	tb.Helper()
	data, _ := json.Marshal(in)
	msg, err := nc.Request(subject, data, 5*time.Second)
	if err != nil {
		tb.Fatalf("request %s: %v", subject, err)
	}
	if err := json.Unmarshal(msg.Data, out); err != nil {
		tb.Fatal(err)
	}
}

// The responder must refuse what a real OP refuses, or the tests that rely
// on it could not fail.
func TestDecideRefusesBadDecisions(t *testing.T) {
	op := Start(t, Config{Users: map[string]string{"alice": "pw"}})
	nc, err := nats.Connect(op.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	key, _ := devicekey.Generate()
	other, _ := devicekey.Generate()
	jwk, _ := json.Marshal(key.PublicJWK())
	var s channel.SignInResponse
	call(t, nc, channel.SignInSubject("master"), channel.SignInRequest{Version: 1, User: "alice", Password: "pw", DeviceKey: jwk}, &s)
	if s.SessionID == "" {
		t.Fatalf("sign-in: %+v", s)
	}
	req := op.NewRequest("alice", "m")
	claims := func(jti string) *channel.DecisionClaims {
		now := time.Now()
		return &channel.DecisionClaims{AuthReqID: req.AuthReqID, Verdict: "approve", SessionID: s.SessionID,
			RegisteredClaims: jwt.RegisteredClaims{ID: jti, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute))}}
	}
	sign := func(k *devicekey.Key, c *channel.DecisionClaims) string {
		tok, err := k.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	hs, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims("h")).SignedString([]byte("k"))
	noExp := claims("e")
	noExp.ExpiresAt = nil
	tests := []struct {
		name, sid, jwt, want string
	}{
		{"other key", s.SessionID, sign(other, claims("a")), channel.ErrBadSignature},
		{"HS256", s.SessionID, hs, channel.ErrBadSignature},
		{"no exp", s.SessionID, sign(key, noExp), channel.ErrBadSignature},
		{"unknown session", "nope", sign(key, claims("b")), channel.ErrUnknownSession},
		{"accepted", s.SessionID, sign(key, claims("c")), ""},
		{"replay", s.SessionID, sign(key, claims("c")), channel.ErrReplay},
		{"decided", s.SessionID, sign(key, claims("d")), channel.ErrNotPending},
	}
	for _, tt := range tests {
		var res channel.DecisionResult
		call(t, nc, channel.DecideSubject("master"), channel.Decision{Version: 1, SessionID: tt.sid, JWT: tt.jwt}, &res)
		if res.Error != tt.want || res.Accepted != (tt.want == "") {
			t.Errorf("%s: %+v, want error %q", tt.name, res, tt.want)
		}
	}
	if n := len(op.Decisions()); n != 1 {
		t.Fatalf("%d decisions recorded, want 1", n)
	}
}
