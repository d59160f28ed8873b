package device

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/oauth"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"
)

// ErrNotDelivered reports a decision the OP did not answer before it
// lapsed (its exp plus channel.DecisionLeeway): the OP refuses it from
// then on, so it was not applied and never will be. The request stays
// pending at the OP until someone decides it or it expires.
var ErrNotDelivered = errors.New("device: the OP did not answer before the decision lapsed: it was not applied")

// Bounds of the wait between two attempts to send a decision.
const (
	minDecideBackoff = 100 * time.Millisecond
	maxDecideBackoff = 2 * time.Second
)

// DecideOption adjusts one call of [Device.Decide].
type DecideOption func(*decideOptions)

type decideOptions struct {
	approved []int
	onRetry  func(reason error, lapsesAt time.Time)
	turn     <-chan struct{}
	sent     func()
}

// InTurn orders the decisions of several goroutines: Decide sends its
// decision the first time only once turn is closed (say, once the
// previous decision was sent), and calls sent as soon as that first
// attempt is on the wire, or when Decide returns without sending it, so
// that the next decision never waits for an answer, only for its turn.
// The OP answers a device's decisions in the order they come, so that
// decisions sent in turn are applied in turn, while their answers are
// awaited together. Retries are not ordered.
func InTurn(turn <-chan struct{}, sent func()) DecideOption {
	return func(o *decideOptions) { o.turn, o.sent = turn, sent }
}

// ApproveOnly makes an approval grant only the authorization_details
// entries of the request at indexes (from 0, the order of
// channel.AuthRequest.AuthorizationDetails); they are signed into the
// decision (channel.DecisionClaims.ApprovedDetails). Without it an
// approval grants every entry. An empty list approves none: send a deny
// instead (RFC 9396 partial approval, as cibalab reads it).
func ApproveOnly(indexes []int) DecideOption {
	return func(o *decideOptions) { o.approved = append([]int{}, indexes...) }
}

// OnRetry has Decide call f, from the calling goroutine, each time it is
// about to try again: reason says why (no answer yet, not connected, no
// OP listening, rate limited), lapsesAt when it gives up.
func OnRetry(f func(reason error, lapsesAt time.Time)) DecideOption {
	return func(o *decideOptions) { o.onRetry = f }
}

// Decide sends the user's verdict (channel.VerdictApprove or
// channel.VerdictDeny) on the request authReqID (channel protocol step 3).
// acr (may be empty) and amr (RFC 8176 values, e.g. "pin", "swk") say how
// the user was authenticated on the device. It returns nil once the OP
// accepted the decision, and a [*RefusedError] when the OP refused it.
//
// The decision is signed once and, until the OP answers, sent again as
// the very same JWT, which the OP answers as it did the first time
// (idempotent): after a request/reply that timed out, while NATS is
// reconnecting (nothing is buffered meanwhile: a decision is either on
// the wire or not sent), while no OP listens, or when the OP says
// rate_limited. It gives up only once the decision has lapsed (its exp
// plus channel.DecisionLeeway), when the OP refuses it anyway, and
// returns [ErrNotDelivered]: a decision reported as failed is never
// applied later. When ctx ends first, its error is returned and the
// outcome is unknown until the decision lapses.
func (d *Device) Decide(ctx context.Context, authReqID, verdict, acr string, amr []string, opts ...DecideOption) error {
	var o decideOptions
	for _, opt := range opts {
		opt(&o)
	}
	published := func() {}
	if o.sent != nil {
		var once sync.Once
		published = func() { once.Do(o.sent) }
		defer published()
	}
	if authReqID == "" {
		return errors.New("device: decide: empty auth_req_id")
	}
	if verdict != channel.VerdictApprove && verdict != channel.VerdictDeny {
		return fmt.Errorf("device: decide: verdict %q is neither approve nor deny", verdict)
	}
	if o.approved != nil && (verdict != channel.VerdictApprove || len(o.approved) == 0) {
		return errors.New("device: decide: ApproveOnly needs an approval of at least one entry")
	}
	ref := oauth.ReqRef(authReqID)
	token, exp, err := d.signDecision(authReqID, verdict, acr, amr, o.approved)
	if err != nil {
		return err
	}
	data, err := json.Marshal(channel.Decision{Version: channel.Version, JWT: token})
	if err != nil {
		return fmt.Errorf("device: decide: %w", err)
	}
	lapses := exp.Add(channel.DecisionLeeway)
	var backoff time.Duration
	var last error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			backoff = min(max(2*backoff, minDecideBackoff), maxDecideBackoff)
			if o.onRetry != nil {
				o.onRetry(last, lapses)
			}
			d.log.Info("decision.retrying", oauth.LogAttrReq, ref, "reason", last, "in", backoff)
			if err := d.sleep(ctx, backoff, lapses); err != nil {
				return err
			}
		}
		left := lapses.Sub(d.cfg.Now())
		if left <= 0 {
			d.log.Warn("decision.lapsed", oauth.LogAttrReq, ref, "verdict", verdict, "last", last, "detail", "no answer from the OP")
			return fmt.Errorf("%w (%v)", ErrNotDelivered, last)
		}
		if attempt == 0 && o.turn != nil {
			select {
			case <-o.turn:
			case <-ctx.Done():
				return fmt.Errorf("device: decide: %w", ctx.Err())
			}
		}
		if !d.nc.IsConnected() {
			last = errors.New("not connected to NATS")
			published()
			continue
		}
		var res channel.DecisionResult
		if attempt == 0 && o.sent != nil {
			res, err = d.sendDecisionInTurn(ctx, data, min(d.cfg.RequestTimeout, left), published)
		} else {
			res, err = d.sendDecision(ctx, data, min(d.cfg.RequestTimeout, left))
		}
		published()
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("device: decide: %w", ctx.Err())
		case err != nil:
			last = err
			continue
		case res.Error == channel.ErrRateLimited:
			last = &RefusedError{Code: res.Error, Description: res.ErrorDescription}
			continue
		case res.Error != "":
			// Info: the caller reports refusals to the person.
			d.log.Info("decision.refused", oauth.LogAttrReq, ref, "verdict", verdict, "error", res.Error)
			return &RefusedError{Code: res.Error, Description: res.ErrorDescription}
		case !res.Accepted:
			return errors.New("device: decide: reply neither accepts nor refuses")
		}
		d.log.Info("decision.accepted", oauth.LogAttrReq, ref, "verdict", verdict, "attempts", attempt+1)
		return nil
	}
}

