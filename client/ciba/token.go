package ciba

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cibalab/cibalab/shared/authzdetails"
	"github.com/cibalab/cibalab/shared/oauth"
)

// Token is a successful token response (RFC 6749 §5.1,
// CIBA Core 1.0 §10.1.1).
type Token struct {
	oauth.TokenResponse
	// Raw is the whole JSON object, unknown members included; numbers are
	// json.Number so that re-encoding keeps them exact.
	Raw map[string]any
	// ReceivedAt is when the response arrived, by Config.Now.
	ReceivedAt time.Time
	// IDTokenClaims are the checked claims of IDToken; nil when there is
	// no ID token or Config.InsecureSkipIDTokenValidation is set.
	IDTokenClaims *IDToken
}

// GrantedDetails returns the authorization_details the user granted
// (RFC 9396 §7): the entries of the request the user approved, which may
// be fewer than were asked; nil when the response has none. An agent
// should go on only when they are what it needs (authzdetails.Equal).
func (t *Token) GrantedDetails() (authzdetails.Details, error) {
	if len(t.AuthorizationDetails) == 0 {
		return nil, nil
	}
	ds, err := authzdetails.Parse(t.AuthorizationDetails)
	if err != nil {
		return nil, fmt.Errorf("ciba: token response: %w", err)
	}
	return ds, nil
}

// Progress describes the poll loop before each wait, for a caller that
// shows a countdown.
type Progress struct {
	// Polls is the number of token requests sent so far.
	Polls int
	// Interval is the current polling interval (raised by each slow_down).
	Interval time.Duration
	// SecondsLeft is the time left before the request expires, rounded up.
	SecondsLeft int
	// LastError is the error code of the last poll: authorization_pending,
	// slow_down or temporarily_unavailable; "" before the first poll.
	LastError string
	// Wait is how long the loop waits before the next poll (push mode:
	// before the request expires).
	Wait time.Duration
	// Notifications counts the pings (ping mode) for this request received
	// so far; only the first one skips the interval.
	Notifications int
}

