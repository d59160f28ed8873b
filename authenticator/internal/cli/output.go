package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/cibalab/cibalab/authenticator/device"
	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/oauth"
)

// Event types of --json output, one JSON object a line on stdout.
const (
	EventSignedIn         = "signed_in"
	EventRequest          = "request"
	EventRequestExpired   = "request_expired"
	EventDecisionSent     = "decision_sent"
	EventDecisionAccepted = "decision_accepted"
	EventDecisionRefused  = "decision_refused"
	EventRequestIgnored   = "request_ignored"
	EventPINRefused       = "pin_refused"
	EventEnrolled         = "enrolled"
	EventPending          = "pending"
	EventDecisionRetrying = "decision_retrying"
	EventNotDelivered     = "decision_not_delivered"
	EventRequestClosed    = "request_closed"
)

// prompt is the question of an interactive card.
const prompt = "approve? [y]es / [n]o"

// printer writes results on stdout, as text or JSON Lines. Requests are
// named by their oauth.ReqRef, never by their full auth_req_id.
// Its methods are safe for concurrent use (the approval hook prints too).
type printer struct {
	w      io.Writer
	stderr io.Writer
	json   bool
	// hasPIN is set when the device has a PIN (the cards say which acr an
	// approval carries).
	hasPIN bool

	mu sync.Mutex
	// counting is set while a countdown line is shown on a terminal.
	counting bool
}

func (p *printer) event(typ string, fields map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.eventLocked(typ, fields)
}

func (p *printer) eventLocked(typ string, fields map[string]any) {
	fields["type"] = typ
	data, err := json.Marshal(fields)
	if err != nil { // only plain values are passed
		fmt.Fprintf(p.stderr, "%s: %v\n", Name, err)
		return
	}
	if p.counting {
		io.WriteString(p.w, "\r\x1b[K")
		p.counting = false
	}
	fmt.Fprintf(p.w, "%s\n", data)
}

// text writes s on stdout (stderr with --json, so stdout stays JSON),
// ending a countdown line first.
func (p *printer) text(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.w
	if p.json {
		w = p.stderr
	}
	if p.counting {
		io.WriteString(w, "\n")
		p.counting = false
	}
	io.WriteString(w, s)
}

func (p *printer) signedIn(user, realm, natsURL, deviceID, kid string) {
	if !p.json {
		return // the ready line on stderr says it
	}
	p.event(EventSignedIn, map[string]any{"user": user, "realm": realm, "nats_url": natsURL, "device_id": deviceID, "key_id": kid})
}

// note is a one-line remark for the person at the terminal.
func (p *printer) note(s string) { p.text("  " + display(s) + "\n") }

