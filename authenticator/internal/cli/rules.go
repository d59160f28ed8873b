package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"time"

	"github.com/cibalab/cibalab/shared/authzdetails"
	"github.com/cibalab/cibalab/shared/channel"
)

// Rule actions besides the two verdicts.
const (
	actionIgnore = "ignore" // let the request expire
	actionAsk    = "ask"    // leave it to the person at the terminal
)

// maxRulesFile bounds the size of a rules file.
const maxRulesFile = 1 << 20

// rule decides the requests whose fields all match. Empty fields match
// anything.
type rule struct {
	ClientID       string `json:"client_id,omitempty"`
	Scope          string `json:"scope,omitempty"`
	BindingMessage string `json:"binding_message,omitempty"` // RE2
	ACR            string `json:"acr,omitempty"`
	// Details matches a request with authorization_details (RFC 9396)
	// whose every entry matches it.
	Details *detailsMatch `json:"details,omitempty"`
	Action  string        `json:"action"`
	Delay   string        `json:"delay,omitempty"`

	re    *regexp.Regexp
	delay time.Duration
}

// detailsMatch matches authorization_details entries. Empty fields match
// anything; Currency and MaxAmount match only valid payment_initiation
// entries.
type detailsMatch struct {
	// Type is the entry's type.
	Type string `json:"type,omitempty"`
	// Currency is the payment's ISO 4217 currency.
	Currency string `json:"currency,omitempty"`
	// MaxAmount is the largest payment amount matched, a decimal such as
	// "500.00", in the payment's own currency (pair it with Currency).
	MaxAmount string `json:"max_amount,omitempty"`
}

// matches reports whether every entry of ds matches m; a request without
// entries does not.
func (m *detailsMatch) matches(ds authzdetails.Details) bool {
	if len(ds) == 0 {
		return false
	}
	for _, d := range ds {
		if m.Type != "" && d.Type != m.Type {
			return false
		}
		if m.Currency == "" && m.MaxAmount == "" {
			continue
		}
		p, ok := authzdetails.PaymentOf(d)
		if !ok || (m.Currency != "" && p.InstructedAmount.Currency != m.Currency) {
			return false
		}
		if m.MaxAmount != "" {
			if c, ok := authzdetails.CompareAmount(p.InstructedAmount.Amount.String(), m.MaxAmount); !ok || c > 0 {
				return false
			}
		}
	}
	return true
}

// rules is a rules file: the first matching rule decides.
type rules struct {
	Rules []rule `json:"rules"`
}

// loadRules reads and checks a rules file.
func loadRules(path string) (*rules, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	return parseRules(data)
}

// parseRules decodes and checks a rules document; unknown fields, bad
// actions, bad regular expressions and bad delays are errors.
func parseRules(data []byte) (*rules, error) {
	if len(data) > maxRulesFile {
		return nil, errors.New("rules: file larger than 1 MiB")
	}
	var rs rules
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rs); err != nil {
		return nil, fmt.Errorf("rules: not a rules document: %v", err)
	}
	if dec.More() {
		return nil, errors.New("rules: trailing data after the JSON document")
	}
	for i := range rs.Rules {
		r := &rs.Rules[i]
		switch r.Action {
		case channel.VerdictApprove, channel.VerdictDeny, actionIgnore, actionAsk:
		default:
			return nil, fmt.Errorf("rules: rule %d: action must be approve, deny, ignore or ask, not %q", i+1, r.Action)
		}
		if r.BindingMessage != "" {
			re, err := regexp.Compile(r.BindingMessage)
			if err != nil {
				return nil, fmt.Errorf("rules: rule %d: binding_message: %v", i+1, err)
			}
			r.re = re
		}
		if d := r.Details; d != nil {
			if _, ok := authzdetails.CompareAmount(d.MaxAmount, "0"); d.MaxAmount != "" && !ok {
				return nil, fmt.Errorf("rules: rule %d: details.max_amount %q is not a decimal such as 500.00", i+1, d.MaxAmount)
			}
		}
		if r.Delay != "" {
			d, err := time.ParseDuration(r.Delay)
			if err != nil || d < 0 {
				return nil, fmt.Errorf("rules: rule %d: delay %q is not a duration such as 2s", i+1, r.Delay)
			}
			r.delay = d
		}
	}
	return &rs, nil
}

// match returns the first rule matching req, or nil.
func (rs *rules) match(req channel.AuthRequest) *rule {
	if rs == nil {
		return nil
	}
	for i := range rs.Rules {
		r := &rs.Rules[i]
		switch {
		case r.ClientID != "" && r.ClientID != req.ClientID:
		case r.Scope != "" && !slices.Contains(req.Scope, r.Scope):
		case r.re != nil && !r.re.MatchString(req.BindingMessage):
		case r.ACR != "" && !slices.Contains(req.ACRValues, r.ACR):
		case r.Details != nil && !r.Details.matches(req.AuthorizationDetails):
		default:
			return r
		}
	}
	return nil
}
