package control

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cibalab/cibalab/shared/authzdetails"
	"github.com/cibalab/cibalab/shared/channel"
)

// TestApproveDeny: a request started with the issued certificate is
// listed with what the device shows; the API's approval makes the token
// endpoint issue tokens, its denial access_denied; a second decision is
// refused by the OP (409); the events tell the request's life.
func TestApproveDeny(t *testing.T) {
	f := newFixture(t, false)
	f.want("POST", "/clients", map[string]any{"client_id": "shop", "client_name": "Shop", "tls_client_auth_subject_dn": "CN=shop"}, http.StatusCreated)
	hc := f.opClient("shop")

	id := f.authorize(hc, "shop", "user", "Pay 10 EUR")
	list := f.want("GET", "/requests", nil, http.StatusOK)["requests"].([]any)
	if len(list) != 1 {
		t.Fatalf("pending: %v", list)
	}
	p := list[0].(map[string]any)
	if p["auth_req_id"] != id || p["binding_message"] != "Pay 10 EUR" || p["client_id"] != "shop" || p["client_name"] != "Shop" ||
		p["user"] != "user" || p["status"] != "pending" || p["expires_in"].(float64) <= 0 || p["scope"].([]any)[0] != "openid" {
		t.Fatalf("pending request: %v", p)
	}
	if n := len(f.want("GET", "/requests?user=nobody", nil, http.StatusOK)["requests"].([]any)); n != 0 {
		t.Fatalf("%d requests of nobody", n)
	}
	f.wantError("GET", "/requests?usr=x", nil, http.StatusBadRequest, "invalid_request")

	if resp, out := f.token(hc, "shop", id); resp.StatusCode != http.StatusBadRequest || out["error"] != "authorization_pending" {
		t.Fatalf("before the decision: %d %v", resp.StatusCode, out)
	}
	out := f.want("POST", "/requests/"+id+"/approve", nil, http.StatusOK)
	if out["decision"] != "approved" || out["user"] != "user" {
		t.Fatalf("%v", out)
	}
	f.wantError("POST", "/requests/"+id+"/deny", nil, http.StatusConflict, "not_pending")
	f.clock.Advance(time.Second) // the polling interval
	resp, tok := f.token(hc, "shop", id)
	if resp.StatusCode != http.StatusOK || tok["access_token"] == nil || tok["id_token"] == nil {
		t.Fatalf("after approval: %d %v", resp.StatusCode, tok)
	}
	if n := len(f.want("GET", "/requests", nil, http.StatusOK)["requests"].([]any)); n != 0 {
		t.Fatalf("%d requests still pending", n)
	}
	if st := f.want("GET", "/requests/"+id, nil, http.StatusOK)["status"]; st != "redeemed" {
		t.Fatalf("status %v", st)
	}
	events := f.want("GET", "/requests/"+id+"/events", nil, http.StatusOK)["events"].([]any)
	var types []string
	for _, e := range events {
		types = append(types, e.(map[string]any)["type"].(string))
	}
	if got := strings.Join(types, " "); got != "authreq.created authreq.polled authreq.approved authreq.redeemed" {
		t.Fatalf("events: %s", got)
	}

	id = f.authorize(hc, "shop", "user", "Deny me")
	f.want("POST", "/requests/"+id+"/deny", "", http.StatusOK)
	if resp, out := f.token(hc, "shop", id); resp.StatusCode != http.StatusBadRequest || out["error"] != "access_denied" {
		t.Fatalf("after denial: %d %v", resp.StatusCode, out)
	}
	f.wantError("POST", "/requests/nope/approve", nil, http.StatusNotFound, "not_found")
	f.wantError("GET", "/requests/nope", nil, http.StatusNotFound, "not_found")
	f.wantError("GET", "/requests/nope/events", nil, http.StatusNotFound, "not_found")
	f.wantError("POST", "/requests/"+id+"/approve", map[string]any{"x": 1}, http.StatusBadRequest, "invalid_request")
}