// sendDecision makes one request/reply on the decide subject within
// timeout. A reply that is not JSON is an error.
func (d *Device) sendDecision(ctx context.Context, data []byte, timeout time.Duration) (channel.DecisionResult, error) {
	var res channel.DecisionResult
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	msg, err := d.nc.RequestWithContext(ctx, d.decideSubject, data)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return res, errors.New("no OP answers")
	case errors.Is(err, context.DeadlineExceeded):
		return res, errors.New("no answer yet")
	case errors.Is(err, nats.ErrReconnectBufExceeded), errors.Is(err, nats.ErrConnectionReconnecting):
		return res, errors.New("not connected to NATS: not sent")
	case err != nil:
		return res, err
	}
	return decisionReply(msg.Data)
}

// sendDecisionInTurn is sendDecision that calls published once the
// request is on the wire, before it waits for the answer.
func (d *Device) sendDecisionInTurn(ctx context.Context, data []byte, timeout time.Duration, published func()) (channel.DecisionResult, error) {
	var res channel.DecisionResult
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// One reply is expected: a channel of one (SubscribeSync would
	// allocate a 64k-message queue for each decision).
	replies := make(chan *nats.Msg, 1)
	sub, err := d.nc.ChanSubscribe(d.nc.NewInbox(), replies)
	if err != nil {
		return res, errors.New("not connected to NATS: not sent")
	}
	defer sub.Unsubscribe()
	if err := d.nc.PublishRequest(d.decideSubject, sub.Subject, data); err != nil {
		return res, errors.New("not connected to NATS: not sent")
	}
	published()
	var msg *nats.Msg
	select {
	case msg = <-replies:
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return res, errors.New("no answer yet")
		}
		return res, ctx.Err()
	}
	if len(msg.Data) == 0 && msg.Header.Get("Status") == "503" {
		return res, errors.New("no OP answers")
	}
	return decisionReply(msg.Data)
}

// decisionReply decodes the OP's answer to a decision.
func decisionReply(data []byte) (channel.DecisionResult, error) {
	var res channel.DecisionResult
	if len(data) > maxMessage {
		return res, errors.New("reply too large")
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return res, fmt.Errorf("malformed reply: %w", err)
	}
	return res, nil
}

// sleep waits for wait, but not past until, honouring ctx.
func (d *Device) sleep(ctx context.Context, wait time.Duration, until time.Time) error {
	if left := until.Sub(d.cfg.Now()); left < wait {
		wait = max(left, 0)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("device: decide: %w", ctx.Err())
	case <-t.C:
		return nil
	}
}

// signDecision builds and signs the decision JWT of the channel protocol:
// channel.DecisionClaims with the device id, a random 128-bit jti, iat now
// and exp Config.DecisionLifetime later, signed with the device key. It
// returns the JWT and its exp.
func (d *Device) signDecision(authReqID, verdict, acr string, amr []string, approved []int) (string, time.Time, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", time.Time{}, fmt.Errorf("device: decide: %w", err)
	}
	now := d.cfg.Now()
	exp := now.Add(d.cfg.DecisionLifetime)
	claims := channel.DecisionClaims{
		AuthReqID: authReqID,
		Verdict:   verdict,
		DeviceID:  d.cfg.Credentials.DeviceID,
		ACR:       acr,
		AMR:       amr,
		// The authorization_details entries approved, signed with the
		// verdict; nil approves all.
		ApprovedDetails: approved,
		RegisteredClaims: jwt.RegisteredClaims{
			ID:        base64.RawURLEncoding.EncodeToString(jti[:]),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	}
	token, err := d.cfg.Credentials.Key.Sign(&claims)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("device: decide: %w", err)
	}
	// jwt.NumericDate has whole seconds: the OP reads exp so.
	return token, claims.ExpiresAt.Time, nil
}
