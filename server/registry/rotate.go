package registry

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/cibalab/cibalab/shared/pki"
)

// publishedDir holds the public keys published in the JWKS beside the
// active signing keys: keys/published/<alg>-<id>.pem, PEM "PUBLIC KEY".
const publishedDir = "keys/published"

// PublishedKeys returns the public keys to publish in the JWKS beside the
// active signing keys (RFC 7517 §5): the keys RotateSigningKeys retired,
// whose tokens may still be in use. Sorted by document name.
func (d *Dir) PublishedKeys() ([]crypto.PublicKey, error) {
	var names []string
	if d.js != nil {
		names = d.js.names(publishedDir + "/")
	} else {
		entries, err := d.readDir(d.file(publishedDir))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("registry: %w", err)
		}
		for _, e := range entries {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".pem") {
				names = append(names, publishedDir+"/"+e.Name())
			}
		}
	}
	slices.Sort(names)
	var out []crypto.PublicKey
	for _, name := range names {
		var data []byte
		var err error
		if d.js != nil {
			data, _, err = d.js.current(name)
		} else {
			data, err = os.ReadFile(d.file(name))
		}
		if err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
		if data == nil {
			continue
		}
		block, _ := pem.Decode(data)
		if block == nil || block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("registry: %s: not a PEM public key", d.where(name))
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("registry: %s: %w", d.where(name), err)
		}
		out = append(out, pub)
	}
	return out, nil
}

// RotateSigningKeys replaces both signing keys with new ones and keeps
// the old ones' public keys published (PublishedKeys), so that tokens
// they signed still verify. It returns a report line per key. A running
// OP loads its keys at start: restart every OP after a rotation.
func (d *Dir) RotateSigningKeys() ([]string, error) {
	var lines []string
	err := d.withLock(func() error {
		lines = nil // a retried writer starts again
		for _, k := range []struct {
			rel, alg string
			gen      func() (crypto.Signer, error)
		}{
			{rs256File, "RS256", func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) }},
			{es256File, "ES256", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }},
		} {
			line, err := d.rotateLocked(k.rel, k.alg, k.gen)
			if err != nil {
				return err
			}
			lines = append(lines, line)
		}
		return nil
	})
	return lines, err
}

// rotateLocked publishes the public part of the active key rel and
// replaces it with a new one.
func (d *Dir) rotateLocked(rel, alg string, gen func() (crypto.Signer, error)) (string, error) {
	var old any
	var err error
	if d.js != nil {
		data, rerr := d.js.read(rel)
		if rerr != nil {
			return "", rerr
		}
		if data == nil {
			return "", fmt.Errorf("registry: %s: %w (run ciba-op init)", d.where(rel), ErrNotFound)
		}
		old, err = parseKey(d.where(rel), data)
	} else {
		old, err = d.loadKey(rel)
	}
	if err != nil {
		return "", err
	}
	signer, ok := old.(crypto.Signer)
	if !ok {
		return "", fmt.Errorf("registry: %s is not a signing key", d.where(rel))
	}
	der, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		return "", fmt.Errorf("registry: %w", err)
	}
	sum := sha256.Sum256(der)
	pubName := path.Join(publishedDir, strings.ToLower(alg)+"-"+hex.EncodeToString(sum[:8])+".pem")
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	key, err := gen()
	if err != nil {
		return "", fmt.Errorf("registry: generate key: %w", err)
	}
	keyPEM, err := pki.EncodePrivateKeyPEM(key)
	if err != nil {
		return "", fmt.Errorf("registry: %w", err)
	}
	if d.js != nil {
		if have, err := d.js.read(pubName); err != nil {
			return "", err
		} else if have == nil {
			if _, err := d.js.write(pubName, pubPEM); err != nil {
				return "", err
			}
		}
		if _, err := d.js.write(rel, keyPEM); err != nil {
			return "", err
		}
	} else {
		if err := os.MkdirAll(d.file(publishedDir), 0o700); err != nil {
			return "", fmt.Errorf("registry: %w", err)
		}
		if err := pki.WritePublicFile(d.file(pubName), pubPEM); err != nil {
			return "", fmt.Errorf("registry: %w", err)
		}
		if err := pki.WriteSecretFile(d.file(rel), keyPEM); err != nil {
			return "", fmt.Errorf("registry: %w", err)
		}
	}
	d.log.Info("registry.signing_key_rotated", "alg", alg, "published", d.where(pubName))
	return fmt.Sprintf("token signing key %s replaced: %s; the old one stays published: %s", alg, d.where(rel), d.where(pubName)), nil
}