// TestPolicies: a user's policy answers their requests, by rule first;
// ignore leaves a request pending; bad policies are refused.
func TestPolicies(t *testing.T) {
	f := newFixture(t, false)
	f.want("POST", "/clients", map[string]any{"client_id": "shop", "tls_client_auth_subject_dn": "CN=shop"}, http.StatusCreated)
	hc := f.opClient("shop")

	pending := f.authorize(hc, "shop", "user", "before the policy")
	f.wantError("GET", "/users/user/policy", nil, http.StatusNotFound, "not_found")
	f.want("PUT", "/users/user/policy", map[string]any{
		"action": "approve",
		"rules": []any{
			map[string]any{"binding_message": "no", "action": "deny"},
			map[string]any{"binding_message": "later", "action": "ignore"},
			map[string]any{"binding_message": "slow", "action": "approve", "delay_seconds": 0.2},
		},
	}, http.StatusOK)
	if got := f.want("GET", "/users/user/policy", nil, http.StatusOK); got["action"] != "approve" || len(got["rules"].([]any)) != 3 {
		t.Fatalf("policy: %v", got)
	}
	f.waitStatus(pending, "approved") // already pending when the policy was set

	yes := f.authorize(hc, "shop", "user", "yes")
	no := f.authorize(hc, "shop", "user", "no")
	slow := f.authorize(hc, "shop", "user", "slow")
	later := f.authorize(hc, "shop", "user", "later")
	f.waitStatus(yes, "approved")
	f.waitStatus(no, "denied")
	f.waitStatus(slow, "approved")
	// ignore: still pending well after the others were decided.
	time.Sleep(100 * time.Millisecond)
	if st := f.want("GET", "/requests/"+later, nil, http.StatusOK)["status"]; st != "pending" {
		t.Fatalf("ignored request: %v", st)
	}
	f.want("POST", "/requests/"+later+"/deny", nil, http.StatusOK)

	f.want("DELETE", "/users/user/policy", nil, http.StatusNoContent)
	f.wantError("DELETE", "/users/user/policy", nil, http.StatusNotFound, "not_found")
	after := f.authorize(hc, "shop", "user", "yes")
	time.Sleep(100 * time.Millisecond)
	if st := f.want("GET", "/requests/"+after, nil, http.StatusOK)["status"]; st != "pending" {
		t.Fatalf("without a policy: %v", st)
	}

	for name, body := range map[string]any{
		"action":     map[string]any{"action": "maybe"},
		"delay":      map[string]any{"action": "approve", "delay_seconds": -1},
		"long delay": map[string]any{"action": "approve", "delay_seconds": 3600},
		"empty rule": map[string]any{"action": "approve", "rules": []any{map[string]any{"action": "deny"}}},
		"rule":       map[string]any{"action": "approve", "rules": []any{map[string]any{"scope": "x", "action": "no"}}},
		"unknown":    map[string]any{"action": "approve", "when": "now"},
	} {
		t.Run(name, func(t *testing.T) {
			f.wantError("PUT", "/users/user/policy", body, http.StatusBadRequest, "invalid_request")
		})
	}
	f.wantError("PUT", "/users/nobody/policy", map[string]any{"action": "approve"}, http.StatusNotFound, "not_found")
	f.wantError("GET", "/users/nobody/policy", nil, http.StatusNotFound, "not_found")
}

// TestScopeRule: a rule on scope values matches requests asking for all
// of them.
func TestScopeRule(t *testing.T) {
	p := Policy{Action: ActionApprove, Rules: []Rule{{Scope: "openid payments", Action: ActionDeny}}}
	if err := p.validate(); err != nil {
		t.Fatal(err)
	}
	for scope, want := range map[string]string{"openid payments profile": ActionDeny, "openid": ActionApprove, "payments": ActionApprove} {
		if got, _ := p.decision(announcement(scope)); got != want {
			t.Errorf("scope %q: %s, want %s", scope, got, want)
		}
	}
}

// TestClock: advancing the test clock expires a request (expired_token);
// without a test clock the API refuses with 409.
func TestClock(t *testing.T) {
	f := newFixture(t, false)
	f.want("POST", "/clients", map[string]any{"client_id": "shop", "tls_client_auth_subject_dn": "CN=shop"}, http.StatusCreated)
	hc := f.opClient("shop")
	id := f.authorize(hc, "shop", "user", "expire")
	before := f.want("GET", "/clock", nil, http.StatusOK)
	out := f.want("POST", "/clock/advance", map[string]any{"seconds": 3600}, http.StatusOK)
	if out["offset_seconds"] != 3600.0 || out["test_clock"] != true || before["test_clock"] != true {
		t.Fatalf("clock: %v", out)
	}
	if resp, out := f.token(hc, "shop", id); resp.StatusCode != http.StatusBadRequest || out["error"] != "expired_token" {
		t.Fatalf("after the advance: %d %v", resp.StatusCode, out)
	}
	if st := f.want("GET", "/requests/"+id, nil, http.StatusOK)["status"]; st != "expired" {
		t.Fatalf("status %v", st)
	}
	f.wantError("POST", "/clock/advance", map[string]any{"seconds": -1}, http.StatusBadRequest, "invalid_request")
	f.wantError("POST", "/clock/advance", map[string]any{}, http.StatusBadRequest, "invalid_request")
	f.wantError("POST", "/clock/advance", map[string]any{"seconds": 1e9}, http.StatusBadRequest, "invalid_request")

	real := newFixture(t, true)
	real.wantError("POST", "/clock/advance", map[string]any{"seconds": 1}, http.StatusConflict, "test_clock_disabled")
	if out := real.want("GET", "/clock", nil, http.StatusOK); out["test_clock"] != false {
		t.Fatalf("real clock: %v", out)
	}
}

