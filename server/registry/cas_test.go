package registry

import (
	"crypto/x509"
	"os"
	"testing"
)

// TestClientCAPoolVersion: ClientCAPool returns the same pool while the CAs
// are unchanged, and a new one (a new trust store version, which forgets
// op's remembered chain verifications) as soon as a CA is created, also by
// another process (another Dir on the same path), or removed.
func TestClientCAPoolVersion(t *testing.T) {
	clock := newClock()
	reader := openDir(t, clock)
	initDir(t, reader)
	writer := openPath(t, reader.Path(), clock)
	pool := func() *x509.CertPool {
		t.Helper()
		p, err := reader.ClientCAPool()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := pool()
	if pool() != first {
		t.Fatal("a new pool although no CA changed")
	}
	team, err := writer.CreateCA("team")
	if err != nil {
		t.Fatal(err)
	}
	added := pool()
	if added == first {
		t.Fatal("the same pool after another Dir created a CA")
	}
	cert, _, err := team.IssueClient(mustName(t, "CN=late"), caOpts())
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyClient(t, cert, added, clock.Now()); err != nil {
		t.Fatalf("the new CA is not in the new pool: %v", err)
	}
	if err := os.RemoveAll(reader.caDir("team")); err != nil {
		t.Fatal(err)
	}
	removed := pool()
	if removed == added {
		t.Fatal("the same pool after a CA was removed")
	}
	if err := verifyClient(t, cert, removed, clock.Now()); err == nil {
		t.Fatal("a removed CA is still trusted")
	}
}