// Wait waits for the user's answer to the request of ack, in the
// delivery mode of the Config (CIBA Core 1.0 §5).
//
// Poll mode polls the token endpoint with the CIBA grant (§10.1),
// following §7.3 and §11:
//
//   - it waits ack.Interval before the first poll and never sends two polls
//     closer than the interval, measured between send times; there is never
//     more than one request in flight;
//   - authorization_pending continues; slow_down raises the interval by 5 s
//     for good; a 503 with temporarily_unavailable or without an OAuth JSON
//     error body waits for its Retry-After, and at least the interval (a
//     503 carrying any other error code ends the loop with that error);
//   - every other error ends the loop: an *oauth.Error from the provider
//     (access_denied, expired_token, invalid_grant, invalid_request,
//     unauthorized_client, invalid_client, ...), a *ResponseError for a
//     malformed answer, or a transport error;
//   - once ack.ExpiresIn seconds have passed since ack.ReceivedAt it stops
//     with ErrExpired, and it stops with ctx.Err() when ctx is done.
//
// Ping mode (§10.2) runs the same loop, but the first ping for ack's
// request ends the current wait: the token endpoint is asked at once, the
// interval does not apply to that one request, and the ping itself is only
// a hint (the token response is the result). A ping naming another
// auth_req_id is logged and ignored, and later pings for the request do not
// shorten the interval again, so a flood of pings never makes the client
// poll faster than the interval.
//
// Push mode (§10.3) never polls: it waits for the pushed token response,
// whose ID token must carry at_hash, the auth_req_id claim and, with a
// refresh token, rt_hash (§10.3.1), or for a pushed error (§12: an
// *oauth.Error with Status 0), until the request expires and PushGrace
// more for a pushed expired_token; then it stops with ErrNoPush, which
// does not claim that nobody answered.
//
// progress, when not nil, is called before each wait, and in ping mode
// once more when the first ping ends a wait. A token response
// must carry an access_token and token_type Bearer (case-insensitive), and
// its ID token must pass the checks of [IDTokenValidator.Validate] (an
// *IDTokenError otherwise).
func (c *Config) Wait(ctx context.Context, ack *Ack, progress func(Progress)) (*Token, error) {
	if ack == nil || ack.AuthReqID == "" || ack.ExpiresIn <= 0 {
		return nil, errors.New("ciba: Wait needs the acknowledgement returned by Start")
	}
	if err := c.checkClient(); err != nil {
		return nil, err
	}
	var sub *subscription
	if c.mode() != oauth.ModePoll {
		if ack.NotificationToken != "" {
			sub, _ = c.Notifications.lookup(ack.NotificationToken)
		}
		if sub == nil {
			if ack.NotificationToken != "" && !c.now().Before(ack.ReceivedAt.Add(time.Duration(ack.ExpiresIn)*time.Second)) {
				return nil, ErrExpired
			}
			return nil, fmt.Errorf("ciba: Wait in %s mode needs the acknowledgement of a %s-mode Start, neither cancelled nor expired", c.mode(), c.mode())
		}
		defer c.Notifications.forget(ack.NotificationToken)
	}
	if c.mode() == oauth.ModePush {
		return c.waitPush(ctx, ack, sub, progress)
	}
	if c.TokenURL == "" {
		return nil, errors.New("ciba: no token endpoint (set TokenURL or call Discover)")
	}
	log := c.logger().With(oauth.LogAttrReq, oauth.ReqRef(ack.AuthReqID))
	p := newPoller(ack)
	for {
		now := c.now()
		next := p.lastSent.Add(p.wait)
		if progress != nil {
			progress(Progress{Polls: p.polls, Interval: p.interval, SecondsLeft: secondsUntil(p.deadline, now),
				LastError: p.lastError, Wait: max(0, next.Sub(now)), Notifications: p.pings})
		}
		d := next.Sub(now)
		late := !next.Before(p.deadline)
		if late {
			// The next poll would come too late: wait out the lifetime
			// (a ping may still end it) and stop.
			d = p.deadline.Sub(now)
		}
		pinged, err := c.waitPoll(ctx, log, ack, sub, p, now.Add(d))
		if err != nil {
			return nil, err
		}
		if pinged {
			if progress != nil {
				now := c.now()
				progress(Progress{Polls: p.polls, Interval: p.interval, SecondsLeft: secondsUntil(p.deadline, now),
					LastError: p.lastError, Notifications: p.pings})
			}
		} else if late {
			log.DebugContext(ctx, "ciba.expired", "polls", p.polls)
			return nil, ErrExpired
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p.lastSent = c.now()
		if !p.lastSent.Before(p.deadline) {
			return nil, ErrExpired
		}
		p.polls++
		tok, err := c.redeem(ctx, ack.AuthReqID)
		if err == nil {
			if err := c.checkIDToken(ctx, tok, Expect{AuthReqID: ack.AuthReqID, AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken}); err != nil {
				log.WarnContext(ctx, "ciba.id_token_rejected", "error", err)
				return nil, err
			}
			log.InfoContext(ctx, "ciba.token", "polls", p.polls, "token_type", tok.TokenType)
			return tok, nil
		}
		if !p.again(err) {
			log.DebugContext(ctx, "ciba.poll_stopped", "polls", p.polls, "error", errorCode(err))
			return nil, err
		}
		log.DebugContext(ctx, "ciba.poll", "polls", p.polls, "error", p.lastError, "interval", p.interval)
	}
}

// waitPoll waits until until, or in ping mode until the first ping for
// ack's request (CIBA Core 1.0 §10.2), and reports whether that ping ended
// the wait. A ping naming another auth_req_id is ignored, and so is every
// later ping for this request: only the first one may skip the interval,
// so that pings never make the client poll faster than the interval
// (CIBA Core 1.0 §7.3).
func (c *Config) waitPoll(ctx context.Context, log *slog.Logger, ack *Ack, sub *subscription, p *poller, until time.Time) (bool, error) {
	for {
		n, err := c.waitNotified(ctx, until.Sub(c.now()), sub)
		if err != nil || n == nil {
			return false, err
		}
		switch {
		case n.AuthReqID != ack.AuthReqID:
			log.WarnContext(ctx, "ciba.ping_for_another_request", "pinged_"+oauth.LogAttrReq, oauth.ReqRef(n.AuthReqID))
		case p.pings > 0:
			p.pings++
			log.DebugContext(ctx, "ciba.ping_repeated", "pings", p.pings)
		default:
			p.pings++
			log.DebugContext(ctx, "ciba.ping")
			return true, nil
		}
	}
}

// PushGrace is how long push mode keeps waiting after the request's
// lifetime (expires_in) for the expired_token push of CIBA Core 1.0 §12,
// which a provider sends when it notices the expiry (cibalab's within a
// second).
const PushGrace = 3 * time.Second

// waitPush waits for the push of CIBA Core 1.0 §10.3 or §12, until the
// request's lifetime and PushGrace have passed (ErrNoPush then).
func (c *Config) waitPush(ctx context.Context, ack *Ack, sub *subscription, progress func(Progress)) (*Token, error) {
	log := c.logger().With(oauth.LogAttrReq, oauth.ReqRef(ack.AuthReqID))
	deadline := ack.ReceivedAt.Add(time.Duration(ack.ExpiresIn) * time.Second)
	for {
		now := c.now()
		if !now.Before(deadline.Add(PushGrace)) {
			log.WarnContext(ctx, "ciba.nothing_pushed", "expires_in", ack.ExpiresIn)
			return nil, ErrNoPush
		}
		if progress != nil {
			progress(Progress{SecondsLeft: secondsUntil(deadline, now), Wait: max(0, deadline.Sub(now))})
		}
		n, err := c.waitNotified(ctx, deadline.Add(PushGrace).Sub(now), sub)
		if err != nil {
			return nil, err
		}
		if n == nil {
			continue
		}
		if n.AuthReqID != ack.AuthReqID {
			log.WarnContext(ctx, "ciba.push_for_another_request", "pushed_"+oauth.LogAttrReq, oauth.ReqRef(n.AuthReqID))
			continue
		}
		if n.Err != nil {
			log.DebugContext(ctx, "ciba.push_error", "error", n.Err.Code)
			return nil, n.Err
		}
		tok := n.Token
		tok.ReceivedAt = n.ReceivedAt
		if err := c.checkIDToken(ctx, tok, Expect{AuthReqID: ack.AuthReqID, AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Push: true}); err != nil {
			log.WarnContext(ctx, "ciba.id_token_rejected", "error", err)
			return nil, err
		}
		log.InfoContext(ctx, "ciba.token", "mode", "push", "token_type", tok.TokenType)
		return tok, nil
	}
}

// poller is the state of one poll loop.
type poller struct {
	deadline  time.Time
	lastSent  time.Time     // send time of the last poll; the ack's arrival before the first
	interval  time.Duration // minimum spacing of polls
	wait      time.Duration // spacing before the next poll: interval, or more after a 503
	polls     int
	pings     int
	lastError string
}

func newPoller(ack *Ack) *poller {
	interval := time.Duration(ack.Interval) * time.Second
	if interval <= 0 {
		interval = oauth.DefaultInterval * time.Second
	}
	return &poller{
		deadline: ack.ReceivedAt.Add(time.Duration(ack.ExpiresIn) * time.Second),
		lastSent: ack.ReceivedAt,
		interval: interval,
		wait:     interval,
	}
}

// again applies the answer err of a poll (CIBA Core 1.0 §11) and reports
// whether to poll again.
func (p *poller) again(err error) bool {
	var oe *oauth.Error
	if !errors.As(err, &oe) {
		return false
	}
	switch {
	case oe.Code == oauth.ErrAuthorizationPending:
		p.wait = p.interval
	case oe.Code == oauth.ErrSlowDown:
		p.interval += oauth.SlowDownIncrement * time.Second
		p.wait = p.interval
	case oe.Code == oauth.ErrTemporarilyUnavailable && oe.Status == http.StatusServiceUnavailable:
		p.wait = max(p.interval, time.Duration(oe.RetryAfter)*time.Second)
	default:
		return false
	}
	p.lastError = oe.Code
	return true
}

func secondsUntil(deadline, now time.Time) int {
	d := deadline.Sub(now)
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

// redeem sends one token request with the CIBA grant (CIBA Core 1.0 §10.1).
func (c *Config) redeem(ctx context.Context, authReqID string) (*Token, error) {
	form := url.Values{}
	form.Set(oauth.ParamGrantType, oauth.GrantTypeCIBA)
	form.Set(oauth.ParamAuthReqID, authReqID)
	return c.tokenRequest(ctx, form)
}

// decodeToken parses and checks a token response body (RFC 6749 §5.1):
// a JSON object with a non-empty access_token and token_type Bearer
// (RFC 6750 §4, case-insensitive). Missing scope and expires_in are
// acceptable.
func decodeToken(body []byte) (*Token, string) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, "malformed token response: " + jsonProblem(err)
	}
	if raw == nil {
		return nil, "token response is not a JSON object"
	}
	if dec.More() {
		return nil, "token response has data after the JSON object"
	}
	var tr oauth.TokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, "malformed token response: " + jsonProblem(err)
	}
	if tr.AccessToken == "" {
		return nil, "token response without access_token (RFC 6749 §5.1)"
	}
	if !strings.EqualFold(tr.TokenType, "Bearer") {
		return nil, "token_type is not Bearer (RFC 6750 §4)"
	}
	if tr.ExpiresIn < 0 {
		return nil, "expires_in is negative"
	}
	return &Token{TokenResponse: tr, Raw: raw}, ""
}
