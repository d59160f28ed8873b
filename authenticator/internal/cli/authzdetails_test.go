package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/shared/authzdetails"
	"github.com/cibalab/cibalab/shared/channel"
)

const (
	cardPayment = `{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":"1000.00"},` +
		`"creditorName":"ACME GmbH","creditorAccount":{"iban":"DE89370400440532013000"}}`
	cardAccount = `{"type":"account_information","actions":["read_balances"],"locations":["https://bank.example/accounts"]}`
)

func mustDetails(t testing.TB, s string) authzdetails.Details {
	t.Helper()
	ds, err := authzdetails.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// TestCardDetails: each authorization_details entry is on the card, in
// words and numbered, never as JSON.
func TestCardDetails(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	r := channel.AuthRequest{AuthReqID: "id", ClientID: "agent", User: "user", Scope: []string{"openid"},
		ExpiresAt: now.Unix() + 60, AuthorizationDetails: mustDetails(t, "["+cardPayment+","+cardAccount+"]")}
	var b strings.Builder
	writeCard(&b, r, now, detailsPrompt, false)
	for _, line := range []string{
		"│ details  1. Pay €1,000.00 to ACME GmbH, DE89 3704 0044 0532 0130 00\n",
		"│          2. Read balances at bank.example/accounts\n",
		"└ " + detailsPrompt + "\n",
	} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("card lacks %q:\n%s", line, b.String())
		}
	}
	if strings.Contains(b.String(), "{") {
		t.Errorf("card shows JSON:\n%s", b.String())
	}
}

func TestChoose(t *testing.T) {
	tests := []struct {
		in      string
		n       int
		verdict string
		idx     []int
	}{
		{"y", 2, "approve", nil},
		{"n", 2, "deny", nil},
		{"2", 2, "approve", []int{1}},
		{" 3, 1 ", 3, "approve", []int{0, 2}},
		{"1 2", 2, "approve", nil}, // all of them
		{"3", 2, "", nil},
		{"0", 2, "", nil},
		{"1,1", 2, "", nil},
		{"1", 0, "", nil},
		{"1x", 2, "", nil},
	}
	for _, tt := range tests {
		v, idx := choose(tt.in, tt.n)
		if v != tt.verdict || !slices.Equal(idx, tt.idx) || (tt.idx == nil) != (idx == nil) {
			t.Errorf("choose(%q, %d) = %q %v, want %q %v", tt.in, tt.n, v, idx, tt.verdict, tt.idx)
		}
	}
}

