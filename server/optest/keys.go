package optest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/cibalab/cibalab/shared/pki"
)

// signingKeyFiles are the PEM files of the token signing keys, by their
// path in a state directory (see package state: keys/rs256.pem and
// keys/es256.pem).
type signingKeyFiles map[string][]byte

// sharedSigningKeys generates the signing keys once per test binary: an
// RSA 2048 key takes tens of milliseconds to generate (more under -race),
// far more than the rest of a server's start. It is computed once and
// never changed afterwards.
var sharedSigningKeys = sync.OnceValues(func() (signingKeyFiles, error) {
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	es, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	files := signingKeyFiles{}
	for path, key := range map[string]any{"keys/rs256.pem": rs, "keys/es256.pem": es} {
		if files[path], err = pki.EncodePrivateKeyPEM(key); err != nil {
			return nil, err
		}
	}
	return files, nil
})

// writeSigningKeys puts the shared signing keys into the new state
// directory dir, where the OP's initialisation finds and keeps them.
func writeSigningKeys(dir string) error {
	files, err := sharedSigningKeys()
	if err != nil {
		return fmt.Errorf("optest: signing keys: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		return fmt.Errorf("optest: %w", err)
	}
	for rel, data := range files {
		if err := pki.WriteSecretFile(filepath.Join(dir, filepath.FromSlash(rel)), data); err != nil {
			return fmt.Errorf("optest: %w", err)
		}
	}
	return nil
}
