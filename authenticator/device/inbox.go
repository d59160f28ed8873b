package device

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/oauth"
)

// maxMessage bounds the size of an announced request the device decodes.
const maxMessage = 64 << 10

// maxQueued bounds the requests waiting for the reader of Requests.
const maxQueued = 1024

// relistWait is how soon the device lists the pending requests again
// after it missed some (its queue was full, NATS dropped announcements
// for a slow consumer, or the OP's list was cut short), once its queue has
// room: every request still pending reaches it in the end.
const relistWait = 250 * time.Millisecond

// Bounds of the wait between two attempts to list the pending requests
// after a reconnect.
const (
	minRefreshBackoff = 200 * time.Millisecond
	maxRefreshBackoff = 10 * time.Second
)

// parseAuthRequest decodes an announced request and checks it is one the
// device can show to user at now: version 1, an auth_req_id and a
// client_id, user's own, not yet expired.
func parseAuthRequest(data []byte, user string, now time.Time) (channel.AuthRequest, error) {
	var r channel.AuthRequest
	if len(data) > maxMessage {
		return r, fmt.Errorf("device: request of %d bytes is too large", len(data))
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return channel.AuthRequest{}, fmt.Errorf("device: request is not JSON: %w", err)
	}
	if err := checkAuthRequest(&r, user, now); err != nil {
		return channel.AuthRequest{}, err
	}
	return r, nil
}

// checkAuthRequest is the check of parseAuthRequest on a decoded request.
func checkAuthRequest(r *channel.AuthRequest, user string, now time.Time) error {
	switch {
	case r.Version != channel.Version:
		return fmt.Errorf("device: request version %d, want %d", r.Version, channel.Version)
	case r.AuthReqID == "":
		return errors.New("device: request without auth_req_id")
	case r.ClientID == "":
		return errors.New("device: request without client_id")
	case r.User != user:
		return errors.New("device: request for another user")
	case r.ExpiresAt <= now.Unix():
		return errors.New("device: request already expired")
	}
	return nil
}

// Pending asks the OP for the user's requests still pending (channel
// protocol step 1), oldest first, leaving out any that is malformed,
// another user's or expired.
func (d *Device) Pending(ctx context.Context) ([]channel.AuthRequest, error) {
	reqs, _, err := d.pending(ctx)
	return reqs, err
}

// pending is Pending that also reports whether the OP left requests out
// of the list (channel.PendingResponse.More).
func (d *Device) pending(ctx context.Context) ([]channel.AuthRequest, bool, error) {
	var resp channel.PendingResponse
	req := channel.PendingRequest{Version: channel.Version}
	if err := request(ctx, d.nc, d.cfg.RequestTimeout, d.pendingSubject, req, &resp); err != nil {
		return nil, false, fmt.Errorf("device: pending: %w", err)
	}
	switch {
	case resp.Error != "":
		return nil, false, &RefusedError{Code: resp.Error, Description: resp.ErrorDescription}
	case resp.Version != channel.Version:
		return nil, false, fmt.Errorf("device: pending: reply version %d, want %d", resp.Version, channel.Version)
	}
	user, now := d.User(), d.cfg.Now()
	reqs := make([]channel.AuthRequest, 0, len(resp.Requests))
	for _, r := range resp.Requests {
		if err := checkAuthRequest(&r, user, now); err != nil {
			d.log.Warn("device.request_dropped", oauth.LogAttrReq, oauth.ReqRef(r.AuthReqID), "reason", err)
			continue
		}
		reqs = append(reqs, r)
	}
	return reqs, resp.More, nil
}

// Closure tells that a request delivered by [Device.Requests] no longer
// waits for a decision: take its card off the screen.
type Closure struct {
	AuthReqID string
	// Reason is channel.ClosedApproved, ClosedDenied, ClosedRedeemed,
	// ClosedExpired, or ClosedGone.
	Reason string
	// DeviceID names the device that decided, when the OP said.
	DeviceID string
}

// ClosedGone is the Reason of a [Closure] found by the device itself: the
// OP no longer lists the request as pending after a reconnect (it was
// decided, redeemed or expired while the device was away).
const ClosedGone = "gone"

// parseClosed decodes a message on the requests subject that has a type:
// a [channel.RequestClosed] for user. ok is false for a message without a
// type (an AuthRequest); err reports a typed message the device cannot use.
func parseClosed(data []byte, user string) (c channel.RequestClosed, ok bool, err error) {
	if len(data) > maxMessage {
		return c, false, nil // parseAuthRequest says why
	}
	var probe struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(data, &probe) != nil || probe.Type == "" {
		return c, false, nil
	}
	if probe.Type != channel.RequestClosedType {
		return c, true, fmt.Errorf("device: unknown message type %q", probe.Type)
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, true, fmt.Errorf("device: request.closed is not valid: %w", err)
	}
	switch {
	case c.Version != channel.Version:
		return c, true, fmt.Errorf("device: request.closed version %d, want %d", c.Version, channel.Version)
	case c.AuthReqID == "":
		return c, true, errors.New("device: request.closed without auth_req_id")
	case c.User != user:
		return c, true, errors.New("device: request.closed for another user")
	}
	return c, true, nil
}

// Closed delivers a [Closure] for each request delivered by Requests that
// another device decided, that was redeemed or that expired, as the OP
// tells, or that the OP no longer lists after a reconnect; DeviceID says
// which device decided, this one included (say, through another part of
// the same program). Requests not delivered yet are simply never
// delivered. It holds the 16 most recent closures when nobody reads it.
func (d *Device) Closed() <-chan Closure { return d.closures }

