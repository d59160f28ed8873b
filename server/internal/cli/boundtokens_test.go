package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cibalab/cibalab/server/registry"
)

// TestClientAddBoundTokens: --bound-tokens registers
// tls_client_certificate_bound_access_tokens (RFC 8705 §3.4), for any
// authentication method; without it the client does not have it, and
// --help documents it.
func TestClientAddBoundTokens(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want bool
	}{
		{"tls_client_auth", []string{"--bound-tokens"}, true},
		{"client_secret_basic", []string{"--bound-tokens", "--auth-method", "client_secret_basic", "--secret-file", "SECRET"}, true},
		{"not asked", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, env := newStateDir(t)
			args := append([]string{"client", "add", "--id", "c1"}, tt.args...)
			for i, a := range args {
				if a == "SECRET" {
					args[i] = filepath.Join(t.TempDir(), "c1.secret")
				}
			}
			mustRun(t, env, args...)
			d, err := registry.Open(dir, registry.Config{})
			if err != nil {
				t.Fatal(err)
			}
			c, err := d.Client("c1")
			if err != nil {
				t.Fatal(err)
			}
			if c.TLSClientCertificateBoundAccessTokens != tt.want {
				t.Errorf("tls_client_certificate_bound_access_tokens = %v, want %v", c.TLSClientCertificateBoundAccessTokens, tt.want)
			}
		})
	}
	if r := mustRun(t, nil, "client", "add", "--help"); !strings.Contains(r.stdout, "--bound-tokens") || !strings.Contains(r.stdout, "RFC 8705 §3.4") {
		t.Errorf("--help does not document --bound-tokens:\n%s", r.stdout)
	}
}
