// Package device is the NATS side of an authentication device (CIBA Core
// 1.0 §8: the OP authenticates the end user on the authentication device
// and obtains consent). It speaks version 1 of the approval channel of
// cibalab/shared/channel and has no terminal code.
//
// [Connect] opens the NATS connection, generates a device key (see
// cibalab/authenticator/devicekey) and signs in with the user's password,
// registering the key's public JWK. [Device.Requests] then delivers the
// user's authentication requests: first those the OP still lists as
// pending, then each one the OP announces, each auth_req_id once. After a
// reconnect the pending list is asked again, so a request announced while
// the connection was down is not missed. Messages that are not valid
// requests for this user (not JSON, another version, another user's,
// already expired) are logged at Warn and dropped.
//
// [Device.Decide] signs a decision JWT (channel.DecisionClaims: auth_req_id,
// verdict, sid, a random 128-bit jti, iat, exp = iat + 60 s, amr) with the
// device key and sends it; a refusal by the OP is a [*RefusedError] whose
// Code is one of the channel error codes. When the OP answers
// unknown_session (its session expired or it restarted), the device signs in
// again with the same key and retries once.
//
// Full auth_req_ids, passwords and JWTs never reach the log; requests are
// logged by [ReqRef], a short hash.
package device
