package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/pki"
)

// maxHello bounds the size of an EnrollHello the OP decodes.
const maxHello = 1 << 10

// hello admits the nkey of an EnrollHello for EnrollLimits.TicketTTL
// (channel protocol step 0a), within the ticket bucket: the nkey may then
// connect, publish only on its own EnrollKeySubject and read only below
// its own EnrollInboxPrefix. An nkey of an active device needs no ticket
// (its grant includes enrollment). Nothing is answered: a connection
// without credentials reads nothing.
func (r *Responder) hello(ctx context.Context, data []byte) {
	var in channel.EnrollHello
	if len(data) > maxHello || json.Unmarshal(data, &in) != nil || in.Version != channel.Version ||
		channel.ValidNKeyToken(in.NKey) != nil || !nkeys.IsValidPublicUserKey(in.NKey) {
		r.log.Debug("enroll.hello_dropped", "reason", "not a version 1 hello with a user nkey")
		return
	}
	now := r.cfg.Now()
	r.syncMu.Lock()
	known := r.knownNKeys[in.NKey]
	r.syncMu.Unlock()
	if known {
		return
	}
	r.mu.Lock()
	if _, ok := r.tickets[in.NKey]; ok {
		r.tickets[in.NKey] = now.Add(r.limit.lim.TicketTTL)
		r.mu.Unlock()
		return
	}
	if len(r.tickets) >= r.limit.lim.MaxTickets {
		r.pruneTicketsLocked(now)
	}
	if len(r.tickets) >= r.limit.lim.MaxTickets || !r.limit.ticket(now) {
		r.mu.Unlock()
		// Debug: a flood must not flood the log too.
		r.log.Debug("enroll.hello_limited")
		return
	}
	r.tickets[in.NKey] = now.Add(r.limit.lim.TicketTTL)
	r.mu.Unlock()
	if err := r.SyncDevices(ctx); err != nil {
		r.log.Error("enroll.admit_failed", "err", err)
	}
}

// admitted reports whether this OP let nkey in to enroll: it holds a
// ticket for it (expired ones go at the watcher's next tick, with the
// nkey's access), or knows it as an active device's.
func (r *Responder) admitted(nkey string) bool {
	r.syncMu.Lock()
	known := r.knownNKeys[nkey]
	r.syncMu.Unlock()
	if known {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.tickets[nkey]
	return ok
}

// pruneTicketsLocked forgets the tickets expired at now and reports
// whether there were any; the caller holds r.mu.
func (r *Responder) pruneTicketsLocked(now time.Time) bool {
	pruned := false
	for k, until := range r.tickets {
		if !now.Before(until) {
			delete(r.tickets, k)
			pruned = true
		}
	}
	return pruned
}

// expireTickets forgets expired tickets and, when there were any, takes
// their nkeys' access away.
func (r *Responder) expireTickets(now time.Time) {
	r.mu.Lock()
	pruned := r.pruneTicketsLocked(now)
	r.mu.Unlock()
	if pruned {
		if err := r.SyncDevices(context.Background()); err != nil {
			r.log.Error("channel.device_sync_failed", "err", err)
		}
	}
}

// enroll checks the user's password and stores the device's two public
// keys (channel protocol step 0b), then lets the device's nkey in before
// it answers, so the device can connect with it at once. source is the
// nkey the sending connection authenticated with (the subject names it):
// the request must enroll that same nkey. Attempts beyond Config.Enroll's
// limits, or from a source locked out of the user id, are refused before
// the password is checked.
func (r *Responder) enroll(ctx context.Context, source string, data []byte) any {
	user := ""
	fail := func(code, desc string) any {
		r.log.Warn("enroll.refused", "code", code, "user", user, "reason", desc)
		return channel.EnrollResponse{Version: channel.Version, Error: code, ErrorDescription: desc}
	}
	var in channel.EnrollRequest
	if err := json.Unmarshal(data, &in); err != nil {
		return fail(channel.ErrBadMessage, "the message is not valid JSON")
	}
	if in.Version != channel.Version {
		return fail(channel.ErrUnsupported, fmt.Sprintf("message version %d is not supported; this OP speaks version %d", in.Version, channel.Version))
	}
	user = in.User
	if in.User == "" || in.Password == "" {
		return fail(channel.ErrBadMessage, "user and password are required")
	}
	var jwk pki.JWK
	if err := json.Unmarshal(in.DeviceKey, &jwk); err != nil || jwk.Kty != "EC" || jwk.Crv != "P-256" {
		return fail(channel.ErrBadMessage, "device_key must be an EC P-256 public JWK")
	}
	if _, err := jwk.PublicKey(); err != nil {
		return fail(channel.ErrBadMessage, "device_key must be an EC P-256 public JWK")
	}
	if !nkeys.IsValidPublicUserKey(in.NKey) {
		return fail(channel.ErrBadMessage, "nkey must be a public NATS user nkey")
	}
	if in.NKey != source {
		return fail(channel.ErrBadMessage, "nkey must be the nkey this connection authenticated with")
	}
	if ok, why := r.limit.allow(in.User, source, r.cfg.Now()); !ok {
		// Debug: a flood must not flood the log too.
		r.log.Debug("enroll.limited", "user", user, "reason", why)
		return channel.EnrollResponse{Version: channel.Version, Error: channel.ErrBadCredentials, ErrorDescription: "too many attempts; try again later"}
	}
	u, err := r.cfg.Users.Authenticate(in.User, in.Password)
	if err != nil {
		if !errors.Is(err, registry.ErrBadCredentials) {
			r.log.Error("enroll.failed", "err", err)
			return fail(channel.ErrInternal, "internal error")
		}
		if d := r.limit.result(in.User, source, false, r.cfg.Now()); d > 0 {
			r.log.Warn("enroll.locked", "reason", "repeated wrong passwords from one source", "user", user, "for", d)
		}
		return fail(channel.ErrBadCredentials, "bad credentials")
	}
	r.limit.result(in.User, source, true, r.cfg.Now())
	user = u.ID
	dev, err := r.cfg.Devices.EnrollDevice(registry.Device{User: u.ID, Name: in.DeviceName, Key: jwk, NKey: in.NKey})
	switch {
	case errors.Is(err, registry.ErrDeviceRevoked):
		return fail(channel.ErrDeviceRevoked, "these keys belong to a revoked device; enroll with new keys")
	case errors.Is(err, registry.ErrExists):
		return fail(channel.ErrBadMessage, "these keys belong to another device")
	case err != nil:
		// Bad device names and the like; state's message names the field.
		return fail(channel.ErrBadMessage, err.Error())
	}
	r.mu.Lock()
	delete(r.tickets, in.NKey) // the device's grant includes enrollment
	r.mu.Unlock()
	if err := r.SyncDevices(ctx); err != nil {
		r.log.Error("enroll.admit_failed", "err", err)
		return fail(channel.ErrInternal, "internal error")
	}
	// The registry logs registry.device_enrolled: one line per event.
	r.Event(ctx, channel.Event{Version: channel.Version, Type: channel.EventDeviceEnrolled, Time: r.cfg.Now().UnixMilli(), User: dev.User, Detail: dev.ID})
	realm := r.cfg.Realm
	return channel.EnrollResponse{
		Version:         channel.Version,
		DeviceID:        dev.ID,
		User:            dev.User,
		RequestsSubject: channel.UserRequestsSubject(realm, dev.User),
		PendingSubject:  channel.DevicePendingSubject(realm, dev.ID),
		DecideSubject:   channel.DeviceDecideSubject(realm, dev.ID),
		InboxPrefix:     channel.DeviceInboxPrefix(realm, dev.ID),
	}
}
