// Package registrytest is the conformance suite every registry backend
// runs: the state directory (registry.Open) and NATS JetStream
// (registry.OpenJetStream). Each case opens two handles on one registry,
// as two OPs or an OP and an admin command would, and checks what one
// handle sees of the other's changes.
package registrytest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/cibalab/cibalab/server/ca"
	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/pki"
)

// Open returns two handles on one fresh registry; the caller's cleanup
// closes them.
type Open func(t *testing.T) (a, b *registry.Dir)

// seenWithin is how long a change made through one handle may take to be
// seen through the other: immediate for files, a watcher's delivery for
// JetStream. Generous, as every bound in the tests.
const seenWithin = 5 * time.Second

// Run runs the suite against the backend open makes.
func Run(t *testing.T, open Open) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, a, b *registry.Dir)
	}{
		{"init creates once and both handles agree", testInit},
		{"clients: add, update, remove", testClients},
		{"users: add, authenticate, update, remove revokes devices", testUsers},
		{"devices: enroll, retry, revoke", testDevices},
		{"CAs: create, trust, remove", testCAs},
		{"a change through one handle is seen by the other", testWatch},
		{"signing keys rotate, the old ones stay published", testRotate},
		{"concurrent writers through two handles lose nothing", testConcurrent},
		{"one id added concurrently exists once", testSameID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := open(t)
			tc.run(t, a, b)
		})
	}
}

func testInit(t *testing.T, a, b *registry.Dir) {
	r, err := a.Init(registry.InitOptions{})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	if len(r.Created) == 0 {
		t.Fatal("Init created nothing in a fresh registry")
	}
	rsA, esA, err := a.SigningKeys()
	if err != nil {
		t.Fatalf("SigningKeys: %v", err)
	}
	rsB, esB, err := b.SigningKeys()
	if err != nil {
		t.Fatalf("SigningKeys through b: %v", err)
	}
	if !rsA.Equal(rsB) || !esA.Equal(esB) {
		t.Fatal("two handles see different signing keys")
	}
	if _, err := b.Client(registry.DefaultClientID); err != nil {
		t.Fatalf("default client through b: %v", err)
	}
	if _, err := b.Authenticate(registry.DefaultUser, registry.DefaultUserPassword); err != nil {
		t.Fatalf("default user through b: %v", err)
	}
	caA, err := a.CA(registry.DefaultCAName)
	if err != nil {
		t.Fatalf("CA: %v", err)
	}
	caB, err := b.CA(registry.DefaultCAName)
	if err != nil {
		t.Fatalf("CA through b: %v", err)
	}
	if !caA.Cert.Equal(caB.Cert) {
		t.Fatal("two handles see different default CAs")
	}
}

func testClients(t *testing.T, a, b *registry.Dir) {
	c := registry.Client{ID: "app", SubjectDN: "CN=app"}
	if err := a.AddClient(c); err != nil {
		t.Fatalf("AddClient: %v", err)
	}
	if err := b.AddClient(c); !errors.Is(err, registry.ErrExists) {
		t.Fatalf("AddClient twice: %v, want ErrExists", err)
	}
	if err := b.AddClient(registry.Client{ID: "bad", DeliveryMode: "carrier-pigeon", SubjectDN: "CN=bad"}); err == nil {
		t.Fatal("AddClient accepted an unknown delivery mode")
	}
	got := waitClient(t, b, "app", func(c *registry.Client) bool { return c != nil })
	if got.SubjectDN != "CN=app" || got.DeliveryMode != "poll" {
		t.Fatalf("client = %+v, want CN=app in poll mode", got)
	}
	got.Name = "App"
	if err := b.UpdateClient(*got); err != nil {
		t.Fatalf("UpdateClient: %v", err)
	}
	waitClient(t, a, "app", func(c *registry.Client) bool { return c != nil && c.Name == "App" })
	if err := a.RemoveClient("app"); err != nil {
		t.Fatalf("RemoveClient: %v", err)
	}
	waitClient(t, b, "app", func(c *registry.Client) bool { return c == nil })
	if err := b.RemoveClient("app"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("RemoveClient twice: %v, want ErrNotFound", err)
	}
	if list, err := b.Clients(); err != nil || len(list) != 0 {
		t.Fatalf("Clients = %v, %v; want none", list, err)
	}
}

