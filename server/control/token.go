package control

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"github.com/cibalab/cibalab/shared/pki"
)

// TokenFile is the name of the file, in the state directory, that holds
// the bearer token of the running control API (mode 0600).
const TokenFile = "control-token"

// NewToken returns a fresh bearer token: 32 random bytes, base64url.
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("control: token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// WriteToken writes token to stateDir/control-token, readable by its owner
// only, replacing the token of an earlier run, and returns the file's
// path.
func WriteToken(stateDir, token string) (string, error) {
	path := filepath.Join(stateDir, TokenFile)
	if err := pki.WriteSecretFile(path, []byte(token+"\n")); err != nil {
		return "", fmt.Errorf("control: %w", err)
	}
	return path, nil
}

// CheckAddr accepts a listen address for the control API: HOST:PORT whose
// host is a loopback IP or localhost, unless allowRemote. The API can
// register clients and approve any request, so it is not exposed beyond
// the machine unless asked for explicitly.
func CheckAddr(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want HOST:PORT, e.g. 127.0.0.1:0", addr)
	}
	if allowRemote {
		return nil
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q is not a loopback address: anyone who reaches the control API with its token can register clients and approve requests; listen on 127.0.0.1, or allow it explicitly with --control-allow-remote", addr)
}
