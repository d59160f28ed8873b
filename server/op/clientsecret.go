package op

import (
	"errors"

	"github.com/cibalab/cibalab/server/registry"
)

// verifyClientSecret implements client_secret_basic and client_secret_post
// (RFC 6749 §2.3.1): the secret's digest is compared in constant time with
// the registered one (registry.Client.CheckSecret). Shared secrets are here to
// show the contrast with mutual TLS, which CIBA Core 1.0 §7.2 recommends
// over them.
func verifyClientSecret(c *registry.Client, secret string) error {
	if !c.CheckSecret(secret) {
		return errors.New("wrong client secret")
	}
	return nil
}