func testUsers(t *testing.T, a, b *registry.Dir) {
	if err := a.AddUser(registry.User{ID: "alice", Name: "Alice"}, "s3cret"); err != nil {
		t.Fatalf("AddUser: %v", err)
	}
	if err := b.AddUser(registry.User{ID: "alice"}, "x"); !errors.Is(err, registry.ErrExists) {
		t.Fatalf("AddUser twice: %v, want ErrExists", err)
	}
	eventually(t, "alice authenticates through b", func() bool {
		u, err := b.Authenticate("alice", "s3cret")
		return err == nil && u.Name == "Alice"
	})
	if _, err := b.Authenticate("alice", "wrong"); !errors.Is(err, registry.ErrBadCredentials) {
		t.Fatalf("wrong password: %v, want ErrBadCredentials", err)
	}
	pw := "n3w"
	if _, err := b.UpdateUser("alice", registry.UserUpdate{Password: &pw}); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	eventually(t, "the new password works through a", func() bool {
		_, err := a.Authenticate("alice", "n3w")
		return err == nil
	})
	dev := enroll(t, a, "alice")
	removed, err := b.RemoveUser("alice")
	if err != nil {
		t.Fatalf("RemoveUser: %v", err)
	}
	if len(removed) != 1 || removed[0].ID != dev.ID {
		t.Fatalf("RemoveUser revoked devices %v, want %s", removed, dev.ID)
	}
	eventually(t, "alice gone and her device revoked through a", func() bool {
		_, uerr := a.User("alice")
		d, derr := a.Device(dev.ID)
		return errors.Is(uerr, registry.ErrNotFound) && derr == nil && d.Revoked()
	})
}

func testDevices(t *testing.T, a, b *registry.Dir) {
	if err := a.AddUser(registry.User{ID: "bob"}, "pw"); err != nil {
		t.Fatalf("AddUser: %v", err)
	}
	dev := enroll(t, a, "bob")
	again, err := b.EnrollDevice(registry.Device{User: "bob", Key: dev.Key, NKey: dev.NKey})
	if err != nil || again.ID != dev.ID {
		t.Fatalf("enroll again = %s, %v; want the same device %s", again.ID, err, dev.ID)
	}
	if _, err := b.EnrollDevice(registry.Device{User: "carol", Key: dev.Key, NKey: dev.NKey}); !errors.Is(err, registry.ErrExists) {
		t.Fatalf("enroll bob's keys for carol: %v, want ErrExists", err)
	}
	if _, err := b.RevokeDevice(dev.ID); err != nil {
		t.Fatalf("RevokeDevice: %v", err)
	}
	eventually(t, "the revocation seen through a", func() bool {
		d, err := a.Device(dev.ID)
		return err == nil && d.Revoked()
	})
	if _, err := a.EnrollDevice(registry.Device{User: "bob", Key: dev.Key, NKey: dev.NKey}); !errors.Is(err, registry.ErrDeviceRevoked) {
		t.Fatalf("enroll a revoked device's keys: %v, want ErrDeviceRevoked", err)
	}
}

func testCAs(t *testing.T, a, b *registry.Dir) {
	if _, err := a.ClientCAPool(); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("ClientCAPool without CAs: %v, want ErrNotFound", err)
	}
	lab, err := a.CreateCA("lab")
	if err != nil {
		t.Fatalf("CreateCA: %v", err)
	}
	if _, err := b.CreateCA("lab"); !errors.Is(err, registry.ErrExists) {
		t.Fatalf("CreateCA twice: %v, want ErrExists", err)
	}
	leaf, _, err := lab.IssueClient(pkixName("app"), caOpts())
	if err != nil {
		t.Fatalf("IssueClient: %v", err)
	}
	eventually(t, "b trusts the new CA", func() bool { return verifies(b, leaf) })
	got, err := b.CA("lab")
	if err != nil || !got.Key.Public().(*ecdsa.PublicKey).Equal(lab.Key.Public()) {
		t.Fatalf("CA through b: %v; want the same key", err)
	}
	if err := b.RemoveCA("lab"); err != nil {
		t.Fatalf("RemoveCA: %v", err)
	}
	eventually(t, "a stops trusting the removed CA", func() bool {
		_, err := a.ClientCAPool()
		return errors.Is(err, registry.ErrNotFound)
	})
	if _, err := a.CA("lab"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("CA after RemoveCA: %v, want ErrNotFound", err)
	}
	if _, err := a.CreateCA("lab"); err != nil {
		t.Fatalf("CreateCA after RemoveCA: %v", err)
	}
}

