package registry

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cibalab/cibalab/shared/pki"
)

// testClock is a settable clock safe for concurrent use.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *testClock { return &testClock{t: time.Now().UTC().Truncate(time.Second)} }

// openDir opens a fresh state directory with a cheap password hash.
func openDir(t testing.TB, clock *testClock) *Dir {
	t.Helper()
	return openPath(t, filepath.Join(t.TempDir(), "state"), clock)
}

func openPath(t testing.TB, path string, clock *testClock) *Dir {
	t.Helper()
	if clock == nil {
		clock = newClock()
	}
	d, err := Open(path, Config{Now: clock.Now, PasswordIterations: 2})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return d
}

func initDir(t testing.TB, d *Dir) *InitReport {
	t.Helper()
	r, err := d.Init(InitOptions{})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	return r
}

func wantMode(t testing.TB, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %o, want %o", path, got, want)
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// verifyClient checks that cert chains to pool for client authentication.
func verifyClient(t testing.TB, cert *x509.Certificate, pool *x509.CertPool, now time.Time) error {
	t.Helper()
	_, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err
}

func loadP12(t testing.TB, path, passFile string) *x509.Certificate {
	t.Helper()
	tc, err := pki.LoadPKCS12File(path, strings.TrimSuffix(readFile(t, passFile), "\n"))
	if err != nil {
		t.Fatalf("LoadPKCS12File: %v", err)
	}
	return tc.Leaf
}
