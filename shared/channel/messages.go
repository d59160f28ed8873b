package channel

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cibalab/cibalab/shared/authzdetails"
)

// AuthRequest announces a backchannel authentication request to the devices
// of its user (CIBA Core 1.0 §8: the OP shows the client, the scope and the
// binding message so the user can match them with the consumption device).
type AuthRequest struct {
	Version        int      `json:"v"`
	AuthReqID      string   `json:"auth_req_id"`
	ClientID       string   `json:"client_id"`
	ClientName     string   `json:"client_name,omitempty"`
	User           string   `json:"user"`
	Scope          []string `json:"scope"`
	BindingMessage string   `json:"binding_message,omitempty"`
	ACRValues      []string `json:"acr_values,omitempty"`
	// AuthorizationDetails are the entries the client asks the user to
	// approve (RFC 9396 §2), as the OP validated them; the device shows
	// each in words (authzdetails.Details.Lines) and may approve a subset
	// (DecisionClaims.ApprovedDetails).
	AuthorizationDetails authzdetails.Details `json:"authorization_details,omitempty"`
	CreatedAt            int64                `json:"created_at"` // Unix seconds
	ExpiresAt            int64                `json:"expires_at"` // Unix seconds
}

// SecondsLeft is the number of whole seconds before r expires at now,
// never negative.
func (r *AuthRequest) SecondsLeft(now time.Time) int {
	left := r.ExpiresAt - now.Unix()
	if left < 0 {
		return 0
	}
	return int(left)
}

// PendingRequest asks, on an enrolled device's DevicePendingSubject, for
// the requests still pending for the device's user; the subject names the
// device.
type PendingRequest struct {
	Version int `json:"v"`
}

// PendingResponse lists pending requests, oldest first. A list that
// would not fit in one NATS message holds the oldest that do, and More is
// set: the others are still pending, and a later list shows them once
// some are decided.
type PendingResponse struct {
	Version          int           `json:"v"`
	Requests         []AuthRequest `json:"requests"`
	More             bool          `json:"more,omitempty"`
	Error            string        `json:"error,omitempty"`
	ErrorDescription string        `json:"error_description,omitempty"`
}

// Decision carries a device's signed decision on its DeviceDecideSubject;
// the subject and the JWT's device_id name the device.
type Decision struct {
	Version int `json:"v"`
	// JWT is signed with ES256 by the device key registered at enrollment;
	// its claims are DecisionClaims.
	JWT string `json:"jwt"`
}

// The two verdicts a device can give.
const (
	VerdictApprove = "approve"
	VerdictDeny    = "deny"
)

// DecisionLeeway is how long after its exp the OP still applies a
// decision, for clock skew between the device and the OP. A device that
// got no answer to a decision reports it as failed only once exp plus
// DecisionLeeway has passed: from then on the OP refuses it, so no copy of
// it still travelling can be applied later.
const DecisionLeeway = 5 * time.Second

// DecisionClaims are the claims of a decision JWT.
type DecisionClaims struct {
	AuthReqID string `json:"auth_req_id"`
	Verdict   string `json:"verdict"`
	// DeviceID names the enrolled device whose key signed the decision.
	DeviceID string   `json:"device_id,omitempty"`
	ACR      string   `json:"acr,omitempty"`
	AMR      []string `json:"amr,omitempty"`
	// ApprovedDetails, on an approval of a request with
	// authorization_details, are the indexes (from 0) of the entries the
	// user approved; absent approves every entry. It is signed with the
	// rest of the decision. Approving none is a deny.
	ApprovedDetails []int `json:"approved_details,omitempty"`
	jwt.RegisteredClaims
}

// Validate checks the fields a decision must carry.
func (c *DecisionClaims) Validate() error {
	switch {
	case c.AuthReqID == "":
		return errors.New("channel: decision without auth_req_id")
	case c.Verdict != VerdictApprove && c.Verdict != VerdictDeny:
		return fmt.Errorf("channel: decision verdict %q is neither approve nor deny", c.Verdict)
	case c.DeviceID == "":
		return errors.New("channel: decision without device_id")
	case c.ID == "":
		return errors.New("channel: decision without jti")
	case c.IssuedAt == nil:
		return errors.New("channel: decision without iat")
	case c.ApprovedDetails != nil && c.Verdict != VerdictApprove:
		return errors.New("channel: approved_details on a deny")
	}
	for _, i := range c.ApprovedDetails {
		if i < 0 || i >= authzdetails.MaxEntries {
			return fmt.Errorf("channel: approved_details index %d out of range", i)
		}
	}
	return nil
}