func testWatch(t *testing.T, a, b *registry.Dir) {
	// Read first, so b has a cached copy that must be replaced.
	if _, err := b.Clients(); err != nil {
		t.Fatal(err)
	}
	if err := a.AddClient(registry.Client{ID: "late", SubjectDN: "CN=late"}); err != nil {
		t.Fatal(err)
	}
	waitClient(t, b, "late", func(c *registry.Client) bool { return c != nil })
	if _, err := a.RevokeDevice("nope"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("RevokeDevice unknown: %v, want ErrNotFound", err)
	}
}

func testConcurrent(t *testing.T, a, b *registry.Dir) {
	const perHandle = 8
	var wg sync.WaitGroup
	errs := make(chan error, 2*perHandle)
	for h, d := range []*registry.Dir{a, b} {
		for i := range perHandle {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("c%d-%d", h, i)
				errs <- d.AddClient(registry.Client{ID: id, SubjectDN: "CN=" + id})
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("AddClient: %v", err)
		}
	}
	for _, d := range []*registry.Dir{a, b} {
		eventually(t, "every client seen", func() bool {
			list, err := d.Clients()
			return err == nil && len(list) == 2*perHandle
		})
	}
}

func testSameID(t *testing.T, a, b *registry.Dir) {
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		d := a
		if i%2 == 1 {
			d = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.AddUser(registry.User{ID: "dup"}, fmt.Sprintf("pw%d", i))
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, registry.ErrExists):
			t.Fatalf("AddUser: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent AddUser of one id succeeded, want 1", ok)
	}
}

// enroll enrolls a fresh device of user through d.
func enroll(t *testing.T, d *registry.Dir, user string) registry.Device {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := pki.PublicJWK(key.Public(), "", "ES256")
	if err != nil {
		t.Fatal(err)
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	dev, err := d.EnrollDevice(registry.Device{User: user, Name: "phone", Key: jwk, NKey: pub})
	if err != nil {
		t.Fatalf("EnrollDevice: %v", err)
	}
	return dev
}

// waitClient waits until ok holds for client id as d sees it (nil when
// unknown) and returns it.
func waitClient(t *testing.T, d *registry.Dir, id string, ok func(*registry.Client) bool) *registry.Client {
	t.Helper()
	var got *registry.Client
	eventually(t, "client "+id, func() bool {
		c, err := d.Client(id)
		if err != nil && !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("Client: %v", err)
		}
		got = c
		return ok(c)
	})
	return got
}

// eventually polls cond every 10 ms for at most seenWithin.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(seenWithin)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, seenWithin)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func pkixName(cn string) pkix.Name { return pkix.Name{CommonName: cn} }

func caOpts() ca.ClientCertOptions { return ca.ClientCertOptions{} }

// verifies reports whether d's client CA pool verifies leaf.
func verifies(d *registry.Dir, leaf *x509.Certificate) bool {
	pool, err := d.ClientCAPool()
	if err != nil {
		return false
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err == nil
}

func testRotate(t *testing.T, a, b *registry.Dir) {
	if _, err := a.Init(registry.InitOptions{}); err != nil {
		t.Fatal(err)
	}
	if pub, err := b.PublishedKeys(); err != nil || len(pub) != 0 {
		t.Fatalf("PublishedKeys before a rotation = %v, %v; want none", pub, err)
	}
	oldRS, oldES, err := a.SigningKeys()
	if err != nil {
		t.Fatal(err)
	}
	lines, err := b.RotateSigningKeys()
	if err != nil || len(lines) != 2 {
		t.Fatalf("RotateSigningKeys = %q, %v", lines, err)
	}
	eventually(t, "a sees the new keys and the old ones published", func() bool {
		rs, es, err := a.SigningKeys()
		if err != nil || rs.Equal(oldRS) || es.Equal(oldES) {
			return false
		}
		pub, err := a.PublishedKeys()
		if err != nil || len(pub) != 2 {
			return false
		}
		return slices.ContainsFunc(pub, func(k crypto.PublicKey) bool { return oldRS.PublicKey.Equal(k) }) &&
			slices.ContainsFunc(pub, func(k crypto.PublicKey) bool { return oldES.PublicKey.Equal(k) })
	})
}
