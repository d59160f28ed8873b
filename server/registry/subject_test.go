package registry

import (
	"crypto/x509/pkix"
	"slices"
	"strings"
	"testing"
)

func TestParseSubjectDN(t *testing.T) {
	tests := []struct {
		in      string
		want    string // pkix.Name.String() of the result
		wantErr string
	}{
		{in: "CN=cibaConformance", want: "CN=cibaConformance"},
		{in: "CN=client,OU=Lab,O=Acme,C=FR", want: "CN=client,OU=Lab,O=Acme,C=FR"},
		{in: "CN=client,O=Acme,OU=Lab", want: "CN=client,O=Acme,OU=Lab"}, // order kept
		{in: "cn=a , o=b", want: "CN=a,O=b"},
		{in: `CN=a\,b\+c`, want: `CN=a\,b\+c`},
		{in: `CN=\ lead`, want: `CN=\ lead`},
		{in: `CN=trail\ `, want: `CN=trail\ `},
		{in: `CN=caf\C3\A9`, want: "CN=café"},
		{in: `CN=a=b`, want: "CN=a=b"},
		{in: "L=Paris,ST=IDF,STREET=1 rue,POSTALCODE=75001,SERIALNUMBER=42,CN=x", want: "L=Paris,ST=IDF,STREET=1 rue,POSTALCODE=75001,SERIALNUMBER=42,CN=x"},
		{in: "", wantErr: "empty"},
		{in: "CN", wantErr: "expected '='"},
		{in: "CN=a,", wantErr: "missing RDN"},
		{in: "FOO=x", wantErr: "unknown attribute type"},
		{in: "CN=a+O=b", wantErr: "multi-valued"},
		{in: "CN=#0403", wantErr: "hex"},
		{in: `CN=a\`, wantErr: "invalid escape"},
		{in: `CN=a\q`, wantErr: "invalid escape"},
		{in: `CN=a;b`, wantErr: "unknown attribute type"},
		{in: `CN=\FF`, wantErr: "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n, err := parseSubjectDN(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseSubjectDN(%q) = %v, want error containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := n.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzParseSubjectDN(f *testing.F) {
	for _, s := range []string{"CN=a", "CN=client,OU=Lab,O=Acme,C=FR", `CN=a\,b`, `CN=\ x\ `, `CN=caf\C3\A9`, "CN=a+O=b", "O=#00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSubjectDN(s)
		if err != nil {
			return
		}
		// What Go prints for the parsed name parses back to the same RDNs.
		back, err := parseSubjectDN(n.String())
		if err != nil {
			t.Fatalf("parseSubjectDN(%q) ok, but its String %q does not parse: %v", s, n.String(), err)
		}
		if !slices.EqualFunc(n.ExtraNames, back.ExtraNames, func(a, b pkix.AttributeTypeAndValue) bool {
			return a.Type.Equal(b.Type) && a.Value == b.Value
		}) {
			t.Fatalf("round trip of %q: %v != %v", s, n.ExtraNames, back.ExtraNames)
		}
	})
}
