package registry

import (
	"errors"
	"testing"

	"github.com/cibalab/cibalab/shared/oauth"
)

// TestUpdateRemoveClient: an update replaces the metadata and keeps the
// creation time; an invalid update and an unknown id change nothing; a
// removed client is gone.
func TestUpdateRemoveClient(t *testing.T) {
	d := openDir(t, nil)
	initDir(t, d)
	if err := d.AddClient(Client{ID: "shop", SubjectDN: "CN=shop"}); err != nil {
		t.Fatal(err)
	}
	before, _ := d.Client("shop")
	if err := d.UpdateClient(Client{ID: "shop", Name: "Shop", SubjectDN: "CN=shop2"}); err != nil {
		t.Fatalf("UpdateClient: %v", err)
	}
	after, err := d.Client("shop")
	if err != nil || after.Name != "Shop" || after.SubjectDN != "CN=shop2" || !after.CreatedAt.Equal(before.CreatedAt) || after.DeliveryMode != oauth.ModePoll {
		t.Fatalf("after update: %+v, %v", after, err)
	}
	if err := d.UpdateClient(Client{ID: "shop", DeliveryMode: oauth.ModePing}); err == nil {
		t.Fatal("an update without a notification endpoint for ping was accepted")
	}
	if got, _ := d.Client("shop"); got.DeliveryMode != oauth.ModePoll {
		t.Fatalf("a refused update changed the client: %+v", got)
	}
	if err := d.UpdateClient(Client{ID: "nobody", SubjectDN: "CN=x"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of an unknown client: %v", err)
	}
	if err := d.RemoveClient("shop"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Client("shop"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed client: %v", err)
	}
	if err := d.RemoveClient("shop"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second removal: %v", err)
	}
}

// TestUpdateRemoveUser: an update changes what it names, a new password
// authenticates and the old one no more; removing a user revokes their
// devices.
func TestUpdateRemoveUser(t *testing.T) {
	d := openDir(t, nil)
	initDir(t, d)
	if err := d.AddUser(User{ID: "alice", Name: "Alice"}, "old"); err != nil {
		t.Fatal(err)
	}
	name, pw, empty := "Alice B", "new", ""
	u, err := d.UpdateUser("alice", UserUpdate{Name: &name, Password: &pw})
	if err != nil || u.Name != name {
		t.Fatalf("UpdateUser: %+v, %v", u, err)
	}
	if _, err := d.Authenticate("alice", "old"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("the old password still works: %v", err)
	}
	if _, err := d.Authenticate("alice", "new"); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	if _, err := d.UpdateUser("alice", UserUpdate{Password: &empty}); err == nil {
		t.Fatal("an empty password was accepted")
	}
	if _, err := d.UpdateUser("bob", UserUpdate{Name: &name}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of an unknown user: %v", err)
	}
	dev, err := d.EnrollDevice(testDevice(t, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := d.RemoveUser("alice")
	if err != nil || len(revoked) != 1 || revoked[0] != dev.ID {
		t.Fatalf("RemoveUser: %v, %v", revoked, err)
	}
	if got, _ := d.Device(dev.ID); !got.Revoked() {
		t.Fatal("the removed user's device is not revoked")
	}
	if _, err := d.User("alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed user: %v", err)
	}
	if _, err := d.RemoveUser("alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second removal: %v", err)
	}
}
