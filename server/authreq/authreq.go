package authreq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/authzdetails"
)

// Errors of the transitions. The token endpoint maps them to the OAuth
// errors of CIBA Core 1.0 §11; the device channel to its reply codes.
var (
	// ErrUnknown: no such auth_req_id, or it was issued to another client
	// (the two are not told apart, §11 invalid_grant).
	ErrUnknown = errors.New("authreq: unknown auth_req_id, or another client's")
	// ErrRedeemed: the tokens were issued already (§10.1.1).
	ErrRedeemed = errors.New("authreq: auth_req_id already redeemed")
	// ErrExpired: the request expired before it was redeemed (§11
	// expired_token).
	ErrExpired = errors.New("authreq: auth_req_id expired")
	// ErrDenied: the user denied the request (§11 access_denied).
	ErrDenied = errors.New("authreq: the user denied the request")
	// ErrPending: the user has not decided yet (§11 authorization_pending).
	ErrPending = errors.New("authreq: the user has not decided yet")
	// ErrSlowDown: the client polled sooner than its interval (§11
	// slow_down); the error is a *SlowDownError.
	ErrSlowDown = errors.New("authreq: polled too soon")
	// ErrNotYours: a decision on no request of that user (§8); a device
	// learns nothing about other users' requests.
	ErrNotYours = errors.New("authreq: no such request for this user")
	// ErrNotPending: a decision on a request that is decided, redeemed or
	// expired.
	ErrNotPending = errors.New("authreq: request is no longer pending")
	// ErrLapsed: a decision that arrived after its Verdict.NotAfter.
	ErrLapsed = errors.New("authreq: the decision arrived too late")
	// ErrBadDetails: an approval names authorization_details entries the
	// request does not have (an index out of range or twice, or indexes
	// for a request without details).
	ErrBadDetails = errors.New("authreq: the approved authorization_details are not entries of the request")
	// ErrClaimed: the expired_token push of the request was claimed
	// already, or the request is not an undecided expired one.
	ErrClaimed = errors.New("authreq: expired_token push already claimed")
)

// SlowDownError is the slow_down outcome of a poll (CIBA Core 1.0 §11): the
// interval has grown by 5 s, for good.
type SlowDownError struct {
	// Interval is the request's interval from now on.
	Interval time.Duration
}

func (e *SlowDownError) Error() string {
	return fmt.Sprintf("authreq: polled too soon; wait at least %d s between polls", int(e.Interval/time.Second))
}

// Is makes errors.Is(err, ErrSlowDown) true.
func (e *SlowDownError) Is(target error) bool { return target == ErrSlowDown }

// SlowDownIncrement is how much slow_down raises the interval
// (CIBA Core 1.0 §11: "at least 5 seconds").
const SlowDownIncrement = 5 * time.Second

// Verdict is the user's decision on an authentication device (§8).
type Verdict struct {
	Approve bool
	// ACR and AMR describe how the user authenticated on the device
	// (OpenID Connect Core 1.0 §2); they reach the ID token.
	ACR string
	AMR []string
	// Device is the enrolled device that decided; "" when unknown. A
	// decision is recognised as a resend when the device that decided
	// sends the same verdict again.
	Device string
	// ApprovedDetails, on an approval of a request with
	// authorization_details (RFC 9396), are the indexes of the entries
	// the user approved; nil approves them all, an empty list none (a
	// denial). Only the approved entries are granted.
	ApprovedDetails []int
	// NotAfter, when set, is the last moment the decision may be applied.
	// It is checked in the compare-and-swap that applies it, so a device
	// that reports its decision as not delivered after NotAfter is never
	// contradicted by a late application.
	NotAfter time.Time
}

// Config configures a Lifecycle. Zero values are the documented defaults.
type Config struct {
	// Store holds the requests. Required.
	Store store.Store
	// PollTolerance is how much sooner than the interval a poll may come
	// without slow_down, for network jitter; 0 means none.
	PollTolerance time.Duration
	// SelectACR chooses the acr of an approval from the request's
	// acr_values and the device's acr; nil takes the device's.
	SelectACR func(requested []string, device string) string
	// Sink receives every transition; nil discards them.
	Sink Sink
	Now  func() time.Time
}

// Lifecycle makes the transitions of CIBA authentication requests over a
// store.Store. It is safe for concurrent use; several Lifecycles (OP
// replicas) may share one store.
type Lifecycle struct {
	cfg Config
}

