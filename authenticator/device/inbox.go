package device

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"cibalab/shared/channel"
)

// maxMessage bounds the size of an announced request the device decodes.
const maxMessage = 64 << 10

// maxQueued bounds the requests waiting for the reader of Requests.
const maxQueued = 1024

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
	var resp channel.PendingResponse
	req := channel.PendingRequest{Version: channel.Version}
	if err := request(ctx, d.nc, d.cfg.RequestTimeout, d.pendingSubject, req, &resp); err != nil {
		return nil, fmt.Errorf("device: pending: %w", err)
	}
	switch {
	case resp.Error != "":
		return nil, &RefusedError{Code: resp.Error, Description: resp.ErrorDescription}
	case resp.Version != channel.Version:
		return nil, fmt.Errorf("device: pending: reply version %d, want %d", resp.Version, channel.Version)
	}
	user, now := d.User(), d.cfg.Now()
	reqs := make([]channel.AuthRequest, 0, len(resp.Requests))
	for _, r := range resp.Requests {
		if err := checkAuthRequest(&r, user, now); err != nil {
			d.log.Warn("pending request dropped", "reason", err, "req_ref", ReqRef(r.AuthReqID))
			continue
		}
		reqs = append(reqs, r)
	}
	return reqs, nil
}

// pump owns the queue behind Requests: it feeds the initial pending
// requests, then announced ones, refreshing the pending list after each
// reconnect, and delivers each auth_req_id once.
func (d *Device) pump(initial []channel.AuthRequest) {
	defer close(d.done)
	defer close(d.out)
	seen := map[string]int64{} // auth_req_id -> expires_at
	var queue []channel.AuthRequest
	add := func(r channel.AuthRequest, source string) {
		if _, dup := seen[r.AuthReqID]; dup {
			d.log.Debug("request already delivered", "req_ref", ReqRef(r.AuthReqID), "source", source)
			return
		}
		if len(queue) >= maxQueued {
			d.log.Warn("request dropped: too many waiting", "req_ref", ReqRef(r.AuthReqID))
			return
		}
		now := d.cfg.Now().Unix()
		for id, exp := range seen {
			if exp <= now { // an expired request is refused anyway
				delete(seen, id)
			}
		}
		seen[r.AuthReqID] = r.ExpiresAt
		queue = append(queue, r)
		d.log.Info("request received", "req_ref", ReqRef(r.AuthReqID), "client_id", r.ClientID, "source", source)
	}
	for _, r := range initial {
		add(r, "pending")
	}
	// refresh lists the pending requests again after a reconnect; when
	// the OP does not answer yet (it may reconnect after the device), it
	// tries again later, backing off up to maxRefreshBackoff.
	var retry <-chan time.Time
	var backoff time.Duration
	refresh := func() {
		retry = nil
		reqs, err := d.Pending(d.ctx)
		if err != nil {
			if d.ctx.Err() != nil {
				return
			}
			backoff = min(max(2*backoff, minRefreshBackoff), maxRefreshBackoff)
			d.log.Warn("pending refresh after reconnect failed; retrying", "err", err, "in", backoff)
			retry = time.After(backoff)
			return
		}
		backoff = 0
		for _, r := range reqs {
			add(r, "pending")
		}
	}
	for {
		var out chan channel.AuthRequest
		var head channel.AuthRequest
		now := d.cfg.Now().Unix()
		for len(queue) > 0 && queue[0].ExpiresAt <= now {
			d.log.Info("request expired before delivery", "req_ref", ReqRef(queue[0].AuthReqID))
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
		case m := <-d.msgs:
			r, err := parseAuthRequest(m.Data, d.User(), d.cfg.Now())
			if err != nil {
				d.log.Warn("message dropped", "subject", m.Subject, "reason", err)
				continue
			}
			add(r, "announced")
		case <-d.reconnected:
			backoff = 0
			refresh()
		case <-retry:
			refresh()
		}
	}
}
