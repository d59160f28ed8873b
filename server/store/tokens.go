package store

import (
	"context"
	"errors"
	"slices"
	"time"
)

// ErrFamilyRevoked is returned by [TokenStore.CreateToken] for a token of a
// family that [TokenStore.RevokeFamily] revoked: a rotation that raced with
// a replay must not outlive the revocation (OAuth 2.0 Security BCP
// §4.14.2).
var ErrFamilyRevoked = errors.New("store: token family revoked")

// Token is the record of one refresh token (RFC 6749 §1.5, §6). The token
// itself is never stored: Hash is the unpadded base64url SHA-256 of it, so
// a copy of the store does not hand out usable tokens.
//
// Refresh tokens rotate: every use spends the token (UsedAt) and issues a
// new one in the same Family. Presenting a spent token again is a replay,
// and the whole family is revoked (OAuth 2.0 Security BCP §4.14.2).
type Token struct {
	// Hash identifies the token: base64url(SHA-256(token)), no padding.
	Hash string
	// Family is shared by every token rotated from the same grant.
	Family   string
	ClientID string
	User     string
	Scope    []string
	// CertThumbprint is the x5t#S256 of the client certificate the token
	// is bound to (RFC 8705 §3.1, §7.1).
	CertThumbprint string
	// ACR, AMR and AuthTime describe the user's original authentication;
	// they reach the ID tokens minted on refresh (OpenID Connect Core 1.0
	// §12.2).
	ACR      string
	AMR      []string
	AuthTime time.Time
	// AuthorizationDetails is the granted authorization_details (RFC 9396
	// §7), a compact JSON array: refreshed tokens carry them again. "" for
	// none.
	AuthorizationDetails string `json:",omitempty"`
	// AccessTokenID is the jti of the access token issued with this
	// refresh token, revoked with the family.
	AccessTokenID string

	IssuedAt  time.Time
	ExpiresAt time.Time
	// UsedAt is when the token was exchanged (rotated); zero while unused.
	UsedAt time.Time
	// RevokedAt is when the token was revoked; zero while not revoked.
	RevokedAt time.Time

	// Revision is maintained by the store: it changes on every write.
	Revision uint64
}

// Active reports whether the token may be exchanged at now: neither used,
// revoked nor expired.
func (t *Token) Active(now time.Time) bool {
	return t.UsedAt.IsZero() && t.RevokedAt.IsZero() && now.Before(t.ExpiresAt)
}

// Clone returns a deep copy of t.
func (t *Token) Clone() *Token {
	c := *t
	c.Scope = slices.Clone(t.Scope)
	c.AMR = slices.Clone(t.AMR)
	return &c
}

func (t *Token) setRevision(rev uint64) { t.Revision = rev }

// keepKeys restores the keys of cur on t: an update cannot change them.
func (t *Token) keepKeys(cur *Token) { t.Hash, t.Family = cur.Hash, cur.Family }

// TokenStore keeps refresh tokens and the identifiers of revoked access
// tokens (RFC 7009). Implementations are safe for concurrent use.
type TokenStore interface {
	// CreateToken stores a new refresh token; ErrExists if its Hash is
	// taken, ErrFamilyRevoked if its Family was revoked.
	CreateToken(ctx context.Context, t *Token) error
	// GetToken returns a copy of the token; ErrNotFound if there is none.
	GetToken(ctx context.Context, hash string) (*Token, error)
	// UpdateToken applies fn to a copy of the token and stores the result
	// if the token did not change meanwhile (compare-and-swap), retrying
	// fn on a conflict. An error from fn aborts the update and is returned
	// unchanged, as is ErrNotFound. It returns the stored result.
	UpdateToken(ctx context.Context, hash string, fn func(*Token) error) (*Token, error)
	// RevokeFamily sets RevokedAt to at on every token of family not
	// revoked yet, and returns copies of the tokens it revoked. The store
	// remembers the family as revoked, so that CreateToken refuses new
	// tokens of it, at least until the family's tokens expired (the
	// latest ExpiresAt of its tokens, or at when it has none).
	RevokeFamily(ctx context.Context, family string, at time.Time) ([]*Token, error)
	// RevokeAccessToken records that the access token jti is revoked; the
	// record may be dropped once the token expired at expiresAt.
	RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time) error
	// AccessTokenRevoked reports whether the access token jti was revoked.
	AccessTokenRevoked(ctx context.Context, jti string) (bool, error)
	// DeleteExpiredTokens removes refresh tokens, revoked access token
	// records and revoked family records that expired before cutoff and
	// returns how many it removed.
	DeleteExpiredTokens(ctx context.Context, cutoff time.Time) (int, error)
}
