package watch

import (
	"fmt"
	"net/http"
	"time"

	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/oauth"
)

// Party is one of the three lifelines of a flow (CIBA Core 1.0 §1).
type Party string

// The parties.
const (
	Client Party = "client" // the consumption device, where the client runs
	OP     Party = "op"     // the OpenID Provider
	Device Party = "device" // the authentication device, where the user decides
)

// Title is the party's name on a diagram.
func (p Party) Title() string {
	switch p {
	case Client:
		return "Consumption device"
	case OP:
		return "OP"
	case Device:
		return "Authentication device"
	}
	return string(p)
}

// Message is one arrow of a flow: a real message between two parties, or
// a note on one party's lifeline when From equals To.
type Message struct {
	// Req is the request's reference (oauth.ReqRef), "" for an exchange
	// that concerns no request (a refused bc-authorize).
	Req      string
	ClientID string
	User     string
	From, To Party
	// Name is what the message is ("POST /bc-authorize"), Outcome what it
	// said ("400 invalid_request"), Spec the section defining it
	// ("CIBA §7.1").
	Name    string
	Outcome string
	Spec    string
	// At is when the message was sent, by the OP's clock.
	At time.Time
	// Reply marks an answer to the message before it (drawn dashed).
	Reply bool
	// Failed marks an error answer, a refusal or a failed delivery.
	Failed bool

	seq int // order of arrival, to order messages sent at the same time
}

// Note reports whether m is a note rather than an arrow.
func (m Message) Note() bool { return m.From == m.To }

// Label is the message's text: its name, then its outcome.
func (m Message) Label() string {
	if m.Outcome == "" {
		return m.Name
	}
	return m.Name + " → " + m.Outcome
}

// eventTime is when e happened, to the microsecond when it says so.
func eventTime(e channel.Event) time.Time {
	if e.AtMicros != 0 {
		return time.UnixMicro(e.AtMicros)
	}
	return time.UnixMilli(e.Time)
}

// messages returns the arrows event e stands for, in the order they were
// sent; f is what is known of its flow so far (its verdict names a
// push error). Events that are no message return none.
func messages(e channel.Event, f *Flow) []Message {
	at := eventTime(e)
	took := time.Duration(e.TookMicros) * time.Microsecond
	m := func(from, to Party, name, outcome, spec string, at time.Time, failed bool) Message {
		// Who answers: the OP to the client's requests, the device to
		// the OP's card (its decision), the OP to the decision, the
		// client to a notification.
		reply := (from == OP && to == Client && name != "ping notification" && name != "push notification") ||
			(from == OP && to == Device && name == "decision result") || (from == Client && to == OP && name != "POST /bc-authorize" && name != "POST /token")
		return Message{Req: e.ReqRef, ClientID: e.ClientID, User: e.User, From: from, To: to, Name: name, Outcome: outcome, Spec: spec, At: at, Reply: reply, Failed: failed}
	}
	switch e.Type {
	case channel.EventExchange:
		start := at.Add(-took)
		switch e.Endpoint {
		case "bc-authorize":
			req := m(Client, OP, "POST /bc-authorize", "", "CIBA §7.1, RFC 8705 §2", start, false)
			if e.Error != "" {
				return []Message{req, m(OP, Client, status(e.Status), e.Error, errorSpec(e.Endpoint, e.Error), at, true)}
			}
			return []Message{req, m(OP, Client, status(e.Status), "auth_req_id "+refText(e.ReqRef)+", expires_in, interval", "CIBA §7.3", at, false)}
		case "token":
			req := m(Client, OP, "POST /token", "", "CIBA §10.1", start, false)
			if e.Error != "" {
				return []Message{req, m(OP, Client, status(e.Status), e.Error, errorSpec(e.Endpoint, e.Error), at, !polling(e.Error))}
			}
			return []Message{req, m(OP, Client, status(e.Status), "access_token (cert-bound), id_token", "CIBA §10.1.1, RFC 8705 §3", at, false)}
		}
	case channel.EventRequestAnnounced:
		return []Message{m(OP, Device, "authentication request", "client, scope, binding_message", "CIBA §8", at, false)}
	case channel.EventDecisionAccepted:
		return []Message{
			m(Device, OP, "signed decision", e.Detail, "CIBA §8", at, false),
			m(OP, Device, "decision result", "accepted", "CIBA §8", at, false),
		}
	case channel.EventDecisionRefused:
		return []Message{
			m(Device, OP, "signed decision", "", "CIBA §8", at, false),
			m(OP, Device, "decision result", "refused: "+e.Detail, "CIBA §8", at, true),
		}
	case channel.EventNotification:
		start := at.Add(-took)
		var out Message
		switch {
		case e.Mode == "ping":
			out = m(OP, Client, "ping notification", "auth_req_id "+refText(e.ReqRef), "CIBA §10.2", start, false)
		case e.Kind == "tokens":
			out = m(OP, Client, "push notification", "access_token, id_token", "CIBA §10.3.1", start, false)
		default:
			code := "error"
			if f != nil && f.Verdict == channel.VerdictDeny {
				code = oauth.ErrAccessDenied
			} else if f != nil && f.expired {
				code = oauth.ErrExpiredToken
			}
			out = m(OP, Client, "push notification", code, "CIBA §12", start, true)
		}
		spec := "CIBA §10.2"
		if e.Mode == "push" {
			spec = "CIBA §10.3"
		}
		if e.Error != "" {
			answer := "no answer"
			if e.Status != 0 {
				answer = status(e.Status)
			}
			return []Message{out, m(Client, OP, answer, "delivery failed", spec, at, true)}
		}
		return []Message{out, m(Client, OP, status(e.Status), "acknowledged", spec, at, false)}
	case channel.EventTokenIssued:
		how, spec := "at the token endpoint", "CIBA §10.1.1"
		if e.Detail == "push" {
			how, spec = "delivered by push", "CIBA §10.3.1"
		}
		return []Message{m(OP, OP, "tokens issued", how, spec, at, false)}
	case channel.EventRequestExpired:
		return []Message{m(OP, OP, "request expired", "undecided", "CIBA §12", at, true)}
	}
	return nil
}

// polling reports whether an error code only asks the client to poll on.
func polling(code string) bool {
	return code == oauth.ErrAuthorizationPending || code == oauth.ErrSlowDown
}

// status is an HTTP status as "400 Bad Request".
func status(code int) string {
	if code == 0 {
		return "no answer"
	}
	return fmt.Sprintf("%d %s", code, http.StatusText(code))
}

// refText is how a request reference is shown: its 8 hex digits and an
// ellipsis, so that nobody takes it for the auth_req_id itself.
func refText(ref string) string {
	if ref == "" {
		return "…"
	}
	return ref + "…"
}

// errorSpec is the section that defines an OAuth error code answered at
// the backchannel authentication or the token endpoint.
func errorSpec(endpoint, code string) string {
	switch {
	case code == oauth.ErrInvalidClient:
		return "RFC 6749 §5.2, RFC 8705 §2"
	case code == oauth.ErrTemporarilyUnavailable:
		return "CIBA §11, RFC 6749 §4.1.2.1"
	case endpoint == "bc-authorize":
		return "CIBA §13"
	case code == oauth.ErrInvalidGrant || code == oauth.ErrUnsupportedGrantType || code == oauth.ErrInvalidRequest:
		return "RFC 6749 §5.2"
	}
	return "CIBA §11"
}
