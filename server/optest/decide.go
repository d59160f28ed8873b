package optest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/authzdetails"
	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/oauth"
)

// Pending is a backchannel authentication request the OP accepted and
// announced to the user's authentication device: what the device shows
// the user (CIBA Core 1.0 §8) and the auth_req_id to decide on.
type Pending struct {
	// AuthReqID is the request's auth_req_id (CIBA Core 1.0 §7.3).
	AuthReqID  string
	ClientID   string
	ClientName string
	User       string
	Scope      []string
	// BindingMessage is shown on both devices (CIBA Core 1.0 §7.1).
	BindingMessage string
	ACRValues      []string
	// AuthorizationDetails are the entries the client asks the user to
	// approve (RFC 9396 §2), as the device received them; nil for none.
	// AuthorizationDetails.Lines() says each in words, as a device shows
	// it. A policy may approve some only (Decision.ApprovedDetails).
	AuthorizationDetails authzdetails.Details
	// CreatedAt and ExpiresAt are on the OP's clock, to the second.
	CreatedAt, ExpiresAt time.Time
}

// Verdict is what a policy's device answers.
type Verdict int

// The verdicts of a Decision.
const (
	// Unanswered leaves the request pending, as a user who ignores the
	// device: WaitPending returns it, and the test may decide it or let
	// it expire.
	Unanswered Verdict = iota
	// Approved approves the request (the token endpoint then issues tokens).
	Approved
	// Denied denies it (the token endpoint then answers access_denied).
	Denied
)

// Decision is a policy's answer to a request.
type Decision struct {
	Verdict Verdict
	// Delay is how long the device waits, in real time, before sending
	// an Approved or Denied verdict: a user who answers late. It does not
	// move the OP's clock.
	Delay time.Duration
	// ApprovedDetails, with Approved, are the indexes (from 0) of the
	// authorization_details entries approved; nil approves them all. The
	// tokens then carry only those (cibalab's partial approval).
	ApprovedDetails []int
}

// WaitPending returns the next request announced to a device of this
// server that no policy answered and that was not decided yet (a request
// decided by Approve or Deny before anyone waited for it is skipped). It
// waits until one arrives or ctx ends.
func (s *Server) WaitPending(ctx context.Context) (Pending, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			p := s.queue[0]
			s.queue = s.queue[1:]
			s.mu.Unlock()
			return p, nil
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return Pending{}, fmt.Errorf("optest: no pending request: %w", ctx.Err())
		case <-s.ctx.Done():
			return Pending{}, errClosed
		case <-changed:
		}
	}
}

// Approve approves the request authReqID through its user's
// authentication device: the device signs the decision with its key and
// sends it over NATS (CIBA Core 1.0 §8), and Approve returns once the OP
// accepted it. The OP's refusal (the request expired, was already decided
// or redeemed) is a *RefusedError. The request need not have been
// returned by WaitPending.
func (s *Server) Approve(ctx context.Context, authReqID string) error {
	return s.decide(ctx, authReqID, true, nil)
}

// ApproveOnly approves, like Approve, only the authorization_details
// entries of the request at indexes (from 0, in the order of
// Pending.AuthorizationDetails): the indexes are signed into the device's
// decision, and the tokens carry only those entries (RFC 9396 §7). An
// index the request does not have is refused by the OP (a *RefusedError
// with bad_message); approving none is denying: use Deny.
func (s *Server) ApproveOnly(ctx context.Context, authReqID string, indexes ...int) error {
	if len(indexes) == 0 {
		return errors.New("optest: ApproveOnly needs at least one index; use Deny to approve none")
	}
	return s.decide(ctx, authReqID, true, indexes)
}

// Deny denies the request authReqID like Approve approves it.
func (s *Server) Deny(ctx context.Context, authReqID string) error {
	return s.decide(ctx, authReqID, false, nil)
}

func (s *Server) decide(ctx context.Context, authReqID string, approve bool, approved []int) error {
	req, err := s.store.Get(ctx, authReqID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("optest: no request with auth_req_id %s", oauth.ReqRef(authReqID))
	}
	if err != nil {
		return fmt.Errorf("optest: %w", err)
	}
	s.mu.Lock()
	d := s.devices[req.User]
	s.mu.Unlock()
	if d == nil {
		return fmt.Errorf("optest: user %s has no device (add users with AddUser)", req.User)
	}
	if err := d.Decide(ctx, authReqID, approve, approved); err != nil {
		var refused *RefusedError
		if errors.As(err, &refused) {
			return err
		}
		return fmt.Errorf("optest: %w", err)
	}
	s.mu.Lock()
	s.decided[authReqID] = approve
	s.queue = slices.DeleteFunc(s.queue, func(p Pending) bool { return p.AuthReqID == authReqID })
	s.broadcastLocked()
	s.mu.Unlock()
	return nil
}

// WaitDecided waits until a decision on authReqID sent by a device of this
// server (by Approve, Deny or a policy) was accepted by the OP, and
// reports whether it approved. Use it with a policy to know when to poll.
func (s *Server) WaitDecided(ctx context.Context, authReqID string) (approved bool, err error) {
	for {
		s.mu.Lock()
		approved, ok := s.decided[authReqID]
		changed := s.changed
		s.mu.Unlock()
		if ok {
			return approved, nil
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("optest: request %s not decided: %w", oauth.ReqRef(authReqID), ctx.Err())
		case <-s.ctx.Done():
			return false, errClosed
		case <-changed:
		}
	}
}

// announced receives every request a device heard of, from an
// announcement or a pending list, and hands it to the policy or to
// WaitPending, once.
func (s *Server) announced(r channel.AuthRequest) {
	s.mu.Lock()
	_, decided := s.decided[r.AuthReqID]
	if s.seen[r.AuthReqID] || decided || s.closed {
		s.mu.Unlock()
		return
	}
	s.seen[r.AuthReqID] = true
	p := pendingFrom(r)
	if s.opts.policy == nil {
		s.queue = append(s.queue, p)
		s.broadcastLocked()
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		s.applyPolicy(p)
	}()
}

// applyPolicy asks the policy and carries out its decision.
func (s *Server) applyPolicy(p Pending) {
	dec := s.opts.policy(p)
	if dec.Verdict == Unanswered {
		s.mu.Lock()
		if _, decided := s.decided[p.AuthReqID]; !decided {
			s.queue = append(s.queue, p)
			s.broadcastLocked()
		}
		s.mu.Unlock()
		return
	}
	if dec.Delay > 0 {
		t := time.NewTimer(dec.Delay)
		defer t.Stop()
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
	var approved []int
	if dec.Verdict == Approved {
		approved = dec.ApprovedDetails
	}
	err := s.decide(s.ctx, p.AuthReqID, dec.Verdict == Approved, approved)
	if err != nil && s.ctx.Err() == nil {
		s.note("optest.policy_decision_refused", oauth.LogAttrReq, oauth.ReqRef(p.AuthReqID), "client_id", p.ClientID, "err", err.Error())
	}
}
