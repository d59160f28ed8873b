package registry

import (
	"crypto/x509"
	"os"
	"testing"
	"time"
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

// TestClientCAPoolListsOnlyOnChange: with cas/ unchanged (and settled, see
// dirSettle), ClientCAPool does not list the directory again; a CA created
// by another Dir or removed by hand changes it, and takes effect at the
// next call.
func TestClientCAPoolListsOnlyOnChange(t *testing.T) {
	clock := newClock()
	reader := openDir(t, clock)
	initDir(t, reader)
	writer := openPath(t, reader.Path(), clock)
	lists := 0
	reader.readDir = func(name string) ([]os.DirEntry, error) { lists++; return os.ReadDir(name) }
	settle := func() {
		t.Helper()
		old := time.Now().Add(-time.Minute)
		if err := os.Chtimes(reader.file(casDir), old, old); err != nil {
			t.Fatal(err)
		}
	}
	pool := func() *x509.CertPool {
		t.Helper()
		p, err := reader.ClientCAPool()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	settle()
	pool()
	before := lists
	for range 10 {
		pool()
	}
	if lists != before {
		t.Fatalf("cas/ listed %d times while unchanged", lists-before)
	}
	team, err := writer.CreateCA("team")
	if err != nil {
		t.Fatal(err)
	}
	cert, _, err := team.IssueClient(mustName(t, "CN=late"), caOpts())
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyClient(t, cert, pool(), clock.Now()); err != nil {
		t.Fatalf("a CA created by another Dir is not trusted at the next call: %v", err)
	}
	settle()
	pool()
	if err := os.RemoveAll(reader.caDir("team")); err != nil {
		t.Fatal(err)
	}
	if err := verifyClient(t, cert, pool(), clock.Now()); err == nil {
		t.Fatal("a CA removed by hand is still trusted at the next call")
	}
}
