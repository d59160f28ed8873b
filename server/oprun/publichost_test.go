package oprun

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// TestPublicHost: with PublicHost, the issuer names it (with the
// listener's port when it has none), discovery says so, and the server
// certificate is valid for it as well as for Addr's host.
func TestPublicHost(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Start(Config{StateDir: dir, Addr: "127.0.0.1:0", NATSAddr: "127.0.0.1:0", PublicHost: "op.lab.test:5001", PasswordIterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Issuer != "https://op.lab.test:5001/master" {
		t.Fatalf("issuer %s", s.Issuer)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	for _, name := range []string{"op.lab.test", "127.0.0.1"} {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: name}}}
		resp, err := hc.Get("https://" + s.HTTPAddr + "/master/.well-known/openid-configuration")
		if err != nil {
			t.Fatalf("TLS as %s: %v", name, err)
		}
		var meta struct{ Issuer string }
		err = json.NewDecoder(resp.Body).Decode(&meta)
		resp.Body.Close()
		if err != nil || meta.Issuer != s.Issuer {
			t.Fatalf("discovery as %s: issuer %q, %v", name, meta.Issuer, err)
		}
		hc.CloseIdleConnections()
	}
	s.Close()

	s2, err := Start(Config{StateDir: dir, Addr: "127.0.0.1:0", NATSAddr: "127.0.0.1:0", PublicHost: "[::1]", PasswordIterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, port, _ := splitAddr(s2.HTTPAddr); s2.Issuer != "https://[::1]:"+port+"/master" {
		t.Fatalf("issuer without a public port: %s (listening on %s)", s2.Issuer, s2.HTTPAddr)
	}
}

func TestSplitPublicHost(t *testing.T) {
	for in, want := range map[string][2]string{
		"lb.example":     {"lb.example", ""},
		"lb.example:443": {"lb.example", "443"},
		"10.0.0.5:5001":  {"10.0.0.5", "5001"},
		"[2001:db8::1]":  {"2001:db8::1", ""},
		"[::1]:5001":     {"::1", "5001"},
	} {
		h, p, err := SplitPublicHost(in)
		if err != nil || h != want[0] || p != want[1] {
			t.Errorf("SplitPublicHost(%q) = %q, %q, %v", in, h, p, err)
		}
	}
	for _, bad := range []string{"", "https://lb.example", "lb.example/master", "lb.example:0", "lb.example:99999", "lb.example:x", "user@lb", ":5001", "2001:db8::zz"} {
		if _, _, err := SplitPublicHost(bad); err == nil {
			t.Errorf("SplitPublicHost(%q) accepted", bad)
		}
	}
}

func splitAddr(a string) (string, string, error) {
	h, p, err := net.SplitHostPort(a)
	return h, p, err
}
