// Package device is the NATS side of an authentication device (CIBA Core
// 1.0 §8: the OP authenticates the end user on the authentication device
// and obtains consent). It speaks version 1 of the approval channel of
// github.com/cibalab/cibalab/shared/channel and has no terminal code.
//
// [Enroll] registers a device once: over a connection without
// credentials it asks the OP to admit the device's NATS user nkey for a
// while (it reads nothing there), then, connected with that nkey and with
// replies below an inbox only that nkey may read, it proves the user with
// their password and registers the public halves of the device's ES256
// decision key and of its nkey; the OP answers with a device id. Keeping
// the keys is the caller's job (see github.com/cibalab/cibalab/authenticator/devicedir).
//
// [Connect] then connects with the nkey (the password is not needed any
// more), with replies below the device's private inbox prefix, and
// [Device.Requests] delivers the user's authentication requests: first
// those the OP still lists as pending, then each one the OP announces,
// each auth_req_id once. nats.go reconnects by itself; after each
// reconnect the pending list is asked again, so a request announced while
// the connection was down is not missed, and one already delivered is not
// delivered twice. [Device.Closed] tells when a delivered request was
// decided on another device, redeemed or expired (the OP publishes
// channel.RequestClosed), or is no longer listed after a reconnect; a
// request closed before it was delivered is never delivered. Messages that
// are not valid requests for this user (not JSON, another version,
// another user's, already expired) are logged at Warn and dropped.
//
// [Device.Decide] signs a decision JWT (channel.DecisionClaims: auth_req_id,
// verdict, device_id, a random 128-bit jti, iat, exp = iat + 30 s, acr,
// amr) with the device key and sends it; a refusal by the OP is a
// [*RefusedError] whose Code is one of the channel error codes. While the
// OP does not answer (a timeout, no OP listening, NATS reconnecting,
// rate_limited) the same JWT is sent again, which the OP answers as the
// first time; nothing is buffered while NATS reconnects. Only once the
// decision has lapsed (exp plus channel.DecisionLeeway), when the OP
// refuses it anyway, is it reported as [ErrNotDelivered]: a decision
// reported as failed is never applied later.
//
// Full auth_req_ids, passwords and JWTs never reach the log; requests are
// logged by [ReqRef], a short hash.
package device