// countdown redraws the seconds left of the card being answered (a
// terminal only).
func (p *printer) countdown(left int) {
	if p.json {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r\x1b[K  ⏳ %d s left", left)
	p.counting = true
}

// endCountdown ends the countdown line.
func (p *printer) endCountdown(tty bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.counting {
		io.WriteString(p.w, "\r\x1b[K")
		p.counting = false
	}
}

func (p *printer) askPIN(tty bool) { p.text("  PIN: ") }

// endPIN ends the line a PIN was typed on.
func (p *printer) endPIN() { p.text("\n") }

func (p *printer) dot()   { p.text("•") }
func (p *printer) erase() { p.text("\b \b") }

func (p *printer) pinRefused(r channel.AuthRequest, triesLeft int) {
	if p.json {
		p.event(EventPINRefused, map[string]any{"req": oauth.ReqRef(r.AuthReqID), "tries_left": triesLeft})
		return
	}
	p.text(fmt.Sprintf("  wrong PIN: not approved (%d tries left)\n", triesLeft))
}

func (p *printer) ignored(r channel.AuthRequest) {
	if p.json {
		p.event(EventRequestIgnored, map[string]any{"req": oauth.ReqRef(r.AuthReqID)})
		return
	}
	p.text("  ignored: no decision sent\n")
}

// requestFields describes r for JSON output, naming it by its ReqRef.
func requestFields(r channel.AuthRequest, now time.Time) map[string]any {
	scope := r.Scope
	if scope == nil {
		scope = []string{}
	}
	f := map[string]any{"req": oauth.ReqRef(r.AuthReqID), "client_id": r.ClientID, "user": r.User,
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
	if len(r.AuthorizationDetails) > 0 {
		// The entries as the client sent them, and each in words.
		f["authorization_details"] = r.AuthorizationDetails
		f["authorization_details_text"] = r.AuthorizationDetails.Lines()
	}
	return f
}

func (p *printer) request(r channel.AuthRequest, now time.Time, footer string) {
	if !p.json {
		var b strings.Builder
		writeCard(&b, r, now, footer, p.hasPIN)
		p.text(b.String())
		return
	}
	f := requestFields(r, now)
	p.event(EventRequest, f)
}

// reprompt asks again after an answer that is neither yes nor no; with
// --json it goes to stderr so stdout stays JSON.
// With several authorization_details entries it offers their numbers too.
func (p *printer) reprompt(details bool) {
	if details {
		p.text("  answer y or n, or entry numbers: " + detailsPrompt + "\n")
		return
	}
	p.text("  answer y or n: " + prompt + "\n")
}

// detailsPrompt is the question of a card with several
// authorization_details entries, which may be approved in part.
const detailsPrompt = "approve? [y]es, all / [n]o / entry numbers to approve only those, e.g. 1,3"

// partial says which entries an approval grants, when not all.
func (p *printer) partial(r channel.AuthRequest, approved []int) {
	if p.json {
		return // decision_sent carries them
	}
	nums := make([]string, len(approved))
	for i, a := range approved {
		nums[i] = fmt.Sprint(a + 1)
	}
	p.text(fmt.Sprintf("  approving %d of %d: entry %s; the others are not granted\n", len(approved), len(r.AuthorizationDetails), strings.Join(nums, ", ")))
}

func (p *printer) expired(r channel.AuthRequest) {
	if p.json {
		p.event(EventRequestExpired, map[string]any{"req": oauth.ReqRef(r.AuthReqID)})
		return
	}
	p.text("  expired before a decision\n")
}

func (p *printer) decisionSent(r channel.AuthRequest, verdict string, amr []string, source string, approved []int) {
	if p.json {
		f := map[string]any{"req": oauth.ReqRef(r.AuthReqID), "verdict": verdict, "amr": amr, "source": source}
		if approved != nil {
			f["approved_details"] = approved
		}
		p.event(EventDecisionSent, f)
	}
}

func (p *printer) accepted(r channel.AuthRequest, verdict string) {
	if p.json {
		p.event(EventDecisionAccepted, map[string]any{"req": oauth.ReqRef(r.AuthReqID), "verdict": verdict})
		return
	}
	if verdict == channel.VerdictApprove {
		p.text("  ✔ approved: the OP accepted the decision\n")
	} else {
		p.text("  ✘ denied: the OP accepted the decision\n")
	}
}

func (p *printer) refused(r channel.AuthRequest, verdict string, e *device.RefusedError) {
	if p.json {
		f := map[string]any{"req": oauth.ReqRef(r.AuthReqID), "verdict": verdict, "error": e.Code}
		if e.Description != "" {
			f["error_description"] = e.Description
		}
		p.event(EventDecisionRefused, f)
		return
	}
	if e.Code == channel.ErrNotPending {
		p.text("  ! too late: this request was already decided, redeemed or expired\n")
		return
	}
	p.text(fmt.Sprintf("  ! the OP refused the decision: %s\n", display(e.Code+describe(e.Description))))
}

// retrying says, once per decision, that the OP has not answered yet and
// that the same decision is being sent again until it lapses.
func (p *printer) retrying(r channel.AuthRequest, verdict string, left time.Duration) {
	secs := int(left.Round(time.Second) / time.Second)
	if p.json {
		p.event(EventDecisionRetrying, map[string]any{"req": oauth.ReqRef(r.AuthReqID), "verdict": verdict, "lapses_in": secs})
		return
	}
	p.text(fmt.Sprintf("  … no answer from the OP yet: sending again for up to %d s\n", secs))
}

// notDelivered reports a decision the OP never answered: it lapsed, so it
// was not applied and never will be.
func (p *printer) notDelivered(r channel.AuthRequest, verdict string) {
	if p.json {
		p.event(EventNotDelivered, map[string]any{"req": oauth.ReqRef(r.AuthReqID), "verdict": verdict})
		return
	}
	p.text("  ✘ not delivered: the OP did not answer in time; the decision was not applied\n")
}

// closed takes a card off the screen: the request no longer waits for a
// decision.
func (p *printer) closed(r channel.AuthRequest, c device.Closure, ownID string) {
	if p.json {
		p.event(EventRequestClosed, map[string]any{"req": oauth.ReqRef(r.AuthReqID), "reason": c.Reason})
		return
	}
	where := "on another device"
	if c.DeviceID != "" && c.DeviceID == ownID {
		where = "on this device (approval hook)"
	}
	why := "no longer pending"
	switch c.Reason {
	case channel.ClosedApproved:
		why = "approved " + where
	case channel.ClosedDenied:
		why = "denied " + where
	case channel.ClosedRedeemed:
		why = "the client already has its tokens"
	case channel.ClosedExpired:
		why = "expired"
	}
	p.text("  — " + why + ": card closed, nothing to answer\n")
}

func describe(d string) string {
	if d == "" {
		return ""
	}
	return " (" + d + ")"
}

// hookListening announces the approval hook. Its URL, which holds the
// per-run secret, goes to stderr only.
func (p *printer) hookListening(addr, secret string) {
	fmt.Fprintf(p.stderr, "%s: approval hook: POST http://%s/action/%s?token=AUTH_REQ_ID&type=allow|deny\n", Name, addr, secret)
	if p.json {
		p.event("hook_listening", map[string]any{"addr": addr})
	}
}

// pending lists requests for the list command.
func (p *printer) pending(reqs []channel.AuthRequest, now time.Time) {
	if p.json {
		list := make([]map[string]any, 0, len(reqs))
		for _, r := range reqs {
			list = append(list, requestFields(r, now))
		}
		p.event(EventPending, map[string]any{"requests": list})
		return
	}
	if len(reqs) == 0 {
		p.text("no pending request\n")
		return
	}
	var b strings.Builder
	for _, r := range reqs {
		msg := "(none)"
		if r.BindingMessage != "" {
			msg = quoted(r.BindingMessage)
		}
		fmt.Fprintf(&b, "%s  %-20s %4d s  %s  [%s]\n", oauth.ReqRef(r.AuthReqID), display(r.ClientID), r.SecondsLeft(now), msg, display(strings.Join(r.Scope, " ")))
		for i, line := range r.AuthorizationDetails.Lines() {
			fmt.Fprintf(&b, "    %d. %s\n", i+1, display(line))
		}
	}
	p.text(b.String())
}
