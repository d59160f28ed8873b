package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cibalab/cibalab/server/registry"
)

// TestClusterKeys: cluster keys writes the registry key and the callout
// seed 0600, in the forms serve reads, prints the nats-server lines that
// name them, and keeps existing files unless --force.
func TestClusterKeys(t *testing.T) {
	_, env := newStateDir(t)
	dir := filepath.Join(t.TempDir(), "keys")
	out := mustRun(t, env, "cluster", "keys", "--dir", dir).stdout
	keyPath, seedPath := filepath.Join(dir, clusterRegistryKey), filepath.Join(dir, clusterCalloutSeed)
	wantMode(t, keyPath, 0o600)
	wantMode(t, seedPath, 0o600)
	if key, err := registry.ReadKeyFile(keyPath); err != nil || len(key) != registry.KeyFileSize {
		t.Fatalf("registry key: %d bytes, %v", len(key), err)
	}
	kp, err := readCalloutSeed(seedPath)
	if err != nil {
		t.Fatalf("callout seed: %v", err)
	}
	issuer, _ := kp.PublicKey()
	if !strings.Contains(out, "auth_callout { issuer: "+issuer+", auth_users: [ ciba-op ] }") || !strings.Contains(out, "{ nkey: U") {
		t.Fatalf("configuration lines:\n%s", out)
	}
	seed, _ := os.ReadFile(seedPath)
	if strings.Contains(out, strings.TrimSpace(string(seed))) {
		t.Fatal("the seed was printed")
	}

	r := runMain(t, env, "", "cluster", "keys", "--dir", dir)
	if r.code != exitUsage || !strings.Contains(r.stderr, "exists") {
		t.Fatalf("second run without --force: exit %d: %s", r.code, r.stderr)
	}
	if again, _ := os.ReadFile(seedPath); string(again) != string(seed) {
		t.Fatal("the seed changed without --force")
	}
	mustRun(t, env, "cluster", "keys", "--dir", dir, "--force")
	if again, _ := os.ReadFile(seedPath); string(again) == string(seed) {
		t.Fatal("--force kept the old seed")
	}
	if r := runMain(t, env, "", "cluster", "keys"); r.code != exitUsage {
		t.Fatalf("without --dir: exit %d", r.code)
	}
}
