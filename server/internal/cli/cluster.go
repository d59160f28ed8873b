package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/nkeys"

	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/pki"
)

// The files "ciba-op cluster keys" writes in its --dir.
const (
	clusterRegistryKey = "registry.key"
	clusterCalloutSeed = "callout.nk"
)

// runClusterKeys implements "ciba-op cluster keys": the two secrets every
// OP of a cluster shares, and the lines of the nats-server configuration
// that go with them (docs/deployment.md).
func runClusterKeys(ctx context.Context, e Env, args []string) int {
	cmd := newCommand("cluster keys", "cluster keys --dir DIR [flags]",
		"Creates the secrets the OPs of a NATS cluster share (docs/deployment.md), each\n"+
			"mode 0600 in DIR: "+clusterRegistryKey+", 32 random bytes that encrypt the private keys\n"+
			"in the JetStream registry (serve --registry-key-file), and "+clusterCalloutSeed+", the\n"+
			"account nkey seed that signs the OPs' answers to the NATS auth callout (serve\n"+
			"--nats-auth-callout-seed-file). It prints the authorization block of the\n"+
			"nats-server configuration that names them: the callout issuer, and an nkey\n"+
			"user whose seed is thrown away, so that the server sends the nonce devices sign.\n"+
			"Existing files are kept unless --force.")
	var dir string
	var force bool
	cmd.stringVar(&dir, "dir", "", "", "`DIR` to write the files in, created 0700 if missing (required)")
	cmd.boolVar(&force, "force", "replace files that exist (the OPs and the nats-server configuration must then change too)")
	if code, ok := cmd.parse(e, args); !ok {
		return code
	}
	if dir == "" {
		return cmd.usageError(e, "--dir is required")
	}
	keyPath, seedPath := filepath.Join(dir, clusterRegistryKey), filepath.Join(dir, clusterCalloutSeed)
	if !force {
		for _, p := range []string{keyPath, seedPath} {
			if _, err := os.Lstat(p); err == nil {
				return cmd.usageError(e, p+" exists: keep it, or give --force to replace it")
			} else if !errors.Is(err, os.ErrNotExist) {
				return cmd.fail(e, exitError, err)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return cmd.fail(e, exitError, err)
	}
	key := make([]byte, registry.KeyFileSize)
	if _, err := rand.Read(key); err != nil {
		return cmd.fail(e, exitError, err)
	}
	account, err := nkeys.CreateAccount()
	if err != nil {
		return cmd.fail(e, exitError, err)
	}
	seed, err := account.Seed()
	if err != nil {
		return cmd.fail(e, exitError, err)
	}
	issuer, err := account.PublicKey()
	if err != nil {
		return cmd.fail(e, exitError, err)
	}
	// Only the public key of this user is needed: its presence makes the
	// server send a nonce; nobody can connect as it.
	nonceUser, err := nkeys.CreateUser()
	if err != nil {
		return cmd.fail(e, exitError, err)
	}
	nonceUserKey, err := nonceUser.PublicKey()
	if err != nil {
		return cmd.fail(e, exitError, err)
	}
	for _, f := range []struct {
		path string
		data []byte
	}{{keyPath, []byte(base64.StdEncoding.EncodeToString(key) + "\n")}, {seedPath, append(seed, '\n')}} {
		if err := pki.WriteSecretFile(f.path, f.data); err != nil {
			return cmd.fail(e, exitError, err)
		}
	}
	fmt.Fprintf(e.Stdout, `wrote %s (0600): serve and the admin commands: --registry-key-file %s
wrote %s (0600): serve: --nats-auth-callout-seed-file %s
in every nats-server configuration (docs/deployment.md):
  authorization {
    users: [
      { user: ciba-op, password: $CIBA_OP_NATS_PASSWORD }
      { nkey: %s, permissions: { publish: { deny: ">" }, subscribe: { deny: ">" } } }
    ]
    auth_callout { issuer: %s, auth_users: [ ciba-op ] }
  }
`, keyPath, shellQuote(keyPath), seedPath, shellQuote(seedPath), nonceUserKey, issuer)
	return exitOK
}
