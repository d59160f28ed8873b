package bus

import (
	"crypto/subtle"
	"encoding/base64"
	"slices"
	"sync"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/cibalab/cibalab/shared/channel"
)

// maxConnsPerNKey bounds the client ids remembered for one device nkey (to
// disconnect them on revocation); a device holds one or two connections at
// a time, the older ids are of connections already gone.
const maxConnsPerNKey = 16

// authenticator decides, for the embedded server, who may connect and
// with which permissions (server.Authentication):
//
//   - the OP's own connection, user opUser with the password generated at
//     start: every permission;
//   - an enrolled device, or an nkey admitted to enroll, by its user nkey
//     and a signature of the server's nonce: the permissions of its
//     DeviceGrant;
//   - the operator, by its user nkey (WithOperator): subscribe to the
//     event stream, and nothing else;
//   - a connection without any credentials: publish an EnrollHello, and
//     nothing else;
//   - anything else is refused.
//
// Grants change without a server reload (setDevices), and the connections
// of a device whose grant is withdrawn are returned to be disconnected.
type authenticator struct {
	opPassword string
	// operator is the operator's public nkey, "" when none; set before
	// the server starts.
	operator      string
	operatorPerms *server.Permissions

	mu      sync.Mutex
	devices []DeviceGrant                  // the grants, normalised
	perms   map[string]*server.Permissions // nkey → its permissions
	conns   map[string][]uint64            // nkey → client ids admitted with it
}

func newAuthenticator(opPassword string) *authenticator {
	return &authenticator{opPassword: opPassword, perms: map[string]*server.Permissions{}, conns: map[string][]uint64{}}
}

// enrollPermissions are those of a connection without credentials.
func enrollPermissions() *server.Permissions {
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{channel.EnrollSubject("*")}},
		Subscribe: &server.SubjectPermission{Deny: []string{">"}},
	}
}

// Check implements server.Authentication. The user is registered without
// a name: the server then leaves the client's connect options alone.
func (a *authenticator) Check(c server.ClientAuthentication) bool {
	if c.Kind() != server.CLIENT {
		return false
	}
	o := c.GetOpts()
	switch {
	case o.Nkey != "":
		return a.checkNKey(c, o.Nkey, o.Sig)
	case o.JWT != "" || o.Token != "":
		return false
	case o.Username == opUser:
		if subtle.ConstantTimeCompare([]byte(o.Password), []byte(a.opPassword)) != 1 {
			return false
		}
		c.RegisterUser(&server.User{}) // no permissions listed: every permission
		return true
	case o.Username == "" && o.Password == "":
		c.RegisterUser(&server.User{Permissions: enrollPermissions()})
		return true
	}
	return false
}

// checkNKey admits a client that signed the server's nonce with the seed
// of a granted nkey (the check nats-server makes for configured nkeys).
func (a *authenticator) checkNKey(c server.ClientAuthentication, nkey, sig string) bool {
	if !nkeys.IsValidPublicUserKey(nkey) {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		if raw, err = base64.StdEncoding.DecodeString(sig); err != nil {
			return false
		}
	}
	pub, err := nkeys.FromPublicKey(nkey)
	nonce := c.GetNonce()
	if err != nil || len(nonce) == 0 || pub.Verify(nonce, raw) != nil {
		return false
	}
	if a.operator != "" && nkey == a.operator {
		c.RegisterUser(&server.User{Permissions: a.operatorPerms})
		return true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	perms, ok := a.perms[nkey]
	if !ok {
		return false
	}
	ids := append(a.conns[nkey], c.GetID())
	if len(ids) > maxConnsPerNKey {
		ids = ids[len(ids)-maxConnsPerNKey:]
	}
	a.conns[nkey] = ids
	// Registered under a.mu, so a withdrawal either finds this client's id
	// or is seen by Check first.
	c.RegisterUser(&server.User{Permissions: perms})
	return true
}

// covers reports whether grant g allows every subject that old allowed.
func covers(g, old DeviceGrant) bool {
	for _, p := range old.Publish {
		if !slices.Contains(g.Publish, p) {
			return false
		}
	}
	for _, p := range old.Subscribe {
		if !slices.Contains(g.Subscribe, p) {
			return false
		}
	}
	return true
}

// setDevices replaces the grants and returns the client ids of the
// connections to close: those of nkeys no longer granted, or granted less
// than before.
func (a *authenticator) setDevices(grants []DeviceGrant) []uint64 {
	grants = normalise(grants)
	a.mu.Lock()
	defer a.mu.Unlock()
	if grantsEqual(a.devices, grants) {
		return nil
	}
	next := make(map[string]*server.Permissions, len(grants))
	kept := make(map[string]DeviceGrant, len(grants))
	for _, g := range grants {
		next[g.NKey] = &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: slices.Clone(g.Publish)},
			Subscribe: &server.SubjectPermission{Allow: slices.Clone(g.Subscribe)},
		}
		kept[g.NKey] = g
	}
	var closeIDs []uint64
	for _, old := range a.devices {
		if g, ok := kept[old.NKey]; ok && covers(g, old) {
			// Still granted, at least as much: its connections keep
			// the permissions they have (an enrolling device's grows
			// into a device's; it reconnects for them).
			continue
		}
		closeIDs = append(closeIDs, a.conns[old.NKey]...)
		delete(a.conns, old.NKey)
	}
	a.devices, a.perms = grants, next
	return closeIDs
}
