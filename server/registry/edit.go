package registry

import (
	"fmt"
	"slices"
	"strings"
)

// This file holds the changes to registered clients and users after their
// registration: update and removal. Like the additions, they hold the
// state directory's lock and write atomically, so a running OP sees them
// at its next request.

// UpdateClient replaces the metadata of the registered client c.ID with
// c, keeping its CreatedAt. Empty TokenEndpointAuthMethod, DeliveryMode
// and GrantTypes get the defaults of [Dir.AddClient], and the result must
// pass [Client.Validate]. An unknown id gives an error wrapping
// ErrNotFound; nothing is written on an error.
func (d *Dir) UpdateClient(c Client) error {
	return d.withLock(func() error {
		c = c.clone()
		applyClientDefaults(&c)
		if err := c.Validate(); err != nil {
			return err
		}
		path := d.file(clientsFile)
		list, err := readJSON[clientList](path)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(list.Clients, func(e Client) bool { return e.ID == c.ID })
		if i < 0 {
			return fmt.Errorf("registry: client %q: %w", c.ID, ErrNotFound)
		}
		c.CreatedAt = list.Clients[i].CreatedAt
		list.Clients[i] = c
		if err := save(d, path, &d.clients, list); err != nil {
			return err
		}
		d.log.Info("registry.client_updated", "client_id", c.ID)
		return nil
	})
}

// RemoveClient removes the registered client id: from the next request on,
// the OP authenticates it no more. Certificates issued to it stay valid
// certificates but name no client. An unknown id gives an error wrapping
// ErrNotFound.
func (d *Dir) RemoveClient(id string) error {
	return d.withLock(func() error {
		path := d.file(clientsFile)
		list, err := readJSON[clientList](path)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(list.Clients, func(e Client) bool { return e.ID == id })
		if i < 0 {
			return fmt.Errorf("registry: client %q: %w", id, ErrNotFound)
		}
		list.Clients = slices.Delete(list.Clients, i, i+1)
		if err := save(d, path, &d.clients, list); err != nil {
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
		path := d.file(usersFile)
		list, err := readJSON[userList](path)
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
		if err := save(d, path, &d.users, list); err != nil {
			return err
		}
		d.log.Info("registry.user_updated", "user", id, "password_changed", u.Password != nil)
		out = user
		return nil
	})
	return out, err
}

// RemoveUser removes the user id and revokes every device enrolled for
// them, so that none of them decides again (a user added later with the
// same id enrolls new devices). It returns the ids of the devices it
// revoked. An unknown id gives an error wrapping ErrNotFound.
func (d *Dir) RemoveUser(id string) (revoked []string, err error) {
	err = d.withLock(func() error {
		path := d.file(usersFile)
		list, err := readJSON[userList](path)
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
			if dev := &devs.Devices[j]; dev.User == id && !dev.Revoked() {
				dev.RevokedAt = &now
				revoked = append(revoked, dev.ID)
			}
		}
		// Devices first: a user without devices is harmless, devices
		// without a user would be a leftover.
		if len(revoked) > 0 {
			if err := save(d, d.file(devicesFile), &d.devices, devs); err != nil {
				return err
			}
		}
		list.Users = slices.Delete(list.Users, i, i+1)
		if err := save(d, path, &d.users, list); err != nil {
			return err
		}
		d.log.Info("registry.user_removed", "user", id, "devices_revoked", strings.Join(revoked, ","))
		return nil
	})
	return revoked, err
}
