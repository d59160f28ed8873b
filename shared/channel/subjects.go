package channel

import (
	"errors"
	"fmt"
	"strings"
)

// Version is the version of the messages and subjects in this package.
const Version = 1

// Prefix starts every subject of version 1.
const Prefix = "cibalab.v1"

// errInvalidRealm reports a realm that cannot be a subject token.
var errInvalidRealm = errors.New("channel: realm must be 1 to 64 characters of [A-Za-z0-9_-]")

// ValidRealm reports an error unless realm is 1 to 64 characters of
// [A-Za-z0-9_-]. Realms are names an operator chooses, so they are
// validated rather than encoded.
func ValidRealm(realm string) error {
	if len(realm) == 0 || len(realm) > 64 {
		return errInvalidRealm
	}
	for i := 0; i < len(realm); i++ {
		if !plainByte(realm[i]) && realm[i] != '_' {
			return errInvalidRealm
		}
	}
	return nil
}

// plainByte reports whether b passes through UserToken unchanged.
func plainByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-'
}

// UserToken encodes a user id as one subject token: letters, digits and "-"
// pass through, every other byte (including "_") becomes "_" followed by two
// upper-case hex digits. The encoding is injective, so two users never share
// a subject, and "alice" stays readable as "alice".
func UserToken(user string) string {
	var b strings.Builder
	for i := 0; i < len(user); i++ {
		c := user[i]
		if plainByte(c) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "_%02X", c)
		}
	}
	return b.String()
}

func base(realm string) string { return Prefix + "." + realm }

// UserRequestsSubject is where the OP publishes each [AuthRequest] for user.
func UserRequestsSubject(realm, user string) string {
	return base(realm) + ".user." + UserToken(user) + ".requests"
}

// EventsSubject is where the OP publishes every [Event].
func EventsSubject(realm string) string { return base(realm) + ".events" }
