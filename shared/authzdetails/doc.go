// Package authzdetails is the authorization_details parameter of OAuth 2.0
// Rich Authorization Requests (RFC 9396): what a client asks to do, entry by
// entry, rather than a scope.
//
// It parses a request's array (RFC 9396 §2), validates each entry against
// the types a client may use and, for the built-in types payment_initiation
// and account_information, against the type's fields (RFC 9396 §5: an
// unknown type, an unknown field of a known type, a field of the wrong
// type or value, or a missing required field is invalid_authorization_details);
// describes each entry in words for the person who approves it on an
// authentication device (never only as JSON); and keeps the entries a
// person approved (partial approval: cibalab's interpretation, see
// docs/conformance.md).
//
// The OP, the authentication devices and the client share it, so the same
// request reads the same everywhere.
package authzdetails
