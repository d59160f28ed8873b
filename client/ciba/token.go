package ciba

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"cibalab/shared/oauth"
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
	// Wait is how long the loop waits before the next poll.
	Wait time.Duration
}

// Wait polls the token endpoint with the CIBA grant (CIBA Core 1.0 §10.1)
// until the user answers, following CIBA Core 1.0 §7.3 and §11:
//
//   - it waits ack.Interval before the first poll and never sends two polls
//     closer than the interval, measured between send times; there is never
//     more than one request in flight;
//   - authorization_pending continues; slow_down raises the interval by 5 s
//     for good; a 503 waits for its Retry-After, and at least the interval;
//   - every other error ends the loop: an *oauth.Error from the provider
//     (access_denied, expired_token, invalid_grant, invalid_request,
//     unauthorized_client, invalid_client, ...), a *ResponseError for a
//     malformed answer, or a transport error;
//   - once ack.ExpiresIn seconds have passed since ack.ReceivedAt it stops
//     with ErrExpired, and it stops with ctx.Err() when ctx is done.
//
// progress, when not nil, is called before each wait. A successful token
// response must carry an access_token and token_type Bearer
// (case-insensitive).
func (c *Config) Wait(ctx context.Context, ack *Ack, progress func(Progress)) (*Token, error) {
	if ack == nil || ack.AuthReqID == "" || ack.ExpiresIn <= 0 {
		return nil, errors.New("ciba: Wait needs the acknowledgement returned by Start")
	}
	if c.TokenURL == "" {
		return nil, errors.New("ciba: no token endpoint (set TokenURL or call Discover)")
	}
	if c.ClientID == "" {
		return nil, errors.New("ciba: no client_id (RFC 8705 §2 requires it in the body)")
	}
	log := c.logger().With("auth_req_id_hash", IDHash(ack.AuthReqID))
	p := newPoller(ack)
	for {
		now := c.now()
		next := p.lastSent.Add(p.wait)
		if progress != nil {
			progress(Progress{Polls: p.polls, Interval: p.interval, SecondsLeft: secondsUntil(p.deadline, now),
				LastError: p.lastError, Wait: max(0, next.Sub(now))})
		}
		if !next.Before(p.deadline) {
			// The next poll would come too late: wait out the lifetime and stop.
			if d := p.deadline.Sub(now); d > 0 {
				if err := c.sleep(ctx, d); err != nil {
					return nil, err
				}
			}
			log.DebugContext(ctx, "ciba.expired", "polls", p.polls)
			return nil, ErrExpired
		}
		if d := next.Sub(now); d > 0 {
			if err := c.sleep(ctx, d); err != nil {
				return nil, err
			}
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

// poller is the state of one poll loop.
type poller struct {
	deadline  time.Time
	lastSent  time.Time     // send time of the last poll; the ack's arrival before the first
	interval  time.Duration // minimum spacing of polls
	wait      time.Duration // spacing before the next poll: interval, or more after a 503
	polls     int
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
	case oe.Status == http.StatusServiceUnavailable:
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
	form.Set(oauth.ParamClientID, c.ClientID)
	resp, err := c.postForm(ctx, c.TokenURL, form)
	if err != nil {
		return nil, err
	}
	received := c.now()
	if resp.status != http.StatusOK {
		return nil, resp.oauthError(received)
	}
	if err := resp.requireJSON(); err != nil {
		return nil, err
	}
	tok, problem := decodeToken(resp.body)
	if problem != "" {
		return nil, resp.problem("%s", problem)
	}
	tok.ReceivedAt = received
	return tok, nil
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
