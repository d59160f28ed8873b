package store

import (
	"context"
	"errors"
	"sync"
	"time"
)

// TokenMemory is a TokenStore held in process memory: tokens do not survive
// a restart. The zero value is not usable; call NewTokenMemory.
type TokenMemory struct {
	mu      sync.Mutex
	tokens  table[Token, *Token]
	revoked map[string]time.Time // access token jti → its expiry
	// families are the revoked families → the latest expiry of their
	// tokens.
	families map[string]time.Time
}

// NewTokenMemory returns an empty in-memory token store.
func NewTokenMemory() *TokenMemory {
	return &TokenMemory{tokens: newTable[Token](), revoked: make(map[string]time.Time), families: make(map[string]time.Time)}
}

var _ TokenStore = (*TokenMemory)(nil)

// CreateToken implements TokenStore.
func (m *TokenMemory) CreateToken(ctx context.Context, t *Token) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t.Hash == "" || t.Family == "" {
		return errors.New("store: token without hash or family")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.families[t.Family]; ok {
		return ErrFamilyRevoked
	}
	return m.tokens.insert(t.Hash, t)
}

// GetToken implements TokenStore.
func (m *TokenMemory) GetToken(ctx context.Context, hash string) (*Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tokens.get(hash)
}

// UpdateToken implements TokenStore. The lock is held while fn runs, so a
// conflict never happens and fn runs once.
func (m *TokenMemory) UpdateToken(ctx context.Context, hash string, fn func(*Token) error) (*Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tokens.update(hash, fn)
}

// RevokeFamily implements TokenStore.
func (m *TokenMemory) RevokeFamily(ctx context.Context, family string, at time.Time) ([]*Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Token
	until := at
	for _, t := range m.tokens.rows {
		if t.Family != family {
			continue
		}
		if t.ExpiresAt.After(until) {
			until = t.ExpiresAt
		}
		if !t.RevokedAt.IsZero() {
			continue
		}
		m.tokens.rev++
		t.RevokedAt = at
		t.Revision = m.tokens.rev
		out = append(out, t.Clone())
	}
	if old, ok := m.families[family]; !ok || until.After(old) {
		m.families[family] = until
	}
	return out, nil
}

// RevokeAccessToken implements TokenStore.
func (m *TokenMemory) RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if jti == "" {
		return errors.New("store: access token without jti")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.revoked[jti]; !ok || expiresAt.After(old) {
		m.revoked[jti] = expiresAt
	}
	return nil
}

// AccessTokenRevoked implements TokenStore.
func (m *TokenMemory) AccessTokenRevoked(ctx context.Context, jti string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.revoked[jti]
	return ok, nil
}

// DeleteExpiredTokens implements TokenStore.
func (m *TokenMemory) DeleteExpiredTokens(ctx context.Context, cutoff time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for h, t := range m.tokens.rows {
		if t.ExpiresAt.Before(cutoff) {
			delete(m.tokens.rows, h)
			n++
		}
	}
	for jti, exp := range m.revoked {
		if exp.Before(cutoff) {
			delete(m.revoked, jti)
			n++
		}
	}
	for f, exp := range m.families {
		if exp.Before(cutoff) {
			delete(m.families, f)
			n++
		}
	}
	return n, nil
}
