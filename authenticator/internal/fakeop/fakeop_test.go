package fakeop

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cibalab/cibalab/authenticator/devicekey"
	"github.com/cibalab/cibalab/shared/channel"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
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
	anon, err := nats.Connect(op.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(anon.Close)
	key, _ := devicekey.Generate()
	other, _ := devicekey.Generate()
	nk, _ := nkeys.CreateUser()
	pub, _ := nk.PublicKey()
	jwk, _ := json.Marshal(key.PublicJWK())
	var e channel.EnrollResponse
	// The fake OP does not enforce permissions: the enrollment subject of
	// an nkey is reached without that nkey.
	subject := channel.EnrollKeySubject("master", pub)
	call(t, anon, subject, channel.EnrollRequest{Version: 1, User: "alice", Password: "wrong", DeviceKey: jwk, NKey: pub}, &e)
	if e.Error != channel.ErrBadCredentials {
		t.Fatalf("wrong password: %+v", e)
	}
	other2, _ := nkeys.CreateUser()
	otherPub, _ := other2.PublicKey()
	call(t, anon, channel.EnrollKeySubject("master", otherPub), channel.EnrollRequest{Version: 1, User: "alice", Password: "pw", DeviceKey: jwk, NKey: pub}, &e)
	if e.Error != channel.ErrBadMessage {
		t.Fatalf("enrolling another nkey than the subject's: %+v", e)
	}
	call(t, anon, subject, channel.EnrollRequest{Version: 1, User: "alice", Password: "pw", DeviceKey: jwk, NKey: pub}, &e)
	if e.DeviceID == "" {
		t.Fatalf("enroll: %+v", e)
	}
	nc, err := nats.Connect(op.URL, nats.CustomInboxPrefix(e.InboxPrefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	req := op.NewRequest("alice", "m")
	claims := func(jti, device string) *channel.DecisionClaims {
		now := time.Now()
		return &channel.DecisionClaims{AuthReqID: req.AuthReqID, Verdict: "approve", DeviceID: device,
			RegisteredClaims: jwt.RegisteredClaims{ID: jti, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute))}}
	}
	sign := func(k *devicekey.Key, c *channel.DecisionClaims) string {
		tok, err := k.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	hs, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims("h", e.DeviceID)).SignedString([]byte("k"))
	noExp := claims("e", e.DeviceID)
	noExp.ExpiresAt = nil
	tests := []struct {
		name, subject, jwt, want string
	}{
		{"other key", e.DecideSubject, sign(other, claims("a", e.DeviceID)), channel.ErrBadSignature},
		{"HS256", e.DecideSubject, hs, channel.ErrBadSignature},
		{"no exp", e.DecideSubject, sign(key, noExp), channel.ErrBadSignature},
		{"other device id", e.DecideSubject, sign(key, claims("f", "dev-9")), channel.ErrBadSignature},
		{"unknown device", channel.DeviceDecideSubject("master", "dev-9"), sign(key, claims("b", e.DeviceID)), channel.ErrUnknownDevice},
		{"accepted", e.DecideSubject, sign(key, claims("c", e.DeviceID)), ""},
		{"replay", e.DecideSubject, sign(key, claims("c", e.DeviceID)), channel.ErrReplay},
		{"decided", e.DecideSubject, sign(key, claims("d", e.DeviceID)), channel.ErrNotPending},
	}
	for _, tt := range tests {
		var res channel.DecisionResult
		call(t, nc, tt.subject, channel.Decision{Version: 1, JWT: tt.jwt}, &res)
		if res.Error != tt.want || res.Accepted != (tt.want == "") {
			t.Errorf("%s: %+v, want error %q", tt.name, res, tt.want)
		}
	}
	if n := len(op.Decisions()); n != 1 {
		t.Fatalf("%d decisions recorded, want 1", n)
	}
	op.Revoke(e.DeviceID)
	var res channel.PendingResponse
	call(t, nc, e.PendingSubject, channel.PendingRequest{Version: 1}, &res)
	if res.Error != channel.ErrDeviceRevoked {
		t.Fatalf("revoked device's pending: %+v", res)
	}
}
