package control

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cibalab/cibalab/shared/authzdetails"
	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/oauth"
)

func (s *Server) policyRoutes() []route {
	return []route{
		{"GET", "/users/{id}/policy", s.getPolicy},
		{"PUT", "/users/{id}/policy", s.putPolicy},
		{"DELETE", "/users/{id}/policy", s.deletePolicy},
	}
}

// The actions of a policy.
const (
	ActionApprove = "approve"
	ActionDeny    = "deny"
	// ActionIgnore leaves the request pending, as a user who ignores the
	// device: it expires unless decided through the API.
	ActionIgnore = "ignore"
)

// Policy answers every request announced to a user's device without the
// caller's help: the first rule that matches the request decides, else
// the default Action, each after its delay.
type Policy struct {
	// Action is approve, deny or ignore.
	Action string `json:"action"`
	// DelaySeconds is how long the device waits, in real time, before it
	// sends the decision: a user who answers late. It does not move the
	// OP's clock.
	DelaySeconds float64 `json:"delay_seconds,omitempty"`
	Rules        []Rule  `json:"rules,omitempty"`
}

// Rule is one case of a policy: a request matches when its binding
// message is BindingMessage (when set), it asks for every scope value of
// Scope (when set), and it carries authorization_details whose entries
// all have the type DetailsType (when set; RFC 9396 §2).
type Rule struct {
	BindingMessage string `json:"binding_message,omitempty"`
	// Scope is space-separated scope values, as in the request.
	Scope        string  `json:"scope,omitempty"`
	DetailsType  string  `json:"authorization_details_type,omitempty"`
	Action       string  `json:"action"`
	DelaySeconds float64 `json:"delay_seconds,omitempty"`
}

// maxHandled bounds the requests a device remembers having answered.
const maxHandled = 10000

// maxDelay bounds a policy's delay.
const maxDelay = 10 * time.Minute

// validate checks the actions and delays.
func (p Policy) validate() error {
	check := func(where, action string, delay float64) error {
		switch action {
		case ActionApprove, ActionDeny, ActionIgnore:
		default:
			return badRequest(`%s"action" %q: want approve, deny or ignore`, where, action)
		}
		if delay < 0 || time.Duration(delay*float64(time.Second)) > maxDelay {
			return badRequest(`%s"delay_seconds" must be 0 to %d`, where, int(maxDelay.Seconds()))
		}
		return nil
	}
	if err := check("", p.Action, p.DelaySeconds); err != nil {
		return err
	}
	if len(p.Rules) > 100 {
		return badRequest("at most 100 rules")
	}
	for i, r := range p.Rules {
		where := fmt.Sprintf("rules[%d]: ", i)
		if r.BindingMessage == "" && r.Scope == "" && r.DetailsType == "" {
			return badRequest(`%sgive "binding_message", "scope", "authorization_details_type" or several: a rule without any matches everything (use the policy's "action")`, where)
		}
		if err := check(where, r.Action, r.DelaySeconds); err != nil {
			return err
		}
	}
	return nil
}

// decision is the action and delay for the request r.
func (p Policy) decision(r channel.AuthRequest) (string, time.Duration) {
	for _, rule := range p.Rules {
		if rule.BindingMessage != "" && rule.BindingMessage != r.BindingMessage {
			continue
		}
		if !hasScopes(r.Scope, strings.Fields(rule.Scope)) {
			continue
		}
		if rule.DetailsType != "" && !allOfType(r.AuthorizationDetails, rule.DetailsType) {
			continue
		}
		return rule.Action, seconds(rule.DelaySeconds)
	}
	return p.Action, seconds(p.DelaySeconds)
}

func hasScopes(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// allOfType reports whether ds has entries and every one is of type t.
func allOfType(ds authzdetails.Details, t string) bool {
	for _, d := range ds {
		if d.Type != t {
			return false
		}
	}
	return len(ds) > 0
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// getPolicy answers the user's policy; 404 when none is set.
func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request) error {
	user := r.PathValue("id")
	s.mu.Lock()
	p, ok := s.policies[user]
	s.mu.Unlock()
	if !ok {
		return notFound("user %q has no policy", user)
	}
	return writeJSON(w, http.StatusOK, p)
}

// putPolicy sets the user's policy: it enrolls and connects the user's
// device if needed, and applies the policy to the requests already
// pending for the user as well as to the ones announced from then on.
func (s *Server) putPolicy(w http.ResponseWriter, r *http.Request) error {
	user := r.PathValue("id")
	var p Policy
	if err := readJSON(r, &p, false); err != nil {
		return err
	}
	if err := p.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.policies[user] = p
	s.mu.Unlock()
	ud, err := s.device(r.Context(), user)
	if err != nil {
		s.mu.Lock()
		delete(s.policies, user)
		s.mu.Unlock()
		return err
	}
	// Apply it to what is already pending; a device offline catches up
	// when reconnected.
	if pending, err := ud.dev.Pending(r.Context()); err == nil {
		for _, req := range pending {
			s.announced(ud, req)
		}
	}
	return writeJSON(w, http.StatusOK, p)
}

// deletePolicy removes the user's policy: the user's requests then wait
// for approve or deny.
func (s *Server) deletePolicy(w http.ResponseWriter, r *http.Request) error {
	user := r.PathValue("id")
	s.mu.Lock()
	_, ok := s.policies[user]
	delete(s.policies, user)
	s.mu.Unlock()
	if !ok {
		return notFound("user %q has no policy", user)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// announced receives every request the user's device heard of (an
// announcement, or a pending list) and, when the user has a policy,
// answers it once.
func (s *Server) announced(ud *userDevice, r channel.AuthRequest) {
	s.mu.Lock()
	p, ok := s.policies[ud.user]
	closed := s.closed
	if ok && !closed {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if !ok || closed {
		return
	}
	defer s.wg.Done()
	ud.mu.Lock()
	seen := ud.handled[r.AuthReqID]
	if len(ud.handled) >= maxHandled {
		// Forget the old ones: a request answered twice is refused by
		// the OP the second time, which only logs a warning.
		clear(ud.handled)
	}
	ud.handled[r.AuthReqID] = true
	ud.mu.Unlock()
	if seen {
		return
	}
	action, delay := p.decision(r)
	s.cfg.Logger.Debug("control.policy_matched", oauth.LogAttrReq, oauth.ReqRef(r.AuthReqID), "user", ud.user, "action", action, "delay", delay)
	if action == ActionIgnore {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if delay > 0 {
			t := time.NewTimer(delay)
			defer t.Stop()
			select {
			case <-s.ctx.Done():
				return
			case <-t.C:
			}
		}
		ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
		defer cancel()
		if err := s.decide(ctx, ud.user, r.AuthReqID, action == ActionApprove, nil); err != nil && s.ctx.Err() == nil {
			s.cfg.Logger.Warn("control.policy_decision_refused", oauth.LogAttrReq, oauth.ReqRef(r.AuthReqID), "user", ud.user, "err", err)
		}
	}()
}
