package device

import "cibalab/shared/channel"

// ReqRef is the short reference used in logs and progress output instead
// of a full auth_req_id: the first 8 hex digits of its SHA-256. It
// identifies a request among the few a user has, and reveals nothing that
// would let anyone redeem it.
func ReqRef(authReqID string) string {
	return channel.ReqRef(authReqID)
}
