// Package devicedir keeps an enrolled authentication device on disk: what
// CIBA Core 1.0 §8 calls the authentication device holds its own keys and
// is registered with the OP once (enrollment), like a phone app.
//
// A device directory (mode 0700) holds three files, each mode 0600:
//
//	device.json     the enrollment: device id, user, realm, NATS URL, the
//	                subjects the OP opened to the device, and the hash of
//	                the device PIN (PBKDF2-SHA256, RFC 8018 §5.2), if any
//	device-key.pem  the ES256 key that signs decisions (PKCS#8)
//	nats.nk         the NATS user nkey seed the device connects with
//
// The default directory of a user is .cibalab-device/<user> under the
// working directory (DefaultPath), beside the OP's default ./.cibalab, with
// the user id encoded as a NATS subject token so that no id can escape it.
//
// Save creates a missing directory 0700 and never changes the mode of an
// existing one; it refuses a symbolic link, a directory group or others
// can access, and one holding other files. A new device's files are
// created exclusively.
//
// Load checks everything it reads: a missing directory is [ErrNotEnrolled],
// anything unreadable, malformed, inconsistent or unsafe (a symbolic link,
// a directory or file group or others can access) is a [*CorruptError]
// naming the file, never a panic.
package devicedir
