package registry

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/shared/oauth"
)

func tlsClient(id string, set func(c *Client)) Client {
	c := Client{ID: id, TokenEndpointAuthMethod: oauth.AuthTLSClient}
	set(&c)
	return c
}

func TestIdentifierRegisteredTwiceIsRefused(t *testing.T) {
	d := openDir(t, nil)
	for _, c := range []Client{
		tlsClient("shop", func(c *Client) { c.SubjectDN = "CN=shop,O=Example" }),
		tlsClient("dns", func(c *Client) { c.SANDNS = "client.example" }),
		tlsClient("ip", func(c *Client) { c.SANIP = "2001:db8::1" }),
		tlsClient("mail", func(c *Client) { c.SANEmail = "a@Example.org" }),
	} {
		if err := d.AddClient(c); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []Client{
		tlsClient("shop2", func(c *Client) { c.SubjectDN = "cn=SHOP, o=Example" }),
		tlsClient("dns2", func(c *Client) { c.SANDNS = "CLIENT.example" }),
		tlsClient("ip2", func(c *Client) { c.SANIP = "2001:db8:0::1" }),
		tlsClient("mail2", func(c *Client) { c.SANEmail = "a@example.ORG" }),
	} {
		err := d.AddClient(c)
		if !errors.Is(err, ErrIdentifierTaken) || !strings.Contains(err.Error(), "already registered to client") {
			t.Errorf("AddClient(%s) = %v, want ErrIdentifierTaken", c.ID, err)
		}
		if _, err := d.Client(c.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s was registered: %v", c.ID, err)
		}
	}
	// Another DN, or the same one after the first client moved, is fine.
	if err := d.AddClient(tlsClient("other", func(c *Client) { c.SubjectDN = "CN=other" })); err != nil {
		t.Fatal(err)
	}
	if err := d.UpdateClient(tlsClient("other", func(c *Client) { c.SubjectDN = "CN=shop,O=Example" })); !errors.Is(err, ErrIdentifierTaken) {
		t.Fatalf("UpdateClient to a taken DN: %v", err)
	}
}

func TestUpdateAndRemoveClient(t *testing.T) {
	clock := newClock()
	d := openDir(t, clock)
	if err := d.AddClient(tlsClient("shop", func(c *Client) { c.SubjectDN = "CN=shop" })); err != nil {
		t.Fatal(err)
	}
	before, _ := d.Client("shop")
	clock.Advance(time.Hour)
	upd := before.clone()
	upd.DeliveryMode, upd.NotificationEndpoint = oauth.ModePing, "https://shop.example/cb"
	if err := d.UpdateClient(upd); err != nil {
		t.Fatal(err)
	}
	got, _ := d.Client("shop")
	if got.DeliveryMode != oauth.ModePing || !got.CreatedAt.Equal(before.CreatedAt) {
		t.Fatalf("after update: %+v", got)
	}
	bad := got.clone()
	bad.NotificationEndpoint = ""
	if err := d.UpdateClient(bad); err == nil {
		t.Fatal("an invalid update was accepted")
	}
	if got, _ := d.Client("shop"); got.NotificationEndpoint != "https://shop.example/cb" {
		t.Fatal("a refused update changed the client")
	}
	if err := d.UpdateClient(tlsClient("nobody", func(c *Client) {
		c.SubjectDN = "CN=x"
		c.DeliveryMode = oauth.ModePoll
		c.GrantTypes = []string{oauth.GrantTypeCIBA}
	})); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update unknown: %v", err)
	}
	if err := d.RemoveClient("shop"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Client("shop"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed client still there: %v", err)
	}
	if err := d.RemoveClient("shop"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove twice: %v", err)
	}
}

func TestUpdateAndRemoveUser(t *testing.T) {
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
	if err != nil || len(revoked) != 1 || revoked[0].ID != dev.ID {
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

func TestRemoveCA(t *testing.T) {
	d := openDir(t, nil)
	initDir(t, d)
	if _, err := d.CreateCA("partner"); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveCA(DefaultCAName); err == nil {
		t.Fatal("removed the default CA")
	}
	if err := d.RemoveCA("partner"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CA("partner"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed CA still there: %v", err)
	}
	if err := d.RemoveCA("partner"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove twice: %v", err)
	}
}

func TestIssueRefusesToOutliveTheCA(t *testing.T) {
	clock := newClock()
	d := openDir(t, clock)
	initDir(t, d)
	root, err := d.CA(DefaultCAName)
	if err != nil {
		t.Fatal(err)
	}
	left := root.Cert.NotAfter.Sub(clock.Now())
	_, err = d.IssueClientCert(DefaultClientID, IssueOptions{Validity: left + time.Hour, Password: "p"})
	if err == nil || !strings.Contains(err.Error(), "outlive") {
		t.Fatalf("IssueClientCert beyond the CA = %v", err)
	}
	if _, err := d.IssueClientCert(DefaultClientID, IssueOptions{Validity: left - time.Hour, Password: "p"}); err != nil {
		t.Fatalf("within the CA: %v", err)
	}
}
