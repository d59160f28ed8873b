package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func selfSigned(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "c"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

func TestThumbprintS256(t *testing.T) {
	cert, _ := selfSigned(t)
	sum := sha256.Sum256(cert.Raw)
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	if got := ThumbprintS256(cert); got != want || strings.ContainsAny(got, "=+/") || len(got) != 43 {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestPKCS12RoundTrip(t *testing.T) {
	cert, key := selfSigned(t)
	data, err := EncodePKCS12(key, cert, []*x509.Certificate{cert}, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	tc, err := LoadPKCS12(data, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if !tc.Leaf.Equal(cert) || len(tc.Certificate) != 2 {
		t.Fatalf("leaf or chain lost: %d certs", len(tc.Certificate))
	}
	if _, err := LoadPKCS12(data, "wrong"); err == nil || !strings.Contains(err.Error(), "wrong password") {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := LoadPKCS12([]byte("garbage"), "x"); err == nil {
		t.Fatal("garbage accepted")
	}
}

func TestWriteSecretFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteSecretFile(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Fatalf("content %q", b)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

func TestPEMRoundTrip(t *testing.T) {
	cert, key := selfSigned(t)
	kp, err := EncodePrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ParsePrivateKeyPEM(kp)
	if err != nil || !signer.Public().(*ecdsa.PublicKey).Equal(key.Public()) {
		t.Fatalf("key round trip: %v", err)
	}
	certs, err := ParseCertificatesPEM(EncodeCertificatePEM(cert))
	if err != nil || !certs[0].Equal(cert) {
		t.Fatalf("cert round trip: %v", err)
	}
	if _, err := ParseCertificatesPEM([]byte("nothing")); err == nil {
		t.Fatal("no certificate accepted")
	}
}

func TestJWKRoundTrip(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, pub := range []any{ec.Public(), rs.Public()} {
		j, err := PublicJWK(pub, "k", "")
		if err != nil {
			t.Fatal(err)
		}
		back, err := j.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		if !back.(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
			t.Fatalf("%s key changed in the round trip", j.Kty)
		}
	}
	bad := []JWK{
		{Kty: "EC", Crv: "P-256", X: "AA", Y: "AA"},
		{Kty: "EC", Crv: "P-192"},
		{Kty: "oct"},
		{Kty: "RSA", N: "AQAB", E: "AQAB"},
	}
	for _, j := range bad {
		if _, err := j.PublicKey(); err == nil {
			t.Errorf("%+v accepted", j)
		}
	}
	// A point not on the curve is refused.
	j, _ := PublicJWK(ec.Public(), "", "")
	j.Y = j.X
	if _, err := j.PublicKey(); err == nil {
		t.Error("off-curve point accepted")
	}
}
