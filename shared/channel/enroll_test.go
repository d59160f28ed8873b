package channel

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestDeviceSubjects(t *testing.T) {
	tests := []struct{ got, want string }{
		{EnrollSubject("master"), "cibalab.v1.master.device.enroll"},
		{DevicePendingSubject("master", "d1"), "cibalab.v1.master.device.d1.pending"},
		{DeviceDecideSubject("master", "d1"), "cibalab.v1.master.device.d1.decide"},
		{DeviceInboxPrefix("master", "d1"), "_INBOX_cibalab.master.d1"},
		{EnrollKeySubject("master", "UK"), "cibalab.v1.master.enroll.UK"},
		{EnrollInboxPrefix("master", "UK"), "_INBOX_cibalab_enroll.master.UK"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	// The per-device subjects never collide with the shared ones, whatever
	// the (valid) device id.
	for _, id := range []string{"pending", "decide", "enroll", "events"} {
		for _, s := range []string{DevicePendingSubject("m", id), DeviceDecideSubject("m", id)} {
			for _, shared := range []string{EnrollSubject("m"), EventsSubject("m"), UserRequestsSubject("m", "u")} {
				if s == shared {
					t.Errorf("device %q: %s collides", id, s)
				}
			}
		}
	}
	// The device inbox is outside _INBOX.>, which anonymous connections
	// may read.
	if strings.HasPrefix(DeviceInboxPrefix("m", "d"), "_INBOX.") {
		t.Error("device inbox under _INBOX.")
	}
	for _, bad := range []string{"", "a.b", "*", ">", "a b", strings.Repeat("x", 65)} {
		if ValidDeviceID(bad) == nil {
			t.Errorf("ValidDeviceID(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"", "U", "u" + strings.Repeat("A", 55), strings.Repeat("A", 55) + ".", strings.Repeat("A", 55) + "1", strings.Repeat("A", 57)} {
		if ValidNKeyToken(bad) == nil {
			t.Errorf("ValidNKeyToken(%q) accepted", bad)
		}
	}
	if ValidNKeyToken("UCO2PUCRWUOTM5AYMHP2BOWIA5P37PKXD4TYWT6ZMZI2XS2QKIFV2TDP") != nil {
		t.Error("ValidNKeyToken refused an nkey")
	}
	if ValidDeviceID("dev-Ab_9") != nil {
		t.Error("ValidDeviceID refused a good id")
	}
}

// TestEnrollGoldenJSON pins the enrollment messages.
func TestEnrollGoldenJSON(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{EnrollRequest{Version: 1, User: "u", Password: "p", DeviceName: "phone", DeviceKey: json.RawMessage(`{"kty":"EC"}`), NKey: "UABC"},
			`{"v":1,"user":"u","password":"p","device_name":"phone","device_key":{"kty":"EC"},"nkey":"UABC"}`},
		{EnrollResponse{Version: 1, DeviceID: "d", User: "u", RequestsSubject: "r", PendingSubject: "p", DecideSubject: "x", InboxPrefix: "i"},
			`{"v":1,"device_id":"d","user":"u","requests_subject":"r","pending_subject":"p","decide_subject":"x","inbox_prefix":"i"}`},
		{EnrollResponse{Version: 1, Error: ErrBadCredentials}, `{"v":1,"error":"bad_credentials"}`},
		{EnrollHello{Version: 1, NKey: "UABC"}, `{"v":1,"nkey":"UABC"}`},
		{DecisionClaims{AuthReqID: "a", Verdict: VerdictDeny, DeviceID: "d", AMR: []string{"pin"},
			RegisteredClaims: jwt.RegisteredClaims{ID: "j", IssuedAt: jwt.NewNumericDate(time.Unix(5, 0))}},
			`{"auth_req_id":"a","verdict":"deny","device_id":"d","amr":["pin"],"iat":5,"jti":"j"}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.v)
		if err != nil || string(b) != tt.want {
			t.Errorf("got %s (%v), want %s", b, err, tt.want)
		}
	}
}

func TestDecisionClaimsDeviceID(t *testing.T) {
	c := DecisionClaims{AuthReqID: "a", Verdict: VerdictApprove, DeviceID: "d",
		RegisteredClaims: jwt.RegisteredClaims{ID: "j", IssuedAt: jwt.NewNumericDate(time.Unix(1, 0))}}
	if err := c.Validate(); err != nil {
		t.Fatalf("device decision refused: %v", err)
	}
	c.DeviceID = ""
	if c.Validate() == nil {
		t.Fatal("decision without device_id or sid accepted")
	}
}
