package store

import (
	"slices"
	"time"
	"unique"
)

// packedRequest is how the memory store holds a Request: the same data in
// fewer bytes, since a pending request waits for minutes and an OP may
// hold 100,000 of them (docs/performance.md). The values many requests
// share (client, user, certificate thumbprint, status) are interned
// handles of 8 bytes instead of 16-byte headers each pointing to a copy;
// the fields set only after the decision or a notification are in
// packedOutcome, nil while all are zero. Nothing is lost: unpack returns
// exactly the Request that pack was given, times with their location and
// monotonic reading, nil and empty slices as they were.
type packedRequest struct {
	id                string
	clientID, user    unique.Handle[string]
	certThumbprint    unique.Handle[string]
	status            unique.Handle[Status]
	bindingMessage    string
	notificationToken string
	scope, acrValues  []string
	createdAt         time.Time
	expiresAt         time.Time
	lastPoll          time.Time
	interval          time.Duration
	polls             int
	revision          uint64
	outcome           *packedOutcome
}

// packedOutcome holds the fields of a Request that are zero while it is
// pending and nobody was notified.
type packedOutcome struct {
	notifyAttempts int
	notifiedAt     time.Time
	expiryPushedAt time.Time
	decidedAt      time.Time
	decidedBy      string
	acr            string
	amr            []string
	authTime       time.Time
	redeemedAt     time.Time
}

// keepSlice returns a copy of s, or prev when it holds the same strings
// (the stored slices are never written, so rows may share them).
func keepSlice(prev, s []string) []string {
	if (prev == nil) == (s == nil) && slices.Equal(prev, s) {
		return prev
	}
	return slices.Clone(s)
}

// pack returns r packed; prev, when not nil, is the row r updates, whose
// slices are reused when unchanged.
func pack(r *Request, prev *packedRequest) *packedRequest {
	var scope, acrValues, amr []string
	var prevOutcome packedOutcome
	if prev != nil {
		scope, acrValues = prev.scope, prev.acrValues
		if prev.outcome != nil {
			prevOutcome = *prev.outcome
		}
	}
	p := &packedRequest{
		id:                r.ID,
		clientID:          unique.Make(r.ClientID),
		user:              unique.Make(r.User),
		certThumbprint:    unique.Make(r.CertThumbprint),
		status:            unique.Make(r.Status),
		bindingMessage:    r.BindingMessage,
		notificationToken: r.NotificationToken,
		scope:             keepSlice(scope, r.Scope),
		acrValues:         keepSlice(acrValues, r.ACRValues),
		createdAt:         r.CreatedAt,
		expiresAt:         r.ExpiresAt,
		lastPoll:          r.LastPoll,
		interval:          r.Interval,
		polls:             r.Polls,
		revision:          r.Revision,
	}
	if r.NotifyAttempts != 0 || !isZero(r.NotifiedAt) || !isZero(r.ExpiryPushedAt) || !isZero(r.DecidedAt) ||
		r.DecidedBy != "" || r.ACR != "" || r.AMR != nil || !isZero(r.AuthTime) || !isZero(r.RedeemedAt) {
		amr = keepSlice(prevOutcome.amr, r.AMR)
		p.outcome = &packedOutcome{
			notifyAttempts: r.NotifyAttempts,
			notifiedAt:     r.NotifiedAt,
			expiryPushedAt: r.ExpiryPushedAt,
			decidedAt:      r.DecidedAt,
			decidedBy:      r.DecidedBy,
			acr:            r.ACR,
			amr:            amr,
			authTime:       r.AuthTime,
			redeemedAt:     r.RedeemedAt,
		}
	}
	return p
}

// isZero reports whether t is exactly the zero Time, location included,
// so that a zero instant in another location is kept.
func isZero(t time.Time) bool { return t == time.Time{} }

// unpack returns a new Request holding the data of p; its slices are
// copies, so the caller may change them.
func (p *packedRequest) unpack() *Request {
	r := &Request{
		ID:                p.id,
		ClientID:          p.clientID.Value(),
		User:              p.user.Value(),
		Scope:             slices.Clone(p.scope),
		BindingMessage:    p.bindingMessage,
		ACRValues:         slices.Clone(p.acrValues),
		NotificationToken: p.notificationToken,
		CertThumbprint:    p.certThumbprint.Value(),
		CreatedAt:         p.createdAt,
		ExpiresAt:         p.expiresAt,
		Interval:          p.interval,
		LastPoll:          p.lastPoll,
		Polls:             p.polls,
		Status:            p.status.Value(),
		Revision:          p.revision,
	}
	if o := p.outcome; o != nil {
		r.NotifyAttempts = o.notifyAttempts
		r.NotifiedAt = o.notifiedAt
		r.ExpiryPushedAt = o.expiryPushedAt
		r.DecidedAt = o.decidedAt
		r.DecidedBy = o.decidedBy
		r.ACR = o.acr
		r.AMR = slices.Clone(o.amr)
		r.AuthTime = o.authTime
		r.RedeemedAt = o.redeemedAt
	}
	return r
}
