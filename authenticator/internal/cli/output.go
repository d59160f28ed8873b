package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"cibalab/authenticator/device"
	"cibalab/shared/channel"
)

// Event types of --json output, one JSON object a line on stdout.
const (
	EventSignedIn         = "signed_in"
	EventRequest          = "request"
	EventRequestExpired   = "request_expired"
	EventDecisionSent     = "decision_sent"
	EventDecisionAccepted = "decision_accepted"
	EventDecisionRefused  = "decision_refused"
)

// prompt is the question of an interactive card.
const prompt = "approve? [y]es / [n]o"

// printer writes results on stdout, as text or JSON Lines. Requests are
// named by their device.ReqRef, never by their full auth_req_id.
type printer struct {
	w      io.Writer
	stderr io.Writer
	json   bool
}

func (p *printer) event(typ string, fields map[string]any) {
	fields["type"] = typ
	data, err := json.Marshal(fields)
	if err != nil { // only plain values are passed
		fmt.Fprintf(p.stderr, "%s: %v\n", Name, err)
		return
	}
	fmt.Fprintf(p.w, "%s\n", data)
}

func (p *printer) signedIn(user, realm, natsURL, kid string, expires time.Time) {
	if !p.json {
		return // the ready line on stderr says it
	}
	f := map[string]any{"user": user, "realm": realm, "nats_url": natsURL, "key_id": kid}
	if !expires.IsZero() {
		f["session_expires_at"] = expires.Unix()
	}
	p.event(EventSignedIn, f)
}

func (p *printer) request(r channel.AuthRequest, now time.Time, footer string) {
	if !p.json {
		writeCard(p.w, r, now, footer)
		return
	}
	scope := r.Scope
	if scope == nil {
		scope = []string{}
	}
	f := map[string]any{"req_ref": device.ReqRef(r.AuthReqID), "client_id": r.ClientID, "user": r.User,
		"scope": scope, "expires_at": r.ExpiresAt, "expires_in": r.SecondsLeft(now)}
	if r.ClientName != "" {
		f["client_name"] = r.ClientName
	}
	if r.BindingMessage != "" {
		f["binding_message"] = r.BindingMessage
	}
	if len(r.ACRValues) > 0 {
		f["acr_values"] = r.ACRValues
	}
	p.event(EventRequest, f)
}

// reprompt asks again after an answer that is neither yes nor no; with
// --json it goes to stderr so stdout stays JSON.
func (p *printer) reprompt() {
	w := p.w
	if p.json {
		w = p.stderr
	}
	fmt.Fprintf(w, "  answer y or n: %s\n", prompt)
}

func (p *printer) expired(r channel.AuthRequest) {
	if p.json {
		p.event(EventRequestExpired, map[string]any{"req_ref": device.ReqRef(r.AuthReqID)})
		return
	}
	fmt.Fprintln(p.w, "  expired before a decision")
}

func (p *printer) decisionSent(r channel.AuthRequest, verdict string, amr []string) {
	if p.json {
		p.event(EventDecisionSent, map[string]any{"req_ref": device.ReqRef(r.AuthReqID), "verdict": verdict, "amr": amr})
	}
}

func (p *printer) accepted(r channel.AuthRequest, verdict string) {
	if p.json {
		p.event(EventDecisionAccepted, map[string]any{"req_ref": device.ReqRef(r.AuthReqID), "verdict": verdict})
		return
	}
	if verdict == channel.VerdictApprove {
		fmt.Fprintln(p.w, "  ✔ approved: the OP accepted the decision")
	} else {
		fmt.Fprintln(p.w, "  ✘ denied: the OP accepted the decision")
	}
}

func (p *printer) refused(r channel.AuthRequest, verdict string, e *device.RefusedError) {
	if p.json {
		f := map[string]any{"req_ref": device.ReqRef(r.AuthReqID), "verdict": verdict, "error": e.Code}
		if e.Description != "" {
			f["error_description"] = e.Description
		}
		p.event(EventDecisionRefused, f)
		return
	}
	fmt.Fprintf(p.w, "  ! the OP refused the decision: %s\n", display(e.Code+describe(e.Description)))
}

func describe(d string) string {
	if d == "" {
		return ""
	}
	return " (" + d + ")"
}