// New validates cfg and returns a Lifecycle.
func New(cfg Config) (*Lifecycle, error) {
	if cfg.Store == nil {
		return nil, errors.New("authreq: Store is required")
	}
	if cfg.PollTolerance < 0 {
		return nil, errors.New("authreq: negative PollTolerance")
	}
	if cfg.SelectACR == nil {
		cfg.SelectACR = func(_ []string, device string) string { return device }
	}
	if cfg.Sink == nil {
		cfg.Sink = SinkFunc(func(context.Context, Event) {})
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Lifecycle{cfg: cfg}, nil
}

// Create stores r as a new pending request (CIBA Core 1.0 §7.3). The
// caller has validated it and set its ID, client, user, parameters,
// Interval and ExpiresAt; Create sets CreatedAt and the status.
func (l *Lifecycle) Create(ctx context.Context, r *store.Request) error {
	switch {
	case r.ID == "" || r.ClientID == "" || r.User == "":
		return errors.New("authreq: Create needs an ID, a client and a user")
	case r.ExpiresAt.IsZero():
		return errors.New("authreq: Create needs ExpiresAt")
	}
	now := l.cfg.Now()
	r.CreatedAt = now
	r.Status = store.StatusPending
	r.LastPoll, r.Polls = time.Time{}, 0
	if err := l.cfg.Store.Create(ctx, r); err != nil {
		return err
	}
	l.emit(ctx, EventCreated, now, r, "")
	return nil
}

// Poll is one token request of client clientID for the request id
// (CIBA Core 1.0 §10.1, §11), checked in the order of the checklist (§3.3):
// another client's or an unknown id, ErrUnknown; redeemed, ErrRedeemed;
// expired, ErrExpired; denied, ErrDenied; approved, the request is
// redeemed and returned, once; pending, ErrPending, or a *SlowDownError
// when the previous poll was less than the interval ago, which then grows
// by SlowDownIncrement for good. The acknowledgement is not a poll: the
// first poll may come at once (§7.3).
func (l *Lifecycle) Poll(ctx context.Context, clientID, id string) (*store.Request, error) {
	return l.poll(ctx, clientID, id, true)
}

// Collect is the second look of a poll the OP held (long polling,
// checklist §3.1): the answers of Poll, in the same order, but it is not
// another poll. A request still pending gives ErrPending, never slow_down,
// and its last poll stays the one that was held.
func (l *Lifecycle) Collect(ctx context.Context, clientID, id string) (*store.Request, error) {
	return l.poll(ctx, clientID, id, false)
}

func (l *Lifecycle) poll(ctx context.Context, clientID, id string, counted bool) (*store.Request, error) {
	now := l.cfg.Now()
	var outcome error
	req, err := l.cfg.Store.Update(ctx, id, func(r *store.Request) error {
		outcome = nil
		switch {
		case r.ClientID != clientID:
			return ErrUnknown
		case r.Status == store.StatusRedeemed:
			return ErrRedeemed
		case r.Expired(now):
			return ErrExpired
		case r.Status == store.StatusDenied:
			return ErrDenied
		case r.Status == store.StatusApproved:
			r.Status = store.StatusRedeemed
			r.RedeemedAt = now
			return nil
		case !counted:
			outcome = ErrPending
			return errUnchanged
		}
		early := !r.LastPoll.IsZero() && now.Sub(r.LastPoll) < r.Interval-l.cfg.PollTolerance
		r.LastPoll = now
		r.Polls++
		if early {
			r.Interval += SlowDownIncrement
			outcome = &SlowDownError{Interval: r.Interval}
		} else {
			outcome = ErrPending
		}
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrUnknown
	case errors.Is(err, errUnchanged):
		return nil, outcome
	case err != nil:
		return nil, err
	case outcome != nil:
		detail := "authorization_pending"
		if errors.Is(outcome, ErrSlowDown) {
			detail = "slow_down"
		}
		l.emit(ctx, EventPolled, now, req, detail)
		return nil, outcome
	}
	l.emit(ctx, EventRedeemed, now, req, "poll")
	return req, nil
}

// errUnchanged aborts a store update that has nothing to write.
var errUnchanged = errors.New("authreq: nothing to change")

// ErrChanged: Unredeem found the request changed since it was redeemed
// (another revision, or no longer redeemed); nothing was given back.
var ErrChanged = errors.New("authreq: the request changed meanwhile")

// Unredeem gives back a request that Poll redeemed when its tokens could
// not be issued, so the client can poll again; a request that changed
// since (another revision) is left alone, ErrChanged.
func (l *Lifecycle) Unredeem(ctx context.Context, redeemed *store.Request) error {
	now := l.cfg.Now()
	req, err := l.cfg.Store.Update(ctx, redeemed.ID, func(r *store.Request) error {
		if r.Revision != redeemed.Revision || r.Status != store.StatusRedeemed {
			return ErrChanged
		}
		r.Status = store.StatusApproved
		r.RedeemedAt = time.Time{}
		return nil
	})
	if err != nil {
		return err
	}
	l.emit(ctx, EventUnredeemed, now, req, "")
	return nil
}

// errResent aborts the compare-and-swap of a resent decision: nothing
// changes.
var errResent = errors.New("authreq: decision resent")

// Decide records the verdict of user's authentication device on the
// request id (CIBA Core 1.0 §8). It is applied once, only for a pending,
// unexpired request of that user whose expired_token push was not claimed,
// and not after v.NotAfter; otherwise ErrNotYours, ErrNotPending or
// ErrLapsed, and nothing changes. An approval records the acr
// (Config.SelectACR), the amr and the authentication time.
//
// A resend is idempotent: when the device that decided (v.Device) sends
// the same verdict again, Decide answers as the first time (no error) with
// applied false and changes nothing, even once the request was redeemed or
// has expired, so a device whose first answer was lost learns the outcome.
func (l *Lifecycle) Decide(ctx context.Context, user, id string, v Verdict) (req *store.Request, applied bool, err error) {
	now := l.cfg.Now()
	var current *store.Request
	req, err = l.cfg.Store.Update(ctx, id, func(r *store.Request) error {
		switch {
		case r.User != user:
			return ErrNotYours
		case v.Device != "" && r.DecidedBy == v.Device && repeats(r.Status, v.Approve):
			current = r.Clone()
			return errResent
		case r.Status != store.StatusPending || r.Expired(now) || !r.ExpiryPushedAt.IsZero():
			return ErrNotPending
		case !v.NotAfter.IsZero() && now.After(v.NotAfter):
			return ErrLapsed
		}
		granted, err := grantedDetails(r, v)
		if err != nil {
			return err
		}
		r.Status = store.StatusDenied
		if v.Approve && (r.AuthorizationDetails == "" || granted != "") {
			r.Status = store.StatusApproved
			r.GrantedDetails = granted
			r.ACR = l.cfg.SelectACR(r.ACRValues, v.ACR)
			r.AMR = slices.Clone(v.AMR)
			r.AuthTime = now
		}
		r.DecidedAt = now
		r.DecidedBy = v.Device
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, false, ErrNotYours
	case errors.Is(err, errResent):
		return current, false, nil
	case err != nil:
		return nil, false, err
	}
	ev := EventDenied
	if req.Status == store.StatusApproved {
		ev = EventApproved
	}
	l.emit(ctx, ev, now, req, "")
	return req, true, nil
}

// grantedDetails returns the authorization_details an approval v grants
// on r: the entries at v.ApprovedDetails, every entry when nil, "" when r
// has none or none was approved (partial approval, cibalab's reading of
// RFC 9396; docs/conformance.md).
func grantedDetails(r *store.Request, v Verdict) (string, error) {
	if !v.Approve {
		return "", nil
	}
	if r.AuthorizationDetails == "" {
		if v.ApprovedDetails != nil {
			return "", ErrBadDetails
		}
		return "", nil
	}
	ds, err := authzdetails.Parse([]byte(r.AuthorizationDetails))
	if err != nil {
		return "", fmt.Errorf("authreq: stored authorization_details: %w", err)
	}
	sel, err := ds.Select(v.ApprovedDetails)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadDetails, err)
	}
	return string(sel.Marshal()), nil
}

// repeats reports whether a verdict (approve or not) is the one that left
// a request in status st.
func repeats(st store.Status, approve bool) bool {
	if approve {
		return st == store.StatusApproved || st == store.StatusRedeemed
	}
	return st == store.StatusDenied
}

// RecordNotification counts a call to the client's notification endpoint
// (CIBA Core 1.0 §10.2, §10.3) and, when the endpoint acknowledged it,
// when. A push that delivered tokens is RecordPushed instead.
func (l *Lifecycle) RecordNotification(ctx context.Context, id string, delivered bool) error {
	now := l.cfg.Now()
	req, err := l.cfg.Store.Update(ctx, id, func(r *store.Request) error {
		r.NotifyAttempts++
		if delivered {
			r.NotifiedAt = now
		}
		return nil
	})
	if err != nil {
		return err
	}
	detail := "failed"
	if delivered {
		detail = "delivered"
	}
	l.emit(ctx, EventNotified, now, req, detail)
	return nil
}

// RecordPushed records a push the client acknowledged (CIBA Core 1.0
// §10.3.1): an approved request is then consumed, as a redeemed one.
func (l *Lifecycle) RecordPushed(ctx context.Context, id string) (*store.Request, error) {
	now := l.cfg.Now()
	var redeemed bool
	req, err := l.cfg.Store.Update(ctx, id, func(r *store.Request) error {
		redeemed = false
		r.NotifyAttempts++
		r.NotifiedAt = now
		if r.Status == store.StatusApproved {
			r.Status = store.StatusRedeemed
			r.RedeemedAt = now
			redeemed = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	l.emit(ctx, EventNotified, now, req, "delivered")
	if redeemed {
		l.emit(ctx, EventRedeemed, now, req, "push")
	}
	return req, nil
}

// ClaimExpiryPush takes, once, the expired_token push of a request that
// expired while pending (CIBA Core 1.0 §12): by compare-and-swap, so
// overlapping sweeps, or several OPs sharing the store, push it at most
// once. ErrClaimed when it was taken already or the request is not an
// expired pending one. After the claim no decision is accepted.
func (l *Lifecycle) ClaimExpiryPush(ctx context.Context, id string) (*store.Request, error) {
	now := l.cfg.Now()
	req, err := l.cfg.Store.Update(ctx, id, func(r *store.Request) error {
		if r.Status != store.StatusPending || !r.Expired(now) || !r.ExpiryPushedAt.IsZero() {
			return ErrClaimed
		}
		r.ExpiryPushedAt = now
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrClaimed
	}
	if err != nil {
		return nil, err
	}
	l.emit(ctx, EventExpired, now, req, "")
	return req, nil
}

// ReleaseExpiryPush undoes a claim made by ClaimExpiryPush whose push
// could not be started, so another OP sharing the store may make it.
func (l *Lifecycle) ReleaseExpiryPush(ctx context.Context, claimed *store.Request) error {
	_, err := l.cfg.Store.Update(ctx, claimed.ID, func(r *store.Request) error {
		if !r.ExpiryPushedAt.Equal(claimed.ExpiryPushedAt) {
			return ErrClaimed
		}
		r.ExpiryPushedAt = time.Time{}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return ErrClaimed
	}
	return err
}

// Pending returns the unexpired pending requests of user (every user when
// user is ""), oldest first: what the user's devices show (§8).
func (l *Lifecycle) Pending(ctx context.Context, user string) ([]*store.Request, error) {
	reqs, err := l.cfg.Store.List(ctx, user, store.StatusPending)
	if err != nil {
		return nil, err
	}
	now := l.cfg.Now()
	return slices.DeleteFunc(reqs, func(r *store.Request) bool { return r.Expired(now) }), nil
}

// ExpiredUndecided returns the requests that expired while pending and
// whose expired_token push nobody claimed yet, oldest first.
func (l *Lifecycle) ExpiredUndecided(ctx context.Context) ([]*store.Request, error) {
	reqs, err := l.cfg.Store.ListExpired(ctx, store.StatusPending, l.cfg.Now())
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(reqs, func(r *store.Request) bool { return !r.ExpiryPushedAt.IsZero() }), nil
}

// Sweep deletes the requests that expired more than retention ago; until
// then a late poll still gets expired_token rather than invalid_grant.
func (l *Lifecycle) Sweep(ctx context.Context, retention time.Duration) (int, error) {
	return l.cfg.Store.DeleteExpired(ctx, l.cfg.Now().Add(-retention))
}

func (l *Lifecycle) emit(ctx context.Context, t EventType, now time.Time, r *store.Request, detail string) {
	l.cfg.Sink.Transition(ctx, Event{Type: t, Time: now, Request: r.Clone(), Detail: detail})
}
