package natskv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cibalab/cibalab/server/store"
)

// Key prefixes of the tokens bucket.
const (
	tokenPrefix  = "t."
	familyPrefix = "f."
	accessPrefix = "a."
)

// family is the record of one refresh-token family: the hashes of its
// tokens, the latest expiry among them, and when it was revoked.
type family struct {
	Hashes    []string
	Until     time.Time
	RevokedAt time.Time `json:",omitzero"`
}

// revokedAccess is the record of a revoked access token.
type revokedAccess struct {
	ExpiresAt time.Time
}

// Tokens is a store.TokenStore on a NATS JetStream key-value bucket, so
// that every OP replica sharing the bucket knows the refresh tokens the
// others issued and spends each at most once. Keys: "t.<hash>" the token,
// "f.<family>" its family record, "a.<jti>" a revoked access token.
//
// Every write is a compare-and-swap on the key's revision. A token is
// stored first and then added to its family record; a revocation marks
// the family record and then revokes the tokens it lists. Both orders
// meet at the family record, so a rotation racing with a replay either is
// listed and revoked, or finds the family revoked and revokes its own
// token (ErrFamilyRevoked), as store.TokenMemory does under its lock.
type Tokens struct {
	kv         jetstream.KeyValue
	maxRetries int
	log        *slog.Logger
}

// NewTokens creates the tokens bucket of cfg ("cibalab_tokens_<Realm>"
// unless cfg.Bucket is set), or binds to it when it exists.
func NewTokens(ctx context.Context, js jetstream.JetStream, cfg Config) (*Tokens, error) {
	cfg = cfg.withDefaults("tokens")
	cfg.TTL = 0 // only the lockout bucket has a TTL
	kv, err := openBucket(ctx, js, cfg, "refresh tokens and revoked access tokens")
	if err != nil {
		return nil, err
	}
	return &Tokens{kv: kv, maxRetries: cfg.MaxRetries, log: cfg.Logger}, nil
}

var _ store.TokenStore = (*Tokens)(nil)

// CreateToken implements store.TokenStore.
func (s *Tokens) CreateToken(ctx context.Context, t *store.Token) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t.Hash == "" || t.Family == "" {
		return errors.New("store: token without hash or family")
	}
	// A known revoked family refuses at once, before anything is written.
	var f family
	if _, err := getJSON(ctx, s.kv, familyPrefix+kvKey(t.Family), &f); err == nil && !f.RevokedAt.IsZero() {
		return store.ErrFamilyRevoked
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	c := t.Clone()
	c.Revision = 0
	if _, ok, err := casJSON(ctx, s.kv, tokenPrefix+kvKey(t.Hash), 0, c); err != nil {
		return err
	} else if !ok {
		return store.ErrExists
	}
	err := s.updateFamily(ctx, t.Family, func(f *family) error {
		if !f.RevokedAt.IsZero() {
			return store.ErrFamilyRevoked
		}
		if !slices.Contains(f.Hashes, t.Hash) {
			f.Hashes = append(f.Hashes, t.Hash)
		}
		if t.ExpiresAt.After(f.Until) {
			f.Until = t.ExpiresAt
		}
		return nil
	})
	if err != nil {
		// Revoked meanwhile, or not recorded: the token must not stay.
		if e := s.kv.Purge(context.WithoutCancel(ctx), tokenPrefix+kvKey(t.Hash)); e != nil {
			s.log.Error("store.token_purge_failed", "err", e)
		}
		return err
	}
	return nil
}

// updateFamily applies fn to the family record (an empty one when there
// is none) and writes it by compare-and-swap, retrying on a conflict.
func (s *Tokens) updateFamily(ctx context.Context, fam string, fn func(*family) error) error {
	key := familyPrefix + kvKey(fam)
	for range s.maxRetries {
		if err := ctx.Err(); err != nil {
			return err
		}
		var f family
		rev, err := getJSON(ctx, s.kv, key, &f)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := fn(&f); err != nil {
			return err
		}
		if _, ok, err := casJSON(ctx, s.kv, key, rev, &f); err != nil {
			return err
		} else if ok {
			return nil
		}
	}
	return fmt.Errorf("natskv: token family: still conflicting after %d attempts", s.maxRetries)
}

// GetToken implements store.TokenStore.
func (s *Tokens) GetToken(ctx context.Context, hash string) (*store.Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var t store.Token
	rev, err := getJSON(ctx, s.kv, tokenPrefix+kvKey(hash), &t)
	if err != nil {
		return nil, err
	}
	t.Revision = rev
	return &t, nil
}

