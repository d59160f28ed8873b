package store

import (
	"encoding/binary"
	"slices"
	"time"
	"unique"
)

// packedRequest is how the memory store holds a Request: the same data in
// fewer bytes, since a pending request waits for minutes and an OP may
// hold 100,000 of them (docs/performance.md). The values many requests
// share (client, user, certificate thumbprint, status) are interned
// handles of 8 bytes instead of 16-byte headers each pointing to a copy
// (the scope and acr_values lists too, as one encoded string each); the
// auth_req_id is the key of the row, not held twice; the fields set only
// after the decision or a notification are in packedOutcome, nil while
// all are zero. Nothing is lost: unpack returns
// exactly the Request that pack was given, times with their location and
// monotonic reading, nil and empty slices as they were.
type packedRequest struct {
	clientID, user    unique.Handle[string]
	certThumbprint    unique.Handle[string]
	status            unique.Handle[Status]
	scope, acrValues  packedList
	bindingMessage    string
	notificationToken string
	authzDetails      string
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
	grantedDetails string
	redeemedAt     time.Time
}

// packedList is a list of strings as an interned handle of its encoding
// (each string as its length, a uvarint, then its bytes); the zero
// packedList is the nil list.
type packedList struct {
	enc    unique.Handle[string]
	notNil bool
}

func packList(l []string) packedList {
	if l == nil {
		return packedList{}
	}
	n := 0
	for _, s := range l {
		n += binary.MaxVarintLen64 + len(s)
	}
	b := make([]byte, 0, n)
	for _, s := range l {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return packedList{enc: unique.Make(string(b)), notNil: true}
}

// list returns a new slice holding the strings of l.
func (l packedList) list() []string {
	if !l.notNil {
		return nil
	}
	enc := l.enc.Value()
	out := []string{}
	for len(enc) > 0 {
		n, k := binary.Uvarint([]byte(enc[:min(len(enc), binary.MaxVarintLen64)]))
		enc = enc[k:]
		out = append(out, enc[:n])
		enc = enc[n:]
	}
	return out
}

// keepSlice returns a copy of s, or prev when it holds the same strings
// (the stored slices are never written, so rows may share them).
func keepSlice(prev, s []string) []string {
	if (prev == nil) == (s == nil) && slices.Equal(prev, s) {
		return prev
	}
	return slices.Clone(s)
}

// pack returns r packed (r.ID is the key of the row); prev, when not nil,
// is the row r updates, whose AMR slice is reused when unchanged.
func pack(r *Request, prev *packedRequest) *packedRequest {
	var amr []string
	var prevOutcome packedOutcome
	if prev != nil && prev.outcome != nil {
		prevOutcome = *prev.outcome
	}
	p := &packedRequest{
		clientID:          unique.Make(r.ClientID),
		user:              unique.Make(r.User),
		certThumbprint:    unique.Make(r.CertThumbprint),
		status:            unique.Make(r.Status),
		bindingMessage:    r.BindingMessage,
		notificationToken: r.NotificationToken,
		authzDetails:      r.AuthorizationDetails,
		scope:             packList(r.Scope),
		acrValues:         packList(r.ACRValues),
		createdAt:         r.CreatedAt,
		expiresAt:         r.ExpiresAt,
		lastPoll:          r.LastPoll,
		interval:          r.Interval,
		polls:             r.Polls,
		revision:          r.Revision,
	}
	if r.NotifyAttempts != 0 || !isZero(r.NotifiedAt) || !isZero(r.ExpiryPushedAt) || !isZero(r.DecidedAt) ||
		r.DecidedBy != "" || r.ACR != "" || r.AMR != nil || !isZero(r.AuthTime) || !isZero(r.RedeemedAt) || r.GrantedDetails != "" {
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
			grantedDetails: r.GrantedDetails,
			redeemedAt:     r.RedeemedAt,
		}
	}
	return p
}

// isZero reports whether t is exactly the zero Time, location included,
// so that a zero instant in another location is kept.
func isZero(t time.Time) bool { return t == time.Time{} }

// unpack returns a new Request with the ID id holding the data of p; its
// slices are its own, so the caller may change them.
func (p *packedRequest) unpack(id string) *Request {
	r := &Request{
		ID:                   id,
		ClientID:             p.clientID.Value(),
		User:                 p.user.Value(),
		Scope:                p.scope.list(),
		BindingMessage:       p.bindingMessage,
		ACRValues:            p.acrValues.list(),
		NotificationToken:    p.notificationToken,
		AuthorizationDetails: p.authzDetails,
		CertThumbprint:       p.certThumbprint.Value(),
		CreatedAt:            p.createdAt,
		ExpiresAt:            p.expiresAt,
		Interval:             p.interval,
		LastPoll:             p.lastPoll,
		Polls:                p.polls,
		Status:               p.status.Value(),
		Revision:             p.revision,
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
		r.GrantedDetails = o.grantedDetails
		r.RedeemedAt = o.redeemedAt
	}
	return r
}
