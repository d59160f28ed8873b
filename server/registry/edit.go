package registry

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"

	"github.com/cibalab/cibalab/server/dn"
	"github.com/cibalab/cibalab/shared/oauth"
)

// ErrIdentifierTaken reports a tls_client_auth certificate identifier (a
// subject DN or a subject alternative name) already registered to another
// client: one certificate would then authenticate as both (RFC 8705 §2.1.2).
var ErrIdentifierTaken = errors.New("registry: certificate identifier already registered")

// identifierConflict returns the client of list, other than c itself,
// registered with the certificate identifier of c, if any: an equal
// subject DN (RFC 4514 matching, package dn) or the same SAN of the same
// type (DNS names and e-mail domains compared without case).
func identifierConflict(list []Client, c Client) error {
	if c.TokenEndpointAuthMethod != oauth.AuthTLSClient {
		return nil
	}
	for _, o := range list {
		if o.ID == c.ID || o.TokenEndpointAuthMethod != oauth.AuthTLSClient {
			continue
		}
		var what string
		switch {
		case c.SubjectDN != "" && o.SubjectDN != "" && sameDN(c.SubjectDN, o.SubjectDN):
			what = "subject DN " + o.SubjectDN
		case c.SANDNS != "" && strings.EqualFold(c.SANDNS, o.SANDNS):
			what = "DNS name " + o.SANDNS
		case c.SANURI != "" && c.SANURI == o.SANURI:
			what = "URI " + o.SANURI
		case c.SANIP != "" && o.SANIP != "" && net.ParseIP(c.SANIP).Equal(net.ParseIP(o.SANIP)):
			what = "IP address " + o.SANIP
		case c.SANEmail != "" && o.SANEmail != "" && sameEmail(c.SANEmail, o.SANEmail):
			what = "e-mail address " + o.SANEmail
		default:
			continue
		}
		return &identifierTakenError{fmt.Sprintf("registry: client %s: the %s is already registered to client %s, so one certificate would authenticate as both; give another, or remove or update %s first",
			c.ID, what, o.ID, o.ID)}
	}
	return nil
}

// identifierTakenError is ErrIdentifierTaken with the clients it concerns.
type identifierTakenError struct{ msg string }

func (e *identifierTakenError) Error() string        { return e.msg }
func (e *identifierTakenError) Is(target error) bool { return target == ErrIdentifierTaken }

func sameDN(a, b string) bool {
	da, err := dn.Parse(a)
	if err != nil {
		return false
	}
	db, err := dn.Parse(b)
	if err != nil {
		return false
	}
	return da.Equal(db)
}

// sameEmail compares the local parts exactly and the domains without case
// (RFC 5280 §7.5).
func sameEmail(a, b string) bool {
	al, ad, _ := strings.Cut(a, "@")
	bl, bd, _ := strings.Cut(b, "@")
	return al == bl && strings.EqualFold(ad, bd)
}

// UpdateClient replaces the registered client c.ID with c, keeping its
// creation time; empty fields get the defaults of [Dir.AddClient]. The result must pass [Client.Validate] and its certificate
// identifier must not be another client's; an unknown id gives an error
// wrapping ErrNotFound. A running server sees the change at once.
func (d *Dir) UpdateClient(c Client) error {
	return d.withLock(func() error {
		c = c.clone()
		applyClientDefaults(&c)
		if err := c.Validate(); err != nil {
			return err
		}
		path := clientsFile
		list, err := readDoc[clientList](d, path)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(list.Clients, func(e Client) bool { return e.ID == c.ID })
		if i < 0 {
			return fmt.Errorf("registry: client %q: %w", c.ID, ErrNotFound)
		}
		if err := identifierConflict(list.Clients, c); err != nil {
			return err
		}
		c.CreatedAt = list.Clients[i].CreatedAt
		list.Clients[i] = c
		if err := saveDoc(d, path, &d.clients, list); err != nil {
			return err
		}
		d.log.Info("registry.client_updated", "client_id", c.ID)
		return nil
	})
}

