package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/pki"
)

// clientKeyFiles writes a JWK Set with one public key and a self-signed
// PEM certificate of that key, and returns their paths.
func clientKeyFiles(t testing.TB) (jwksPath, certPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := pki.PublicJWK(key.Public(), "k1", "ES256")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(pki.JWKS{Keys: []pki.JWK{jwk}})
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "self"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	dir := t.TempDir()
	return writeFile(t, filepath.Join(dir, "jwks.json"), string(data)),
		writeFile(t, filepath.Join(dir, "cert.pem"), string(pki.EncodeCertificatePEM(cert)))
}

// TestClientAddMethods covers the client add flags of every
// token_endpoint_auth_method and the signing metadata.
func TestClientAddMethods(t *testing.T) {
	jwks, cert := clientKeyFiles(t)
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, c *registry.Client)
	}{
		{"private_key_jwt", []string{"--auth-method", "private_key_jwt", "--jwks-file", jwks}, func(t *testing.T, c *registry.Client) {
			if c.TokenEndpointAuthMethod != "private_key_jwt" || c.JWKS == nil || c.JWKS.Keys[0].Kid != "k1" || c.SubjectDN != "" {
				t.Errorf("client %+v", c)
			}
		}},
		{"self_signed_tls_client_auth", []string{"--auth-method", "self_signed_tls_client_auth", "--self-signed-cert", cert}, func(t *testing.T, c *registry.Client) {
			if c.JWKS == nil || len(c.JWKS.Keys) != 1 || len(c.JWKS.Keys[0].X5c) != 1 {
				t.Errorf("jwks %+v", c.JWKS)
			}
		}},
		{"signed requests, user_code, ID token alg", []string{"--subject-dn", "CN=x", "--jwks-file", jwks, "--require-signed-request",
			"--request-signing-alg", "ES256", "--user-code", "--id-token-alg", "PS256"}, func(t *testing.T, c *registry.Client) {
			if !c.RequireSignedRequest || c.BackchannelAuthRequestSigningAlg != "ES256" || !c.BackchannelUserCodeParameter ||
				c.IDTokenSignedResponseAlg != "PS256" || c.TokenEndpointAuthMethod != "tls_client_auth" || c.SubjectDN != "CN=x" {
				t.Errorf("client %+v", c)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, env := newStateDir(t)
			mustRun(t, env, append([]string{"client", "add", "--id", "c1"}, tt.args...)...)
			d, err := registry.Open(dir, registry.Config{})
			if err != nil {
				t.Fatal(err)
			}
			c, err := d.Client("c1")
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

// TestClientAddSecret: the OP generates the secret and writes it 0600; the
// state keeps only its hash.
func TestClientAddSecret(t *testing.T) {
	dir, env := newStateDir(t)
	secretPath := filepath.Join(t.TempDir(), "c1.secret")
	r := mustRun(t, env, "client", "add", "--id", "c1", "--auth-method", "client_secret_basic", "--secret-file", secretPath)
	if !strings.Contains(r.stdout, secretPath) {
		t.Errorf("stdout %q does not name the secret file", r.stdout)
	}
	wantMode(t, secretPath, 0o600)
	secret := strings.TrimSpace(readTestFile(t, secretPath))
	d, _ := registry.Open(dir, registry.Config{})
	c, err := d.Client("c1")
	if err != nil {
		t.Fatal(err)
	}
	if !c.CheckSecret(secret) || strings.Contains(readTestFile(t, filepath.Join(dir, "clients.json")), secret) {
		t.Fatal("secret not hashed into the state, or stored in clear")
	}
	// An existing file is never overwritten.
	again := runMain(t, env, "", "client", "add", "--id", "c2", "--auth-method", "client_secret_post", "--secret-file", secretPath)
	if again.code != 2 || strings.TrimSpace(readTestFile(t, secretPath)) != secret {
		t.Fatalf("exit %d, stderr %s", again.code, again.stderr)
	}
}

// TestClientAddUsageErrors: inconsistent flags exit 2 and register nothing.
func TestClientAddUsageErrors(t *testing.T) {
	jwks, _ := clientKeyFiles(t)
	for name, args := range map[string][]string{
		"unknown method":               {"--auth-method", "client_secret_jwt"},
		"secret method without file":   {"--auth-method", "client_secret_post"},
		"secret file for mTLS":         {"--secret-file", filepath.Join(t.TempDir(), "s")},
		"private_key_jwt without keys": {"--auth-method", "private_key_jwt"},
		"self-signed without cert":     {"--auth-method", "self_signed_tls_client_auth", "--jwks-file", jwks},
		"signed requests without keys": {"--require-signed-request"},
		"HMAC request signing":         {"--jwks-file", jwks, "--request-signing-alg", "HS256"},
		"bad ID token alg":             {"--id-token-alg", "none"},
		"missing jwks file":            {"--jwks-file", filepath.Join(t.TempDir(), "nope.json")},
		"jwks file with private key":   {"--jwks-file", writeFile(t, filepath.Join(t.TempDir(), "k.json"), `{"keys":[{"kty":"EC","d":"x"}]}`)},
	} {
		t.Run(name, func(t *testing.T) {
			dir, env := newStateDir(t)
			r := runMain(t, env, "", append([]string{"client", "add", "--id", "c1"}, args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, "ciba-op client add") {
				t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
			}
			if d, err := registry.Open(dir, registry.Config{}); err == nil {
				if _, err := d.Client("c1"); err == nil {
					t.Fatal("a refused client was registered")
				}
			}
		})
	}
}

// TestUserAddUserCode: the user_code comes from a file or the environment
// and is stored only as a hash.
func TestUserAddUserCode(t *testing.T) {
	pw := writeFile(t, filepath.Join(t.TempDir(), "pw"), "password\n")
	code := writeFile(t, filepath.Join(t.TempDir(), "code"), "4711\n")
	t.Run("file", func(t *testing.T) {
		dir, env := newStateDir(t)
		r := mustRun(t, env, "user", "add", "--id", "alice", "--password-file", pw, "--user-code-file", code)
		if !strings.Contains(r.stdout, "user_code") {
			t.Errorf("stdout %q", r.stdout)
		}
		d, _ := registry.Open(dir, registry.Config{})
		u, err := d.User("alice")
		if err != nil || !u.CheckUserCode("4711") || strings.Contains(readTestFile(t, filepath.Join(dir, "users.json")), "4711") {
			t.Fatalf("user %+v %v", u, err)
		}
	})
	t.Run("environment", func(t *testing.T) {
		dir, env := newStateDir(t)
		env[envUserCode] = "2468"
		mustRun(t, env, "user", "add", "--id", "bob", "--password-file", pw)
		d, _ := registry.Open(dir, registry.Config{})
		if u, err := d.User("bob"); err != nil || !u.CheckUserCode("2468") {
			t.Fatalf("user %+v %v", u, err)
		}
	})
	t.Run("too short", func(t *testing.T) {
		dir, env := newStateDir(t)
		env[envUserCode] = "12"
		r := runMain(t, env, "", "user", "add", "--id", "carol", "--password-file", pw)
		if r.code != 2 {
			t.Fatalf("exit %d", r.code)
		}
		if d, err := registry.Open(dir, registry.Config{}); err == nil {
			if _, err := d.User("carol"); err == nil {
				t.Fatal("a user was added despite a refused user_code")
			}
		}
	})
}

func readTestFile(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