// TestFaults: queued 503s with Retry-After at the token endpoint, queued
// notification faults, dropped and reconnected devices.
func TestFaults(t *testing.T) {
	f := newFixture(t, false)
	f.want("POST", "/clients", map[string]any{"client_id": "shop", "tls_client_auth_subject_dn": "CN=shop"}, http.StatusCreated)
	hc := f.opClient("shop")
	id := f.authorize(hc, "shop", "user", "faults")

	out := f.want("POST", "/faults/token-unavailable", map[string]any{"count": 2, "retry_after": 7}, http.StatusOK)
	if out["token_unavailable"] != 2.0 {
		t.Fatalf("%v", out)
	}
	for i := range 2 {
		resp, out := f.token(hc, "shop", id)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "7" || out["error"] != "temporarily_unavailable" {
			t.Fatalf("poll %d: %d %q %v", i, resp.StatusCode, resp.Header.Get("Retry-After"), out)
		}
	}
	if resp, out := f.token(hc, "shop", id); resp.StatusCode != http.StatusBadRequest || out["error"] != "authorization_pending" {
		t.Fatalf("after the faults: %d %v", resp.StatusCode, out)
	}
	f.wantError("POST", "/faults/token-unavailable", map[string]any{"count": 0}, http.StatusBadRequest, "invalid_request")
	f.wantError("POST", "/faults/token-unavailable", map[string]any{"retry_after": 0}, http.StatusBadRequest, "invalid_request")

	out = f.want("POST", "/faults/notification", map[string]any{"status": 500, "count": 2}, http.StatusOK)
	out = f.want("POST", "/faults/notification", map[string]any{"timeout": true}, http.StatusOK)
	if out["notification"] != 3.0 {
		t.Fatalf("%v", out)
	}
	if got := f.want("GET", "/faults", nil, http.StatusOK); got["notification"] != 3.0 || got["token_unavailable"] != 0.0 {
		t.Fatalf("%v", got)
	}
	f.wantError("POST", "/faults/notification", map[string]any{"status": 42}, http.StatusBadRequest, "invalid_request")
	f.wantError("POST", "/faults/notification", map[string]any{"status": 500, "timeout": true}, http.StatusBadRequest, "invalid_request")

	f.want("POST", "/requests/"+id+"/approve", nil, http.StatusOK) // enrolls the device
	id = f.authorize(hc, "shop", "user", "offline")
	if out := f.want("POST", "/faults/drop-devices", nil, http.StatusOK); out["devices"] != 1.0 {
		t.Fatalf("%v", out)
	}
	f.wantError("POST", "/requests/"+id+"/approve", nil, http.StatusConflict, "device_offline")
	f.want("PUT", "/users/user/policy", map[string]any{"action": "deny"}, http.StatusOK)
	if st := f.want("GET", "/requests/"+id, nil, http.StatusOK)["status"]; st != "pending" {
		t.Fatalf("an offline device decided: %v", st)
	}
	// Reconnected, the device lists what is pending and its policy denies it.
	f.want("POST", "/faults/reconnect-devices", nil, http.StatusOK)
	f.waitStatus(id, "denied")
}

// TestWithoutHooks: an API given no fault injectors, event log or test
// clock refuses those endpoints with 409 and a clear code.
func TestWithoutHooks(t *testing.T) {
	f := newFixture(t, true)
	bare, err := New(Config{Token: testToken, OP: f.op})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(bare.Handler())
	t.Cleanup(func() { srv.Close(); bare.Close() })
	g := &fixture{t: t, op: f.op, api: bare, srv: srv}
	g.wantError("POST", "/faults/token-unavailable", nil, http.StatusConflict, "faults_disabled")
	g.wantError("POST", "/faults/notification", map[string]any{"status": 500}, http.StatusConflict, "faults_disabled")
	g.wantError("GET", "/requests/x/events", nil, http.StatusConflict, "events_disabled")
	g.wantError("POST", "/clock/advance", map[string]any{"seconds": 1}, http.StatusConflict, "test_clock_disabled")
	if out := g.want("GET", "/faults", nil, http.StatusOK); out["token_unavailable"] != 0.0 || out["notification"] != 0.0 {
		t.Fatalf("%v", out)
	}
}