// pump owns the queue behind Requests: it feeds the initial pending
// requests, then announced ones, refreshing the pending list after each
// reconnect, delivers each auth_req_id once, and applies closures.
func (d *Device) pump(initial []channel.AuthRequest, more bool) {
	defer close(d.done)
	defer close(d.out)
	seen := newSeenSet()
	var queue []channel.AuthRequest
	// relist fires relistWait after the device missed requests; it is
	// nil while nothing was missed.
	var relist <-chan time.Time
	missed := func() {
		if relist == nil {
			relist = time.After(relistWait)
		}
	}
	add := func(r channel.AuthRequest, source string) {
		if seen.get(r.AuthReqID) != nil {
			d.log.Debug("device.request_seen", oauth.LogAttrReq, oauth.ReqRef(r.AuthReqID), "source", source)
			return
		}
		if len(queue) >= maxQueued {
			d.log.Warn("device.request_dropped", oauth.LogAttrReq, oauth.ReqRef(r.AuthReqID), "reason", "too many waiting", "then", "listed again once some are answered")
			missed()
			return
		}
		seen.add(r.AuthReqID, &tracked{expiresAt: r.ExpiresAt}, d.cfg.Now().Unix())
		queue = append(queue, r)
		d.log.Info("device.request_received", oauth.LogAttrReq, oauth.ReqRef(r.AuthReqID), "client_id", r.ClientID, "source", source)
	}
	closeReq := func(id, reason, deviceID string) {
		t := seen.get(id)
		if t == nil {
			// Closed before it was seen: never show it.
			now := d.cfg.Now().Unix()
			seen.add(id, &tracked{expiresAt: now, closed: true}, now)
			return
		}
		if t.closed {
			return
		}
		t.closed = true
		for i, q := range queue {
			if q.AuthReqID == id {
				queue = append(queue[:i:i], queue[i+1:]...)
				break
			}
		}
		d.log.Info("device.request_closed", oauth.LogAttrReq, oauth.ReqRef(id), "reason", reason)
		if t.delivered {
			d.sendClosure(Closure{AuthReqID: id, Reason: reason, DeviceID: deviceID})
		}
	}
	for _, r := range initial {
		add(r, "pending")
	}
	if more {
		missed()
	}
	// refresh lists the pending requests again after a reconnect; when
	// the OP does not answer yet (it may reconnect after the device), it
	// tries again later, backing off up to maxRefreshBackoff. A request
	// seen before and still open that the list no longer holds is closed:
	// it was decided, redeemed or expired meanwhile. (The OP stores a
	// request before announcing it, so a list asked after the device saw
	// a request holds it while it is pending.)
	var retry <-chan time.Time
	var backoff time.Duration
	refresh := func() {
		retry = nil
		reqs, more, err := d.pending(d.ctx)
		if err != nil {
			if d.ctx.Err() != nil {
				return
			}
			backoff = min(max(2*backoff, minRefreshBackoff), maxRefreshBackoff)
			d.log.Warn("device.pending_refresh_failed", "err", err, "then", "retried", "in", backoff)
			retry = time.After(backoff)
			return
		}
		backoff = 0
		listed := map[string]bool{}
		for _, r := range reqs {
			listed[r.AuthReqID] = true
			add(r, "pending")
		}
		if more {
			// Not the whole list: what it lacks may still be pending.
			missed()
			return
		}
		for id, t := range seen.m {
			if !t.closed && !listed[id] {
				closeReq(id, ClosedGone, "")
			}
		}
	}
	for {
		var out chan channel.AuthRequest
		var head channel.AuthRequest
		now := d.cfg.Now().Unix()
		for len(queue) > 0 && queue[0].ExpiresAt <= now {
			d.log.Info("device.request_expired", oauth.LogAttrReq, oauth.ReqRef(queue[0].AuthReqID), "detail", "before it was shown")
			queue = queue[1:]
		}
		if len(queue) > 0 {
			out, head = d.out, queue[0]
		}
		select {
		case <-d.ctx.Done():
			return
		case <-d.closed:
			return
		case out <- head:
			queue = queue[1:]
			if t := seen.get(head.AuthReqID); t != nil {
				t.delivered = true
			}
		case m := <-d.msgs:
			if c, ok, err := parseClosed(m.Data, d.User()); ok {
				if err != nil {
					d.log.Warn("device.message_dropped", "subject", m.Subject, "reason", err)
					continue
				}
				closeReq(c.AuthReqID, c.Reason, c.DeviceID)
				continue
			}
			r, err := parseAuthRequest(m.Data, d.User(), d.cfg.Now())
			if err != nil {
				d.log.Warn("device.message_dropped", "subject", m.Subject, "reason", err)
				continue
			}
			add(r, "announced")
		case <-d.reconnected:
			backoff = 0
			refresh()
		case <-retry:
			refresh()
		case <-d.dropped:
			d.log.Warn("device.announcements_dropped", "reason", "NATS dropped messages for a slow consumer", "then", "listed again")
			missed()
		case <-relist:
			relist = nil
			if len(queue) >= maxQueued/2 {
				missed() // once the reader has taken some
				continue
			}
			refresh()
		}
	}
}

// sendClosure queues c for Closed, dropping the oldest closure when 16
// wait unread.
func (d *Device) sendClosure(c Closure) {
	for {
		select {
		case d.closures <- c:
			return
		default:
		}
		select {
		case <-d.closures:
		default:
		}
	}
}
