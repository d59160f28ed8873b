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
	Action         string `json:"action"`
	Delay          string `json:"delay,omitempty"`

	re    *regexp.Regexp
	delay time.Duration
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
		default:
			return r
		}
	}
	return nil
}
