package op

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/oauth"
)

// faultyTokens wraps a TokenStore: beforeCreate runs before each
// CreateToken (it may race a replay in), and fail makes CreateToken fail.
type faultyTokens struct {
	store.TokenStore
	mu           sync.Mutex
	fail         bool
	beforeCreate func(*store.Token)
	created      []*store.Token // every token CreateToken was given
}

func (ft *faultyTokens) CreateToken(ctx context.Context, t *store.Token) error {
	ft.mu.Lock()
	ft.created = append(ft.created, t.Clone())
	fail, hook := ft.fail, ft.beforeCreate
	ft.beforeCreate = nil // once
	ft.mu.Unlock()
	if hook != nil {
		hook(t)
	}
	if fail {
		return errors.New("disk full")
	}
	return ft.TokenStore.CreateToken(ctx, t)
}

func (ft *faultyTokens) setFail(b bool) { ft.mu.Lock(); ft.fail = b; ft.mu.Unlock() }

func (ft *faultyTokens) last() *store.Token {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return ft.created[len(ft.created)-1]
}

// withFaultyTokens puts a faultyTokens in front of the provider's store.
func (f *fixture) withFaultyTokens() *faultyTokens {
	ft := &faultyTokens{TokenStore: f.p.cfg.Tokens}
	f.p.cfg.Tokens = ft
	return ft
}

// TestRefreshRaceWithReplay: a replay that revokes the family between the
// winner's compare-and-swap and the storing of its rotated token must not
// leave the rotated tokens valid (OAuth 2.0 Security BCP §4.14.2): the
// winner gets invalid_grant and its new access token is revoked.
func TestRefreshRaceWithReplay(t *testing.T) {
	f := newFixture(t)
	f.allowRefresh("client1")
	ft := f.withFaultyTokens()
	rt := f.tokensFor(t, "client1", nil).str("refresh_token")
	var replay response
	ft.beforeCreate = func(*store.Token) {
		// The old token is spent by now: this is the replay.
		replay = f.refresh(t, "client1", "client1", rt, nil)
	}
	r := f.refresh(t, "client1", "client1", rt, nil)
	wantError(t, replay, http.StatusBadRequest, oauth.ErrInvalidGrant)
	wantError(t, r, http.StatusBadRequest, oauth.ErrInvalidGrant)
	ctx := context.Background()
	newTok := ft.last()
	if revoked, err := f.p.cfg.Tokens.AccessTokenRevoked(ctx, newTok.AccessTokenID); err != nil || !revoked {
		t.Fatalf("the racing exchange's access token is not revoked: %v %v", revoked, err)
	}
	if _, err := f.p.cfg.Tokens.GetToken(ctx, newTok.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a token of the revoked family was stored: %v", err)
	}
}

// TestMintFailureSpendsNothing: when the tokens cannot be issued after the
// compare-and-swap spent the auth_req_id or the refresh token, the state
// is given back and the client's retry succeeds.
func TestMintFailureSpendsNothing(t *testing.T) {
	tests := []struct {
		name string
		// run makes the failing call and returns a retry.
		run func(t *testing.T, f *fixture, ft *faultyTokens) (failed response, retry func() response)
	}{
		{"poll with a failing token store", func(t *testing.T, f *fixture, ft *faultyTokens) (response, func() response) {
			id := f.start(t, nil)
			f.decide(t, id, true)
			ft.setFail(true)
			r := f.poll(t, "client1", id)
			ft.setFail(false)
			if req := f.request(t, id); req.Status != store.StatusApproved || !req.RedeemedAt.IsZero() {
				t.Errorf("request after the failure: %s, redeemed %v", req.Status, req.RedeemedAt)
			}
			return r, func() response { return f.poll(t, "client1", id) }
		}},
		{"refresh with a failing token store", func(t *testing.T, f *fixture, ft *faultyTokens) (response, func() response) {
			rt := f.tokensFor(t, "client1", nil).str("refresh_token")
			ft.setFail(true)
			r := f.refresh(t, "client1", "client1", rt, nil)
			ft.setFail(false)
			if tok, err := f.p.cfg.Tokens.GetToken(context.Background(), tokenHash(rt)); err != nil || !tok.Active(f.clock.Now()) {
				t.Errorf("refresh token after the failure: %+v %v", tok, err)
			}
			return r, func() response { return f.refresh(t, "client1", "client1", rt, nil) }
		}},
		{"refresh for a client the OP cannot sign for", func(t *testing.T, f *fixture, ft *faultyTokens) (response, func() response) {
			rt := f.tokensFor(t, "client1", nil).str("refresh_token")
			f.reg.clients["client1"].IDTokenSignedResponseAlg = "HS256"
			r := f.refresh(t, "client1", "client1", rt, nil)
			f.reg.clients["client1"].IDTokenSignedResponseAlg = ""
			return r, func() response { return f.refresh(t, "client1", "client1", rt, nil) }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.allowRefresh("client1")
			ft := f.withFaultyTokens()
			failed, retry := tt.run(t, f, ft)
			wantError(t, failed, http.StatusInternalServerError, oauth.ErrServerError)
			if r := retry(); r.status != http.StatusOK || r.str("access_token") == "" {
				t.Fatalf("retry after the failure: %d %s", r.status, r.raw)
			}
		})
	}
}