// UpdateToken implements store.TokenStore: read, apply fn, write at the
// revision read, again on a conflict, at most MaxRetries times.
func (s *Tokens) UpdateToken(ctx context.Context, hash string, fn func(*store.Token) error) (*store.Token, error) {
	key := tokenPrefix + kvKey(hash)
	for range s.maxRetries {
		cur, err := s.GetToken(ctx, hash)
		if err != nil {
			return nil, err
		}
		next := cur.Clone()
		if err := fn(next); err != nil {
			return nil, err
		}
		next.Hash, next.Family, next.Revision = cur.Hash, cur.Family, 0
		rev, ok, err := casJSON(ctx, s.kv, key, cur.Revision, next)
		if err != nil {
			return nil, err
		}
		if ok {
			next.Revision = rev
			return next, nil
		}
	}
	s.log.Warn("store.update_contention", "attempts", s.maxRetries, "detail", "the token update gave up")
	return nil, fmt.Errorf("natskv: update token: still conflicting after %d attempts", s.maxRetries)
}

// RevokeFamily implements store.TokenStore.
func (s *Tokens) RevokeFamily(ctx context.Context, fam string, at time.Time) ([]*store.Token, error) {
	var hashes []string
	err := s.updateFamily(ctx, fam, func(f *family) error {
		if f.RevokedAt.IsZero() {
			f.RevokedAt = at
		}
		if at.After(f.Until) {
			f.Until = at
		}
		hashes = slices.Clone(f.Hashes)
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []*store.Token
	for _, h := range hashes {
		revoked := false
		t, err := s.UpdateToken(ctx, h, func(t *store.Token) error {
			if !t.RevokedAt.IsZero() {
				revoked = false
				return nil
			}
			t.RevokedAt, revoked = at, true
			return nil
		})
		if errors.Is(err, store.ErrNotFound) {
			continue // expired and removed, or refused
		}
		if err != nil {
			return out, err
		}
		if revoked {
			out = append(out, t)
		}
	}
	return out, nil
}

// RevokeAccessToken implements store.TokenStore.
func (s *Tokens) RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if jti == "" {
		return errors.New("store: access token without jti")
	}
	key := accessPrefix + kvKey(jti)
	for range s.maxRetries {
		var r revokedAccess
		rev, err := getJSON(ctx, s.kv, key, &r)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if rev != 0 && !expiresAt.After(r.ExpiresAt) {
			return nil
		}
		if _, ok, err := casJSON(ctx, s.kv, key, rev, revokedAccess{ExpiresAt: expiresAt}); err != nil || ok {
			return err
		}
	}
	return fmt.Errorf("natskv: revoke access token: still conflicting after %d attempts", s.maxRetries)
}

// AccessTokenRevoked implements store.TokenStore.
func (s *Tokens) AccessTokenRevoked(ctx context.Context, jti string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	var r revokedAccess
	_, err := getJSON(ctx, s.kv, accessPrefix+kvKey(jti), &r)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// DeleteExpiredTokens implements store.TokenStore. It reads every key,
// purges (leaving no history) the records expired before cutoff at the
// revision read, and then drops old purge markers. The records of
// families never revoked are removed with their last token and not
// counted.
func (s *Tokens) DeleteExpiredTokens(ctx context.Context, cutoff time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	keys, err := listKeys(ctx, s.kv)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		var (
			expires time.Time
			counted = true
			rev     uint64
		)
		switch {
		case strings.HasPrefix(k, tokenPrefix):
			var t store.Token
			rev, err = getJSON(ctx, s.kv, k, &t)
			expires = t.ExpiresAt
		case strings.HasPrefix(k, familyPrefix):
			var f family
			rev, err = getJSON(ctx, s.kv, k, &f)
			expires, counted = f.Until, !f.RevokedAt.IsZero()
		case strings.HasPrefix(k, accessPrefix):
			var r revokedAccess
			rev, err = getJSON(ctx, s.kv, k, &r)
			expires = r.ExpiresAt
		default:
			continue
		}
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		if !expires.Before(cutoff) {
			continue
		}
		ok, err := purgeAt(ctx, s.kv, k, rev)
		if err != nil {
			return n, err
		}
		if ok && counted {
			n++
		}
	}
	return n, purgeMarkers(ctx, s.kv)
}
