package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nkeys"

	"cibalab/server/state"
	"cibalab/shared/channel"
	"cibalab/shared/pki"
)

// enroll checks the user's password and stores the device's two public
// keys (channel protocol step 0), then lets the device's nkey in before it
// answers, so the device can connect with it at once. Attempts beyond
// Config.Enroll's limits are refused before the password is checked.
func (r *Responder) enroll(ctx context.Context, data []byte) any {
	user := ""
	fail := func(code, desc string) any {
		r.log.Warn("enrollment refused", "code", code, "user", user, "reason", desc)
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
	if ok, why := r.limit.allow(in.User, r.cfg.Now()); !ok {
		// Debug: a flood must not flood the log too.
		r.log.Debug("enrollment attempt limited", "user", user, "reason", why)
		return channel.EnrollResponse{Version: channel.Version, Error: channel.ErrBadCredentials, ErrorDescription: "too many attempts; try again later"}
	}
	u, err := r.cfg.Users.Authenticate(in.User, in.Password)
	if err != nil {
		if !errors.Is(err, state.ErrBadCredentials) {
			r.log.Error("enrollment failed", "err", err)
			return fail(channel.ErrInternal, "internal error")
		}
		if d := r.limit.result(in.User, false, r.cfg.Now()); d > 0 {
			r.log.Warn("enrollment locked after repeated wrong passwords", "user", user, "for", d)
		}
		return fail(channel.ErrBadCredentials, "bad credentials")
	}
	r.limit.result(in.User, true, r.cfg.Now())
	user = u.ID
	dev, err := r.cfg.Devices.EnrollDevice(state.Device{User: u.ID, Name: in.DeviceName, Key: jwk, NKey: in.NKey})
	switch {
	case errors.Is(err, state.ErrDeviceRevoked):
		return fail(channel.ErrDeviceRevoked, "these keys belong to a revoked device; enroll with new keys")
	case errors.Is(err, state.ErrExists):
		return fail(channel.ErrBadMessage, "these keys belong to another device")
	case err != nil:
		// Bad device names and the like; state's message names the field.
		return fail(channel.ErrBadMessage, err.Error())
	}
	if err := r.SyncDevices(ctx); err != nil {
		r.log.Error("enrollment: letting the device in failed", "err", err)
		return fail(channel.ErrInternal, "internal error")
	}
	r.log.Info("device enrolled", "user", dev.User, "device", dev.ID, "name", dev.Name)
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
