package bus

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/cibalab/cibalab/shared/channel"
)

// OperatorSeedFile is the name, in the OP's state directory, of the seed
// of the operator's NATS user nkey: the identity with which ciba-op watch
// reads the event stream of the embedded server.
const OperatorSeedFile = "operator.nk"

// NATSURLFile is the name, in the OP's state directory, of the file where
// a running OP writes the URL of its embedded NATS server, so that
// ciba-op watch finds it.
const NATSURLFile = "nats.url"

// OperatorKey returns the public user nkey of the operator whose seed is
// in the file path, creating the seed (mode 0600) when there is none. A
// seed file readable by others is refused: whoever reads it reads the
// event stream.
func OperatorKey(path string) (string, error) {
	kp, err := ReadOperatorSeed(path)
	if errors.Is(err, fs.ErrNotExist) {
		if kp, err = nkeys.CreateUser(); err != nil {
			return "", fmt.Errorf("bus: operator nkey: %w", err)
		}
		seed, _ := kp.Seed()
		err = writeNew(path, append(seed, '\n'))
		switch {
		case errors.Is(err, fs.ErrExist):
			// Another process created it first: use theirs.
			kp, err = ReadOperatorSeed(path)
		case err != nil:
			return "", fmt.Errorf("bus: operator nkey: %w", err)
		}
	}
	if err != nil {
		return "", err
	}
	return kp.PublicKey()
}

// ReadOperatorSeed reads the operator's nkey seed from path; the file must
// be readable by its owner only.
func ReadOperatorSeed(path string) (nkeys.KeyPair, error) {
	return ReadSeedFile(path, "bus: operator nkey", "a user nkey seed", nkeys.IsValidPublicUserKey)
}

// ReadSeedFile reads an nkey seed from path, a file readable by its owner
// only, whose public key valid accepts (want says what it must be, what
// names the file in errors).
func ReadSeedFile(path, what, want string, valid func(string) bool) (nkeys.KeyPair, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s %s: mode %04o lets others read it; chmod 600 it", what, path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(b))))
	if err != nil {
		return nil, fmt.Errorf("%s %s: not an nkey seed", what, path)
	}
	if pub, err := kp.PublicKey(); err != nil || !valid(pub) {
		return nil, fmt.Errorf("%s %s: want %s", what, path, want)
	}
	return kp, nil
}

// writeNew writes data to a new file at path, mode 0600, failing with
// fs.ErrExist when the file exists.
func writeNew(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".operator-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// A hard link fails when path exists, so no seed is ever replaced,
	// and a reader never sees half a seed.
	err = os.Link(tmp.Name(), path)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	// A file system without hard links: create it exclusively instead.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// WithOperator admits the operator's user nkey (OperatorKey) to the
// embedded server with one permission: to subscribe to the event stream of
// realm (channel.EventsSubject). It publishes nothing and reads no request,
// decision or reply.
func WithOperator(nkey, realm string) ServerOption {
	return func(e *Embedded) {
		e.auth.operator = nkey
		e.auth.operatorPerms = operatorPermissions(realm)
	}
}

// operatorPermissions are those of the operator's connection.
func operatorPermissions(realm string) *server.Permissions {
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Deny: []string{">"}},
		Subscribe: &server.SubjectPermission{Allow: []string{channel.EventsSubject(realm)}},
	}
}

// EventsWatched returns a function that reports whether any connection
// subscribes to the event stream of realm, so that nothing is encoded or
// sent when nobody watches (bus.Config.EventsWatched). It asks the
// server's subscription index, which caches its answers.
func (e *Embedded) EventsWatched(realm string) func() bool {
	acc := e.GlobalAccount()
	subj := channel.EventsSubject(realm)
	return func() bool { return acc.SubscriptionInterest(subj) }
}