// RemoveClient removes the client id; an unknown id gives an error
// wrapping ErrNotFound. Certificates issued to it stop authenticating at
// once in a running server, since no client matches them any more.
func (d *Dir) RemoveClient(id string) error {
	return d.withLock(func() error {
		path := clientsFile
		list, err := readDoc[clientList](d, path)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(list.Clients, func(e Client) bool { return e.ID == id })
		if i < 0 {
			return fmt.Errorf("registry: client %q: %w", id, ErrNotFound)
		}
		list.Clients = slices.Delete(list.Clients, i, i+1)
		if err := saveDoc(d, path, &d.clients, list); err != nil {
			return err
		}
		d.log.Info("registry.client_removed", "client_id", id)
		return nil
	})
}

// UserUpdate is a change to a user; nil fields are left as they are.
type UserUpdate struct {
	Name, Email *string
	// Password, when not nil, must not be empty.
	Password *string
}

// UpdateUser changes the user id as u says and returns the user. An
// unknown id gives an error wrapping ErrNotFound; nothing is written on an
// error.
func (d *Dir) UpdateUser(id string, u UserUpdate) (User, error) {
	var out User
	err := d.withLock(func() error {
		path := usersFile
		list, err := readDoc[userList](d, path)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(list.Users, func(e User) bool { return e.ID == id })
		if i < 0 {
			return fmt.Errorf("registry: user %q: %w", id, ErrNotFound)
		}
		user := list.Users[i]
		if u.Name != nil {
			user.Name = *u.Name
		}
		if u.Email != nil {
			user.Email = *u.Email
		}
		if u.Password != nil {
			if *u.Password == "" {
				return fmt.Errorf("registry: user %s: empty password", id)
			}
			if user.PasswordHash, err = hashPassword(*u.Password, d.iterations); err != nil {
				return err
			}
		}
		list.Users[i] = user
		if err := saveDoc(d, path, &d.users, list); err != nil {
			return err
		}
		d.log.Info("registry.user_updated", "user", id, "password_changed", u.Password != nil)
		out = user
		return nil
	})
	return out, err
}

// RemoveUser removes the user id and revokes every device enrolled for
// them, so none can decide any more, and returns the revoked devices. An
// unknown id gives an error wrapping ErrNotFound.
func (d *Dir) RemoveUser(id string) ([]Device, error) {
	var revoked []Device
	err := d.withLock(func() error {
		revoked = nil // a retried writer starts again
		path := usersFile
		list, err := readDoc[userList](d, path)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(list.Users, func(e User) bool { return e.ID == id })
		if i < 0 {
			return fmt.Errorf("registry: user %q: %w", id, ErrNotFound)
		}
		devs, err := d.readDevices()
		if err != nil {
			return err
		}
		now := d.now().UTC()
		for j := range devs.Devices {
			if devs.Devices[j].User == id && !devs.Devices[j].Revoked() {
				devs.Devices[j].RevokedAt = &now
				revoked = append(revoked, devs.Devices[j])
			}
		}
		if len(revoked) > 0 {
			if err := saveDoc(d, devicesFile, &d.devices, devs); err != nil {
				return err
			}
		}
		list.Users = slices.Delete(list.Users, i, i+1)
		if err := saveDoc(d, path, &d.users, list); err != nil {
			return err
		}
		d.log.Info("registry.user_removed", "user", id, "devices_revoked", len(revoked))
		return nil
	})
	return revoked, err
}

// RemoveCA stops trusting the CA name for client certificates by deleting
// its directory (its key included). The default CA, which also issues the
// server's and the notification endpoints' certificates, cannot be
// removed; an unknown name gives an error wrapping ErrNotFound.
func (d *Dir) RemoveCA(name string) error {
	if err := checkCAName(name); err != nil {
		return err
	}
	if name == DefaultCAName {
		return fmt.Errorf("registry: certificate authority %q is the default one, which issues the server's certificate; it cannot be removed", name)
	}
	if d.js != nil {
		return d.withLock(func() error { return d.removeCAJetStream(name) })
	}
	return d.withLock(func() error {
		dir := d.caDir(name)
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("registry: certificate authority %q: %w", name, ErrNotFound)
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("registry: %w", err)
		}
		d.log.Info("registry.ca_removed", "ca", name)
		return nil
	})
}
