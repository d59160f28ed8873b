// Package device is the NATS side of an authentication device (CIBA Core
// 1.0 §8: the OP authenticates the end user on the authentication device
// and obtains consent). It speaks version 1 of the approval channel of
// cibalab/shared/channel and has no terminal code.
//
// [Enroll] registers a device once: over a connection without credentials
// it proves the user with their password and registers the public halves
// of the device's ES256 decision key and of its NATS user nkey; the OP
// answers with a device id. Keeping the keys is the caller's job (see
// cibalab/authenticator/devicedir).
//
// [Connect] then connects with the nkey (the password is not needed any
// more), with replies below the device's private inbox prefix, and
// [Device.Requests] delivers the user's authentication requests: first
// those the OP still lists as pending, then each one the OP announces,
// each auth_req_id once. nats.go reconnects by itself; after each
// reconnect the pending list is asked again, so a request announced while
// the connection was down is not missed, and one already delivered is not
// delivered twice. Messages that are not valid requests for this user
// (not JSON, another version, another user's, already expired) are logged
// at Warn and dropped.
//
// [Device.Decide] signs a decision JWT (channel.DecisionClaims: auth_req_id,
// verdict, device_id, a random 128-bit jti, iat, exp = iat + 60 s, acr,
// amr) with the device key and sends it; a refusal by the OP is a
// [*RefusedError] whose Code is one of the channel error codes. A decision
// is never resent: a lost reply is an error, and the OP refuses a second
// decision on the same request anyway.
//
// Full auth_req_ids, passwords and JWTs never reach the log; requests are
// logged by [ReqRef], a short hash.
package device
