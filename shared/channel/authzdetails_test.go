package channel

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cibalab/cibalab/shared/authzdetails"
)

// TestAuthorizationDetailsJSON: a request carries its entries as the
// client sent them; a decision its approved indexes (RFC 9396).
func TestAuthorizationDetailsJSON(t *testing.T) {
	ds, err := authzdetails.Parse([]byte(`[{"type":"x","actions":["read"]}, {"type":"y"}]`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(AuthRequest{Version: 1, AuthReqID: "id", ClientID: "c", User: "u", Scope: []string{"openid"},
		AuthorizationDetails: ds, CreatedAt: 1, ExpiresAt: 2})
	want := `{"v":1,"auth_req_id":"id","client_id":"c","user":"u","scope":["openid"],"authorization_details":[{"type":"x","actions":["read"]},{"type":"y"}],"created_at":1,"expires_at":2}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	var back AuthRequest
	if err := json.Unmarshal(b, &back); err != nil || !authzdetails.Equal(back.AuthorizationDetails, ds) {
		t.Fatalf("round trip: %v %v", back.AuthorizationDetails, err)
	}
	if err := json.Unmarshal([]byte(`{"v":1,"authorization_details":[{"actions":[]}]}`), &back); err == nil {
		t.Fatal("an entry without a type was accepted")
	}
	c := DecisionClaims{AuthReqID: "a", Verdict: VerdictApprove, DeviceID: "d", ApprovedDetails: []int{1},
		RegisteredClaims: jwt.RegisteredClaims{ID: "j", IssuedAt: jwt.NewNumericDate(time.Unix(1, 0))}}
	b, _ = json.Marshal(c)
	if want := `{"auth_req_id":"a","verdict":"approve","device_id":"d","approved_details":[1],"iat":1,"jti":"j"}`; string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*DecisionClaims){
		"indexes on a deny":  func(c *DecisionClaims) { c.Verdict = VerdictDeny },
		"negative index":     func(c *DecisionClaims) { c.ApprovedDetails = []int{-1} },
		"index out of range": func(c *DecisionClaims) { c.ApprovedDetails = []int{authzdetails.MaxEntries} },
	} {
		bad := c
		mod(&bad)
		if bad.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