func TestRulesDetails(t *testing.T) {
	rs, err := parseRules([]byte(`{"rules":[
		{"details":{"type":"payment_initiation","currency":"EUR","max_amount":"1000"},"action":"approve"},
		{"details":{"type":"account_information"},"action":"ask"},
		{"action":"deny"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	small := strings.Replace(cardPayment, "1000.00", "999.99", 1)
	tests := []struct{ name, details, action string }{
		{"payment at the limit", "[" + cardPayment + "]", "approve"},
		{"two small payments", "[" + small + "," + small + "]", "approve"},
		{"payment over the limit", "[" + strings.Replace(cardPayment, "1000.00", "1000.01", 1) + "]", "deny"},
		{"other currency", "[" + strings.Replace(cardPayment, "EUR", "USD", 1) + "]", "deny"},
		{"account information", "[" + cardAccount + "]", "ask"},
		{"mixed: not every entry matches", "[" + small + "," + cardAccount + "]", "deny"},
		{"no details", "", "deny"},
	}
	for _, tt := range tests {
		req := channel.AuthRequest{ClientID: "agent"}
		if tt.details != "" {
			req.AuthorizationDetails = mustDetails(t, tt.details)
		}
		if r := rs.match(req); r == nil || r.Action != tt.action {
			t.Errorf("%s: matched %+v, want %s", tt.name, r, tt.action)
		}
	}
	if _, err := parseRules([]byte(`{"rules":[{"details":{"max_amount":"lots"},"action":"deny"}]}`)); err == nil {
		t.Error("a max_amount that is not a decimal was accepted")
	}
	if _, err := parseRules([]byte(`{"rules":[{"details":{"kind":"x"},"action":"deny"}]}`)); err == nil {
		t.Error("an unknown details field was accepted")
	}
}

// TestDetailsLineMode: the person reads both entries and approves the
// second only; the signed decision carries its index.
func TestDetailsLineMode(t *testing.T) {
	op := startOP(t)
	dir := enrolled(t, op, "")
	stdin, w := pipe(t)
	p := start(t, stdin, only(op, dir), "--once")
	p.ready(t, "user")
	req := op.NewRequest("user", "Invoice 4711")
	req.AuthorizationDetails = mustDetails(t, "["+cardPayment+","+cardAccount+"]")
	op.Announce(t, req)
	p.stdout.waitFor(t, "└ "+detailsPrompt+"\n", 1)
	for _, line := range []string{"1. Pay €1,000.00 to ACME GmbH, DE89 3704 0044 0532 0130 00", "2. Read balances at bank.example/accounts"} {
		if !strings.Contains(p.stdout.String(), line) {
			t.Fatalf("card lacks %q:\n%s", line, p.stdout.String())
		}
	}
	write(t, w, "5\n")
	p.stdout.waitFor(t, "answer y or n", 1)
	write(t, w, "2\n")
	if code := p.wait(t); code != ExitOK {
		t.Fatalf("exit %d\n%s", code, p.stderr)
	}
	if !strings.Contains(p.stdout.String(), "approving 1 of 2: entry 2; the others are not granted") {
		t.Errorf("no partial approval note:\n%s", p.stdout.String())
	}
	c := op.Decisions()[0].Claims
	if c.Verdict != "approve" || !slices.Equal(c.ApprovedDetails, []int{1}) {
		t.Fatalf("claims %+v, want approve of entry index 1", c)
	}
}

// TestDetailsTerminal: on a terminal with --plain the entry numbers are
// typed, then Enter.
func TestDetailsTerminal(t *testing.T) {
	op := startOP(t)
	dir := enrolled(t, op, "")
	stdin, w := pipe(t)
	// --plain: the cards, where the entry numbers are typed; the phone
	// (the default on a terminal) approves or denies all entries.
	p := startTTY(t, true, stdin, only(op, dir), "--once", "--plain")
	p.ready(t, "user")
	req := op.NewRequest("user", "Invoice")
	req.AuthorizationDetails = mustDetails(t, "["+cardPayment+","+cardAccount+","+cardAccount+"]")
	op.Announce(t, req)
	p.stdout.waitFor(t, "└ "+detailsPrompt+" / [s]kip\n", 1)
	write(t, w, "1,3")
	p.stdout.waitFor(t, "entries: 1,3", 1)
	write(t, w, "\r")
	if code := p.wait(t); code != ExitOK {
		t.Fatalf("exit %d\n%s", code, p.stderr)
	}
	if c := op.Decisions()[0].Claims; !slices.Equal(c.ApprovedDetails, []int{0, 2}) {
		t.Fatalf("approved %v, want [0 2]", c.ApprovedDetails)
	}
}

// TestDetailsRulesRun: a rule approves a small payment and denies a large
// one, on the details alone.
func TestDetailsRulesRun(t *testing.T) {
	op := startOP(t)
	rules := filepath.Join(t.TempDir(), "rules.json")
	os.WriteFile(rules, []byte(`{"rules":[
		{"details":{"type":"payment_initiation","currency":"EUR","max_amount":"500"},"action":"approve"},
		{"action":"deny"}]}`), 0o600)
	p := start(t, strings.NewReader(""), envFor(t, op), "--rules", rules, "--json")
	p.ready(t, "user")
	for _, amount := range []string{"499.99", "500.01"} {
		req := op.NewRequest("user", "pay")
		req.AuthorizationDetails = mustDetails(t, "["+strings.Replace(cardPayment, "1000.00", amount, 1)+"]")
		op.Announce(t, req)
		op.WaitDecision(t)
	}
	ds := op.Decisions()
	if len(ds) != 2 || ds[0].Claims.Verdict != "approve" || ds[1].Claims.Verdict != "deny" {
		t.Fatalf("decisions %+v", ds)
	}
	if !strings.Contains(p.stdout.String(), `"authorization_details_text":["Pay €499.99 to ACME GmbH, DE89 3704 0044 0532 0130 00"]`) {
		t.Errorf("--json request lacks the details in words:\n%s", p.stdout.String())
	}
}

// TestDetailsList: the list command shows each pending request's entries
// in words.
func TestDetailsList(t *testing.T) {
	op := startOP(t)
	dir := enrolled(t, op, "")
	req := op.NewRequest("user", "Invoice 4711")
	req.AuthorizationDetails = mustDetails(t, "["+cardPayment+","+cardAccount+"]")
	op.Add(req)
	p := start(t, strings.NewReader(""), only(op, dir), "list")
	if code := p.wait(t); code != ExitOK {
		t.Fatalf("list: exit %d\n%s", code, p.stderr)
	}
	out := p.stdout.String()
	for _, line := range []string{"    1. Pay €1,000.00 to ACME GmbH, DE89 3704 0044 0532 0130 00\n", "    2. Read balances at bank.example/accounts\n"} {
		if !strings.Contains(out, line) {
			t.Errorf("list lacks %q:\n%s", line, out)
		}
	}
}
