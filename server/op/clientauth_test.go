package op

import (
	"crypto/x509/pkix"
	"net"
	"net/url"
	"testing"

	"cibalab/server/ca"
	"cibalab/server/state"
)

// TestMatchSubject covers the five registered subject kinds of RFC 8705
// §2.1.2: the DN as a DN, dNSName case-insensitively, IP as bytes, URI and
// e-mail exactly (domain case-insensitive).
func TestMatchSubject(t *testing.T) {
	root, err := ca.New(ca.Config{}, "t")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("spiffe://example.org/shop")
	cert, _, err := root.IssueClient(pkix.Name{CommonName: "Shop", Organization: []string{"Example"}}, ca.ClientCertOptions{
		DNSNames: []string{"shop.example.org"}, IPAddresses: []net.IP{net.ParseIP("10.0.0.7"), net.ParseIP("2001:db8::1")},
		URIs: []*url.URL{u}, EmailAddresses: []string{"Ops@Example.org"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		client state.Client
		match  bool
	}{
		{"DN", state.Client{SubjectDN: "CN=Shop,O=Example"}, true},
		{"DN, other case and spaces", state.Client{SubjectDN: "cn=shop, o=example"}, true},
		{"DN, other order", state.Client{SubjectDN: "O=Example,CN=Shop"}, false},
		{"DN, missing attribute", state.Client{SubjectDN: "CN=Shop"}, false},
		{"DNS", state.Client{SANDNS: "SHOP.example.org"}, true},
		{"DNS other", state.Client{SANDNS: "evil.example.org"}, false},
		{"IPv4", state.Client{SANIP: "10.0.0.7"}, true},
		{"IPv6, other spelling", state.Client{SANIP: "2001:0db8:0:0::1"}, true},
		{"IP other", state.Client{SANIP: "10.0.0.8"}, false},
		{"URI", state.Client{SANURI: "spiffe://example.org/shop"}, true},
		{"URI other", state.Client{SANURI: "spiffe://example.org/shop2"}, false},
		{"email, domain case", state.Client{SANEmail: "Ops@example.ORG"}, true},
		{"email, local part case", state.Client{SANEmail: "ops@example.org"}, false},
		{"nothing registered", state.Client{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := matchSubject(&tt.client, cert)
			if (err == nil) != tt.match {
				t.Fatalf("match = %v (%v), want %v", err == nil, err, tt.match)
			}
		})
	}
}
