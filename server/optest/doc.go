// Package optest runs a complete cibalab OpenID Provider inside a Go test,
// the way net/http/httptest runs an HTTP server: the real OP with its
// mutual-TLS endpoints (CIBA Core 1.0 §7, §10; RFC 8705), its embedded NATS
// server and a real authentication device for every user (CIBA Core 1.0 §8),
// on random loopback ports, with a fresh state directory, started in tens
// of milliseconds (a few on tmpfs: most of it is syncing the state files to
// disk) and stopped by the test's cleanup.
//
// A test lets its own code start CIBA against [Server.URL] with
// [Server.Client], then decides from the test: [Server.WaitPending] returns
// the next request the OP accepted, and [Server.Approve] or [Server.Deny]
// answers it through the user's device over NATS, exactly as a person with
// the ciba-authenticator would. Policies ([AutoApprove], [AutoDeny],
// [Policy]) answer every request without the test's help.
//
// A request with RFC 9396 authorization_details (from a client registered
// with [AuthorizationDetailsTypes]) shows them in [Pending]; a policy reads
// them there, and [Server.ApproveOnly] or [Decision.ApprovedDetails]
// approves some entries only, as a person may on the device
// (docs/recipes/agent-asks-a-human.md).
//
// # Time
//
// The OP runs on its own clock, which follows the real clock plus an
// offset that [Server.Advance] increases, so that expiry (expired_token)
// and the polling interval (slow_down, CIBA Core 1.0 §11) are tested
// without sleeping. The OP's clock governs: the lifetime of auth_req_ids
// and the interval between polls; the iat, exp and auth_time of the tokens
// it issues; the validity check of client certificates at the OP (RFC 8705
// §2.1; they are valid for one year, so do not advance past that) and the
// validity of certificates issued after the advance; the freshness of
// device decisions, which the optest devices sign with the same clock;
// the expired_token pushed to a push client whose request expired
// undecided (CIBA Core 1.0 §12), which Advance has the OP send at once.
// It does not govern: the TLS handshake, where clients check the OP's server
// certificate against the real clock; NATS and HTTP timeouts; the
// context deadlines of the test; the Delay of a [Decision]; and the
// OP's sweep of long-expired requests, which runs every 30 s of real time
// and removes requests expired for more than 10 minutes of the OP's clock
// (a late poll then gets invalid_grant rather than expired_token).
//
// # Faults
//
// [Server.FailNextNotification] and [Server.TimeoutNextNotification] make
// the next ping or push to a client's notification endpoint
// (CIBA Core 1.0 §10.2, §10.3) fail; [Decision.Delay] makes a device
// answer late; [Server.DropDeviceConnections] takes every device off NATS
// until [Server.ReconnectDevices] (requests announced meanwhile are found
// again through the pending list), and [Server.DropOPConnection] breaks
// the OP's own NATS connection, which it re-establishes.
// [Server.ThrottleNextPolls] makes the next token requests get 503
// temporarily_unavailable with Retry-After (CIBA Core 1.0 §11).
//
// Every server of one test binary shares one pair of token signing keys,
// generated on first use, because RSA key generation would otherwise
// dominate the start-up time; each server has its own certificate
// authority, state directory, users and clients.
package optest
