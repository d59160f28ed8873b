package bus

import (
	"strings"

	"github.com/cibalab/cibalab/shared/channel"
)

// maxReplyLen bounds the reply subjects the OP answers to; the inboxes of
// nats.go clients are far shorter.
const maxReplyLen = 256

// enrollReplyOK reports whether the OP may answer an enrollment request
// received on EnrollKeySubject(realm, nkey) at reply: a literal subject
// below that nkey's EnrollInboxPrefix, which only that nkey may read.
// NATS does not check reply subjects against permissions and the OP's
// connection may publish anywhere, so without this check anyone could
// make the OP publish on a user's requests subject or into a device's
// inbox.
func (r *Responder) enrollReplyOK(nkey, reply string) bool {
	return channel.ValidNKeyToken(nkey) == nil &&
		strings.HasPrefix(reply, channel.EnrollInboxPrefix(r.cfg.Realm, nkey)+".") && literalSubject(reply)
}

// deviceReplyOK reports whether the OP may answer a message received on
// the per-device subject at reply: a literal subject below that device's
// own inbox prefix (channel.DeviceInboxPrefix), which only the device may
// read, so that a device cannot direct the OP's answers to another one.
func (r *Responder) deviceReplyOK(subject, reply string) bool {
	id := deviceFromSubject(subject)
	if channel.ValidDeviceID(id) != nil {
		return false
	}
	return strings.HasPrefix(reply, channel.DeviceInboxPrefix(r.cfg.Realm, id)+".") && literalSubject(reply)
}

// literalSubject reports whether s is a NATS subject without wildcards:
// at most maxReplyLen printable ASCII characters other than "*" and ">",
// in non-empty tokens separated by ".".
func literalSubject(s string) bool {
	if s == "" || len(s) > maxReplyLen {
		return false
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" {
			return false
		}
		for i := 0; i < len(tok); i++ {
			if c := tok[i]; c <= ' ' || c >= 0x7f || c == '*' || c == '>' {
				return false
			}
		}
	}
	return true
}

// logSubject shortens an untrusted subject for a log line.
func logSubject(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