// TestConcurrentFirstDecisions: decisions sent at once for a user whose
// device is not enrolled yet all go through the one device enrolled.
func TestConcurrentFirstDecisions(t *testing.T) {
	f := newFixture(t, false)
	f.want("POST", "/clients", map[string]any{"client_id": "shop", "tls_client_auth_subject_dn": "CN=shop"}, http.StatusCreated)
	hc := f.opClient("shop")
	var ids []string
	for i := range 4 {
		ids = append(ids, f.authorize(hc, "shop", "user", fmt.Sprintf("at once %d", i)))
	}
	var wg sync.WaitGroup
	statuses := make([]int, len(ids))
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i], _ = f.call("POST", "/requests/"+id+"/approve", nil)
		}()
	}
	wg.Wait()
	for i, st := range statuses {
		if st != http.StatusOK {
			t.Errorf("approval %d: status %d", i, st)
		}
	}
	devs, err := f.op.Dir.Devices()
	if err != nil || len(devs) != 1 {
		t.Fatalf("%d devices enrolled, want 1: %v", len(devs), err)
	}
}

// TestApproveSomeDetails: a request's authorization_details are listed as
// sent and in words; an approval naming entry 1 grants exactly it in the
// token response; approved_details on a denial, or on a request without
// details, is refused and decides nothing; a policy rule matches on the
// entries' type.
func TestApproveSomeDetails(t *testing.T) {
	f := newFixture(t, false)
	f.want("POST", "/clients", map[string]any{"client_id": "agent", "tls_client_auth_subject_dn": "CN=agent",
		"authorization_details_types": []string{"payment_initiation", "account_information"}}, http.StatusCreated)
	hc := f.opClient("agent")
	const pay = `{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":"120.00"},"creditorName":"ACME GmbH","creditorAccount":{"iban":"DE89370400440532013000"}}`
	const read = `{"type":"account_information","actions":["read_balances"],"locations":["https://bank.example/accounts"]}`
	authorize := func(details string) string {
		t.Helper()
		form := url.Values{"client_id": {"agent"}, "scope": {"openid"}, "login_hint": {"user"}, "binding_message": {"Invoice 4711"}}
		if details != "" {
			form.Set("authorization_details", details)
		}
		resp, out := f.post(hc, "/mtls/bc-authorize", form)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("bc-authorize: %d %v", resp.StatusCode, out)
		}
		return out["auth_req_id"].(string)
	}

	id := authorize("[" + pay + "," + read + "]")
	p := f.want("GET", "/requests/"+id, nil, http.StatusOK)
	if ad, ok := p["authorization_details"].([]any); !ok || len(ad) != 2 {
		t.Fatalf("authorization_details: %v", p["authorization_details"])
	}
	if text := fmt.Sprint(p["authorization_details_text"]); !strings.Contains(text, "Pay €120.00 to ACME GmbH") {
		t.Fatalf("authorization_details_text: %s", text)
	}
	f.wantError("POST", "/requests/"+id+"/deny", map[string]any{"approved_details": []int{0}}, http.StatusBadRequest, "invalid_request")
	f.want("POST", "/requests/"+id+"/approve", map[string]any{"approved_details": []int{1}}, http.StatusOK)
	f.clock.Advance(time.Second)
	resp, tok := f.token(hc, "agent", id)
	granted, _ := tok["authorization_details"].([]any)
	if resp.StatusCode != http.StatusOK || len(granted) != 1 || granted[0].(map[string]any)["type"] != "account_information" {
		t.Fatalf("tokens: %d %v", resp.StatusCode, tok)
	}
	if g, _ := f.want("GET", "/requests/"+id, nil, http.StatusOK)["granted_authorization_details"].([]any); len(g) != 1 {
		t.Fatalf("granted_authorization_details: %v", g)
	}

	plain := authorize("")
	f.wantError("POST", "/requests/"+plain+"/approve", map[string]any{"approved_details": []int{0}}, http.StatusBadRequest, "invalid_request")
	if st := f.want("GET", "/requests/"+plain, nil, http.StatusOK)["status"]; st != "pending" {
		t.Fatalf("a refused approval changed the request: %v", st)
	}

	p2 := Policy{Action: ActionApprove, Rules: []Rule{{DetailsType: "payment_initiation", Action: ActionDeny}}}
	if err := p2.validate(); err != nil {
		t.Fatal(err)
	}
	withDetails := func(raw string) channel.AuthRequest {
		ds, err := authzdetails.Parse([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		return channel.AuthRequest{AuthorizationDetails: ds}
	}
	for raw, want := range map[string]string{"[" + pay + "]": ActionDeny, "[" + pay + "," + read + "]": ActionApprove, "[" + read + "]": ActionApprove} {
		if got, _ := p2.decision(withDetails(raw)); got != want {
			t.Errorf("%s: %s, want %s", raw, got, want)
		}
	}
	if got, _ := p2.decision(channel.AuthRequest{}); got != ActionApprove {
		t.Errorf("no details: %s, want the policy's approve", got)
	}
}
