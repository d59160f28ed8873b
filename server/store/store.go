package store

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Status is the state of an authentication request (checklist §8: pending →
// approved | denied, then redeemed; expiry is derived from ExpiresAt).
type Status string

// The states of a request.
const (
	StatusPending  Status = "pending"
	StatusApproved Status = "approved"
	StatusDenied   Status = "denied"
	StatusRedeemed Status = "redeemed"
)

// Errors returned by every backend. Callers test them with errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrExists   = errors.New("store: already exists")
)

// Request is one backchannel authentication request.
type Request struct {
	// ID is the auth_req_id (CIBA Core 1.0 §7.3). Never log it whole.
	ID       string
	ClientID string
	User     string
	Scope    []string
	// BindingMessage is shown on both devices (CIBA Core 1.0 §7.1).
	BindingMessage string
	ACRValues      []string
	// AuthorizationDetails is the authorization_details the client asked
	// for (RFC 9396 §2), a compact JSON array as validated; "" for none.
	AuthorizationDetails string `json:",omitempty"`
	// NotificationToken is the client_notification_token of ping and push
	// clients (CIBA Core 1.0 §7.1).
	NotificationToken string
	// CertThumbprint is the x5t#S256 of the client certificate presented
	// at the backchannel authentication endpoint. Push mode binds its
	// tokens to it, since push bypasses the token endpoint (CIBA Core 1.0
	// §14; not standard).
	CertThumbprint string
	// NotifyAttempts counts the calls to the client notification endpoint
	// (CIBA Core 1.0 §10.2, §10.3); NotifiedAt is when the endpoint
	// acknowledged one (200 or 204), zero until then.
	NotifyAttempts int
	NotifiedAt     time.Time
	// ExpiryPushedAt is when the OP claimed the expired_token push of a
	// push client's request that expired undecided (CIBA Core 1.0 §12),
	// zero until then. It is set once, by compare-and-swap, so the error
	// is pushed at most once whoever sweeps.
	ExpiryPushedAt time.Time

	CreatedAt time.Time
	ExpiresAt time.Time
	// Interval is the minimum time between two polls; slow_down raises it
	// (CIBA Core 1.0 §11).
	Interval time.Duration
	// LastPoll is when the client last polled; zero before the first poll,
	// which the interval does not delay (CIBA Core 1.0 §7.3).
	LastPoll time.Time
	Polls    int

	Status    Status
	DecidedAt time.Time
	// DecidedBy is the enrolled device whose decision was accepted, "" when
	// none: a resend by that device of the same verdict is answered as the
	// original was (CIBA Core 1.0 §8; see op.Provider.Decide).
	DecidedBy string `json:",omitempty"`
	// ACR, AMR and AuthTime describe the user's authentication on approval.
	ACR      string
	AMR      []string
	AuthTime time.Time
	// GrantedDetails is the part of AuthorizationDetails the user approved
	// (RFC 9396 §7), a compact JSON array; "" while undecided or when none
	// were asked.
	GrantedDetails string `json:",omitempty"`
	// RedeemedAt is when the tokens were issued.
	RedeemedAt time.Time

	// Revision is maintained by the store: it changes on every write.
	Revision uint64
}

// Expired reports whether the request has expired at now.
func (r *Request) Expired(now time.Time) bool { return !now.Before(r.ExpiresAt) }

// Clone returns a deep copy of r.
func (r *Request) Clone() *Request {
	c := *r
	c.Scope = slices.Clone(r.Scope)
	c.ACRValues = slices.Clone(r.ACRValues)
	c.AMR = slices.Clone(r.AMR)
	return &c
}

// Store holds requests. Implementations are safe for concurrent use.
type Store interface {
	// Create stores a new request; ErrExists if its ID is taken.
	Create(ctx context.Context, r *Request) error
	// Get returns a copy of the request; ErrNotFound if there is none.
	Get(ctx context.Context, id string) (*Request, error)
	// Update applies fn to a copy of the request and stores the result if
	// the request did not change meanwhile (compare-and-swap), retrying fn
	// on a conflict. An error from fn aborts the update and is returned
	// unchanged, as is ErrNotFound. It returns the stored result.
	Update(ctx context.Context, id string, fn func(*Request) error) (*Request, error)
	// List returns copies of the requests of user (all users when user is
	// empty) with the given status, oldest first.
	List(ctx context.Context, user string, status Status) ([]*Request, error)
	// ListExpired returns copies of the requests with the given status
	// that have expired at now (Request.Expired), oldest first. It spares
	// the OP's once-a-second look for expired pending requests a copy of
	// every pending one.
	ListExpired(ctx context.Context, status Status, now time.Time) ([]*Request, error)
	// DeleteExpired removes requests that expired before cutoff and
	// returns how many it removed.
	DeleteExpired(ctx context.Context, cutoff time.Time) (int, error)
}
