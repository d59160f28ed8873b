package oauth

import (
	"crypto/sha256"
	"encoding/hex"
)

// LogAttrReq is the name of the log attribute, and of the JSON field of
// progress and event output, that carries ReqRef: the one name every
// program uses, so the client's line, the OP's log and the device's card
// can be matched by eye.
const LogAttrReq = "req"

// ReqRef is the short reference to an auth_req_id (CIBA Core 1.0 §7.3)
// that logs, events and screens show instead of the identifier itself,
// which is a bearer secret until redeemed: the first 8 hex digits of its
// SHA-256. It tells a request apart from the few a user or client has at a
// time, and reveals nothing that would let anyone redeem it. Every program
// uses this one function.
func ReqRef(authReqID string) string {
	sum := sha256.Sum256([]byte(authReqID))
	return hex.EncodeToString(sum[:4])
}
