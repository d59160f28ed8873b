package optest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/cibalab/cibalab/server/optest"
)

// call POSTs form to the endpoint with the client hc, as a consumption
// device does (CIBA Core 1.0 §7.1, §10.1), and returns the status and the
// JSON answer.
func call(hc *http.Client, endpoint string, form url.Values) (int, map[string]any) {
	resp, err := hc.PostForm(endpoint, form)
	if err != nil {
		return 0, map[string]any{"error": err.Error()}
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// A consumption device starts CIBA with its client certificate, the user
// approves on their device, and the client gets tokens.
func Example_approve() {
	s, err := optest.Start()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	ctx := context.Background()
	hc := s.Client("cibaConformance") // mutual TLS with the client's certificate

	_, ack := call(hc, s.URL+"/mtls/bc-authorize", url.Values{
		"client_id": {"cibaConformance"}, "scope": {"openid"},
		"login_hint": {"user"}, "binding_message": {"Order 42"},
	})
	p, _ := s.WaitPending(ctx) // what the user's device shows
	fmt.Println(p.ClientID, p.User, p.Scope, p.BindingMessage)
	s.Approve(ctx, p.AuthReqID)

	status, tok := call(hc, s.URL+"/mtls/token", url.Values{
		"client_id": {"cibaConformance"}, "grant_type": {"urn:openid:params:grant-type:ciba"},
		"auth_req_id": {ack["auth_req_id"].(string)},
	})
	fmt.Println(status, tok["token_type"], tok["id_token"] != nil)
	// Output:
	// cibaConformance user [openid] Order 42
	// 200 Bearer true
}

// With AutoDeny every user's device denies at once; the client's next
// poll gets access_denied.
func Example_deny() {
	s, err := optest.Start(optest.AutoDeny())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	hc := s.Client("cibaConformance")

	_, ack := call(hc, s.URL+"/mtls/bc-authorize", url.Values{
		"client_id": {"cibaConformance"}, "scope": {"openid"}, "login_hint": {"user"},
	})
	id := ack["auth_req_id"].(string)
	approved, _ := s.WaitDecided(context.Background(), id)
	fmt.Println("approved:", approved)

	status, body := call(hc, s.URL+"/mtls/token", url.Values{
		"client_id": {"cibaConformance"}, "grant_type": {"urn:openid:params:grant-type:ciba"},
		"auth_req_id": {id},
	})
	fmt.Println(status, body["error"])
	// Output:
	// approved: false
	// 400 access_denied
}

// Nobody answers: once the OP's clock passes expires_in, the client gets
// expired_token, at once and without sleeping.
func Example_expiry() {
	s, err := optest.Start()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	hc := s.Client("cibaConformance")

	_, ack := call(hc, s.URL+"/mtls/bc-authorize", url.Values{
		"client_id": {"cibaConformance"}, "scope": {"openid"}, "login_hint": {"user"},
		"requested_expiry": {"60"},
	})
	fmt.Println("expires_in:", ack["expires_in"])
	s.Advance(61 * time.Second)

	status, body := call(hc, s.URL+"/mtls/token", url.Values{
		"client_id": {"cibaConformance"}, "grant_type": {"urn:openid:params:grant-type:ciba"},
		"auth_req_id": {ack["auth_req_id"].(string)},
	})
	fmt.Println(status, body["error"])
	// Output:
	// expires_in: 60
	// 400 expired_token
}

// The first poll may follow the acknowledgement at once; after that a
// client that polls sooner than the interval gets slow_down, and must then
// wait 5 s more for good (CIBA Core 1.0 §7.3, §11).
func Example_slowDown() {
	s, err := optest.Start()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	hc := s.Client("cibaConformance")

	_, ack := call(hc, s.URL+"/mtls/bc-authorize", url.Values{
		"client_id": {"cibaConformance"}, "scope": {"openid"}, "login_hint": {"user"},
	})
	fmt.Println("interval:", ack["interval"])
	tokenRequest := url.Values{
		"client_id": {"cibaConformance"}, "grant_type": {"urn:openid:params:grant-type:ciba"},
		"auth_req_id": {ack["auth_req_id"].(string)},
	}

	_, body := call(hc, s.URL+"/mtls/token", tokenRequest) // at once: the first poll
	fmt.Println(body["error"])
	_, body = call(hc, s.URL+"/mtls/token", tokenRequest) // at once again: too soon
	fmt.Println(body["error"])
	s.Advance(5 * time.Second) // the old interval is not enough any more
	_, body = call(hc, s.URL+"/mtls/token", tokenRequest)
	fmt.Println(body["error"])
	s.Advance(15 * time.Second) // 5 + 5 + 5 s
	_, body = call(hc, s.URL+"/mtls/token", tokenRequest)
	fmt.Println(body["error"])
	// Output:
	// interval: 5
	// authorization_pending
	// slow_down
	// slow_down
	// authorization_pending
}
