package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/shared/channel"
)

func TestRules(t *testing.T) {
	rs, err := parseRules([]byte(`{"rules":[
		{"client_id":"shop","scope":"payments","action":"approve","delay":"2s"},
		{"binding_message":"^Order [0-9]+$","action":"deny"},
		{"acr":"urn:cibalab:acr:pin","action":"ask"},
		{"action":"ignore"}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	req := func(client, scope, msg string, acr ...string) channel.AuthRequest {
		return channel.AuthRequest{ClientID: client, Scope: strings.Fields(scope), BindingMessage: msg, ACRValues: acr}
	}
	tests := []struct {
		name   string
		req    channel.AuthRequest
		action string
		delay  time.Duration
	}{
		{"client and scope", req("shop", "openid payments", "x"), "approve", 2 * time.Second},
		{"client without the scope", req("shop", "openid", "Order 42"), "deny", 0},
		{"binding message", req("bank", "openid", "Order 42"), "deny", 0},
		{"binding message must match whole", req("bank", "openid", "Order 42!"), "ignore", 0},
		{"acr", req("bank", "openid", "", "urn:x", "urn:cibalab:acr:pin"), "ask", 0},
		{"catch-all", req("bank", "openid", ""), "ignore", 0},
	}
	for _, tt := range tests {
		r := rs.match(tt.req)
		if r == nil || r.Action != tt.action || r.delay != tt.delay {
			t.Errorf("%s: matched %+v, want %s after %v", tt.name, r, tt.action, tt.delay)
		}
	}
	var none *rules
	if none.match(req("a", "", "")) != nil {
		t.Error("nil rules matched")
	}
	empty, _ := parseRules([]byte(`{"rules":[]}`))
	if empty.match(req("a", "", "")) != nil {
		t.Error("empty rules matched")
	}
}

func TestRulesErrors(t *testing.T) {
	tests := map[string]string{
		"not JSON":        `{rules`,
		"unknown field":   `{"rules":[{"client":"x","action":"deny"}]}`,
		"bad action":      `{"rules":[{"action":"maybe"}]}`,
		"bad regexp":      `{"rules":[{"binding_message":"(","action":"deny"}]}`,
		"bad delay":       `{"rules":[{"action":"deny","delay":"soon"}]}`,
		"negative delay":  `{"rules":[{"action":"deny","delay":"-1s"}]}`,
		"trailing":        `{"rules":[]} {}`,
		"no action":       `{"rules":[{"client_id":"x"}]}`,
		"wrong structure": `{"rules":{"action":"deny"}}`,
	}
	for name, doc := range tests {
		if _, err := parseRules([]byte(doc)); err == nil || !strings.HasPrefix(err.Error(), "rules: ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want a one-line rules error", name, err)
		}
	}
}

func FuzzParseRules(f *testing.F) {
	f.Add([]byte(`{"rules":[{"binding_message":"^a+$","action":"approve","delay":"1s"}]}`))
	f.Add([]byte(`{"rules":[{"action":"x"}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := parseRules(data)
		if err != nil {
			return
		}
		r := rs.match(channel.AuthRequest{ClientID: "c", Scope: []string{"openid"}, BindingMessage: "aaa"})
		if r != nil && r.Action != "approve" && r.Action != "deny" && r.Action != "ignore" && r.Action != "ask" {
			t.Fatalf("matched a rule with action %q", r.Action)
		}
	})
}
