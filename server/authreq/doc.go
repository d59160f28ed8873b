// Package authreq is the lifecycle of a CIBA authentication request
// (CIBA Core 1.0), apart from HTTP and NATS: the OP's endpoints (package
// op) and its device channel (package bus) are its two doors, and neither
// changes a request any other way.
//
//	       Create (§7.1, §7.3)
//	             │
//	             ▼
//	┌──────── pending ◀──── Poll: authorization_pending, slow_down (§7.3, §11)
//	│            │
//	│  Decide (§8): approve / deny
//	│      ┌─────┴─────┐
//	│      ▼           ▼
//	│  approved      denied ──── Poll: access_denied (§11); push: access_denied (§12)
//	│      │
//	│  Poll (§10.1) or a delivered push (§10.3.1)
//	│      ▼
//	│  redeemed ───── Poll: invalid_grant (§10.1.1)
//	│
//	└─▶ expired (time passes ExpiresAt; nothing decided or redeemed after it):
//	    Poll: expired_token (§11); push clients get expired_token once (§12)
//
// Expiry is derived from the clock, not stored: a request is expired once
// its clock reaches ExpiresAt, whatever its status, except that a redeemed
// request stays redeemed. Every change is one compare-and-swap on the
// [store.Store], so two concurrent polls never both redeem, and a decision
// races safely with expiry. Each transition is reported once, after it is
// stored, to the [Sink] (logs, the NATS event stream).
//
// Errors are this package's own ([ErrUnknown], [ErrPending], ...); the
// token endpoint maps them to the OAuth errors of CIBA Core 1.0 §11.
package authreq
