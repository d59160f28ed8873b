package device

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"cibalab/shared/channel"

	"github.com/nats-io/nats.go"
)

// signIn performs step 1 of the channel exchange and, when the OP names a
// new requests subject, subscribes to it. The caller holds signInMu.
func (d *Device) signIn(ctx context.Context) error {
	jwk, err := json.Marshal(d.key.PublicJWK())
	if err != nil {
		return fmt.Errorf("device: sign-in: %w", err)
	}
	req := channel.SignInRequest{
		Version:    channel.Version,
		User:       d.cfg.User,
		Password:   d.password,
		DeviceName: d.cfg.DeviceName,
		DeviceKey:  jwk,
	}
	var resp channel.SignInResponse
	if err := d.request(ctx, channel.SignInSubject(d.cfg.Realm), req, &resp); err != nil {
		return fmt.Errorf("device: sign-in: %w", err)
	}
	switch {
	case resp.Error == channel.ErrBadCredentials:
		return ErrBadCredentials
	case resp.Error != "":
		return &RefusedError{Code: resp.Error, Description: resp.ErrorDescription}
	case resp.Version != channel.Version:
		return fmt.Errorf("device: sign-in: reply version %d, want %d", resp.Version, channel.Version)
	case resp.SessionID == "":
		return errors.New("device: sign-in: reply without session_id")
	}
	s := session{id: resp.SessionID, user: resp.User, subject: resp.RequestsSubject}
	if s.user == "" {
		s.user = d.cfg.User
	}
	if s.subject == "" {
		s.subject = channel.UserRequestsSubject(d.cfg.Realm, s.user)
	}
	if !plainSubject(s.subject) {
		return fmt.Errorf("device: sign-in: requests subject %q is not a plain subject", s.subject)
	}
	if resp.SessionExpiresAt > 0 {
		s.expiresAt = time.Unix(resp.SessionExpiresAt, 0)
	}
	if err := d.subscribe(ctx, s.subject); err != nil {
		return err
	}
	d.mu.Lock()
	d.session = s
	d.mu.Unlock()
	d.log.Info("signed in", "user", s.user, "realm", d.cfg.Realm, "kid", d.key.KeyID(), "session_expires_at", s.expiresAt)
	return nil
}

// plainSubject reports whether subject is a literal NATS subject of this
// protocol version: no wildcard, no whitespace, under channel.Prefix.
func plainSubject(subject string) bool {
	if !strings.HasPrefix(subject, channel.Prefix+".") || len(subject) > 512 {
		return false
	}
	for _, tok := range strings.Split(subject, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
			return false
		}
	}
	return true
}

// subscribe makes subject the one the device listens on and flushes, so
// that the server knows the subscription before the caller goes on.
func (d *Device) subscribe(ctx context.Context, subject string) error {
	d.mu.Lock()
	if d.sub != nil && d.sub.Subject == subject {
		d.mu.Unlock()
		return nil
	}
	sub, err := d.nc.ChanSubscribe(subject, d.msgs)
	if err != nil {
		d.mu.Unlock()
		return fmt.Errorf("device: subscribe: %w", err)
	}
	old := d.sub
	d.sub = sub
	d.mu.Unlock()
	if old != nil {
		_ = old.Unsubscribe()
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.RequestTimeout)
	defer cancel()
	if err := d.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("device: subscribe: %w", err)
	}
	return nil
}

// renewSession signs in again because the OP no longer knows session
// stale; when another call already renewed it, it does nothing.
func (d *Device) renewSession(ctx context.Context, stale string) error {
	d.signInMu.Lock()
	defer d.signInMu.Unlock()
	if d.sessionID() != stale {
		return nil
	}
	d.log.Info("session unknown to the OP, signing in again")
	return d.signIn(ctx)
}

func (d *Device) sessionID() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.session.id
}

// request sends in as JSON on subject and decodes the reply into out,
// within RequestTimeout.
func (d *Device) request(ctx context.Context, subject string, in, out any) error {
	data, err := json.Marshal(in)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.RequestTimeout)
	defer cancel()
	msg, err := d.nc.RequestWithContext(ctx, subject, data)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("no OP answers on %s", subject)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no answer on %s: %w", subject, err)
	case err != nil:
		return err
	}
	if err := json.Unmarshal(msg.Data, out); err != nil {
		return fmt.Errorf("malformed reply on %s: %w", subject, err)
	}
	return nil
}