// DecisionResult answers a Decision: Accepted, or an Error code from this
// package with a description.
type DecisionResult struct {
	Version          int    `json:"v"`
	Accepted         bool   `json:"accepted"`
	Error            string `json:"error,omitempty"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// Error codes of the channel's replies.
const (
	ErrBadMessage     = "bad_message" // not JSON, or a field missing or malformed
	ErrUnsupported    = "unsupported_version"
	ErrBadCredentials = "bad_credentials"  // enrollment refused
	ErrBadSignature   = "bad_signature"    // decision JWT does not verify
	ErrReplay         = "replay"           // decision jti already used
	ErrNotYourRequest = "not_your_request" // unknown, or another user's request
	ErrNotPending     = "not_pending"      // already decided, redeemed or expired
	// ErrRateLimited: the device sent more messages than the OP processes
	// for one device; nothing was done, send again later.
	ErrRateLimited = "rate_limited"
	ErrInternal    = "internal_error"
)

// Event types published on EventsSubject.
const (
	EventRequestCreated = "request.created"
	// EventRequestAnnounced: the request was sent to the user's devices
	// (CIBA Core 1.0 §8).
	EventRequestAnnounced = "request.announced"
	EventDecisionAccepted = "decision.accepted"
	EventDecisionRefused  = "decision.refused"
	EventTokenIssued      = "token.issued"
	EventRequestExpired   = "request.expired"
	// EventExchange: the OP answered an HTTP request (Endpoint, GrantType,
	// Status, Error); it began TookMicros before AtMicros.
	EventExchange = "exchange"
	// EventNotification: the OP called a client's notification endpoint
	// (Mode, Kind, Status, Error; CIBA Core 1.0 §10.2, §10.3, §12).
	EventNotification = "notification"
)

// Event is one thing that happened at the OP, for watchers. It never carries
// a token, a password or a full auth_req_id: ReqRef is a short hash.
type Event struct {
	Version  int    `json:"v"`
	Type     string `json:"type"`
	Time     int64  `json:"time"` // Unix milliseconds
	ReqRef   string `json:"req,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	User     string `json:"user,omitempty"`
	Detail   string `json:"detail,omitempty"`
	// AtMicros is Time in Unix microseconds, to order the events of one
	// request; TookMicros is how long an exchange or a notification took.
	AtMicros   int64 `json:"at_us,omitempty"`
	TookMicros int64 `json:"took_us,omitempty"`
	// Endpoint ("bc-authorize", "token", ...) and GrantType name the
	// endpoint of an exchange.
	Endpoint  string `json:"endpoint,omitempty"`
	GrantType string `json:"grant_type,omitempty"`
	// Mode ("ping", "push") and Kind ("ping", "tokens", "error") describe
	// a notification.
	Mode string `json:"mode,omitempty"`
	Kind string `json:"kind,omitempty"`
	// Status is the HTTP status of an exchange or of the client's answer
	// to a notification (0: none); Error is an exchange's OAuth error code
	// or why a notification failed.
	Status int    `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
}

// RequestClosedType is the type of a [RequestClosed] message.
const RequestClosedType = "request.closed"

// Why a request stopped waiting for a decision ([RequestClosed].Reason).
const (
	ClosedApproved = "approved" // a device of the user approved it
	ClosedDenied   = "denied"   // a device of the user denied it
	ClosedRedeemed = "redeemed" // the client obtained its tokens
	ClosedExpired  = "expired"  // it expired undecided
)

// RequestClosed tells the devices of a user, on the same
// [UserRequestsSubject] as the [AuthRequest] it closes, that the request
// no longer waits for a decision (CIBA Core 1.0 §8: the authentication
// device shows only what the user can still answer), so every device
// takes its card off the screen. Type tells it from an AuthRequest, which
// has no type. DeviceID names the device that decided, when one did.
type RequestClosed struct {
	Version   int    `json:"v"`
	Type      string `json:"type"`
	AuthReqID string `json:"auth_req_id"`
	User      string `json:"user"`
	Reason    string `json:"reason"`
	DeviceID  string `json:"device_id,omitempty"`
}
