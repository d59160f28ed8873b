package dn

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

var (
	oidCN     = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidC      = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidO      = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOU     = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidDC     = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
	oidUID    = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}
	oidEmail  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	oidSerial = asn1.ObjectIdentifier{2, 5, 4, 5}
	oidCustom = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 1466, 0}
)

func atv(t asn1.ObjectIdentifier, v string) AttributeTypeAndValue {
	return AttributeTypeAndValue{Type: t, Value: v}
}

func single(t asn1.ObjectIdentifier, v string) RDN { return RDN{atv(t, v)} }

// mustParse parses s or fails the test.
func mustParse(t testing.TB, s string) DN {
	t.Helper()
	d, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return d
}

// sameDN reports whether a and b hold exactly the same attributes in the
// same order, without any matching rule.
func sameDN(a, b DN) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if !a[i][j].Type.Equal(b[i][j].Type) || a[i][j].Value != b[i][j].Value {
				return false
			}
		}
	}
	return true
}

type parseCase struct {
	name string
	in   string
	want DN
}

func (c parseCase) run(t *testing.T) {
	got, err := Parse(c.in)
	if err != nil {
		t.Fatalf("Parse(%q): %v", c.in, err)
	}
	if !sameDN(got, c.want) {
		t.Fatalf("Parse(%q) = %#v, want %#v", c.in, got, c.want)
	}
}

func TestParse(t *testing.T) {
	cases := []parseCase{
		// RFC 4514 §4 examples.
		{"rfc4514 uid dc", "UID=jsmith,DC=example,DC=net",
			DN{single(oidUID, "jsmith"), single(oidDC, "example"), single(oidDC, "net")}},
		{"rfc4514 multi-valued", "OU=Sales+CN=J.  Smith,DC=example,DC=net",
			DN{RDN{atv(oidOU, "Sales"), atv(oidCN, "J.  Smith")}, single(oidDC, "example"), single(oidDC, "net")}},
		{"rfc4514 escaped quotes and comma", `CN=James \"Jim\" Smith\, III,DC=example,DC=net`,
			DN{single(oidCN, `James "Jim" Smith, III`), single(oidDC, "example"), single(oidDC, "net")}},
		{"rfc4514 hex pair control", `CN=Before\0dAfter,DC=example,DC=net`,
			DN{single(oidCN, "Before\rAfter"), single(oidDC, "example"), single(oidDC, "net")}},
		{"rfc4514 hexstring octet string", "1.3.6.1.4.1.1466.0=#04024869",
			DN{single(oidCustom, "Hi")}},
		{"rfc4514 utf8 hex pairs", `CN=Lu\C4\8Di\C4\87`, DN{single(oidCN, "Lučić")}},

		{"empty", "", nil},
		{"only spaces", "   ", nil},
		{"empty value", "CN=,O=x", DN{single(oidCN, ""), single(oidO, "x")}},
		{"spaces around separators", " CN = a , O = b + OU = c ",
			DN{single(oidCN, "a"), RDN{atv(oidO, "b"), atv(oidOU, "c")}}},
		{"semicolon separator", "CN=a;O=b", DN{single(oidCN, "a"), single(oidO, "b")}},
		{"case-insensitive type", "cn=a,o=b,Ou=c,c=DE", DN{single(oidCN, "a"), single(oidO, "b"), single(oidOU, "c"), single(oidC, "DE")}},
		{"aliases", "commonName=a,E=x@example.com,emailAddress=y@example.com,SERIALNUMBER=1",
			DN{single(oidCN, "a"), single(oidEmail, "x@example.com"), single(oidEmail, "y@example.com"), single(oidSerial, "1")}},
		{"dotted oid", "2.5.4.3=a", DN{single(oidCN, "a")}},
		{"oid prefix", "OID.2.5.4.3=a", DN{single(oidCN, "a")}},
		{"every escape", `CN=\,\+\"\\\<\>\;\=\#\ x`, DN{single(oidCN, `,+"\<>;=# x`)}},
		{"escaped leading space and hash", `CN=\ \#a`, DN{single(oidCN, " #a")}},
		{"escaped trailing space kept", `CN=a\ `, DN{single(oidCN, "a ")}},
		{"space before escaped trailing space kept", `CN=a \ ,O=b`, DN{single(oidCN, "a  "), single(oidO, "b")}},
		{"unescaped trailing spaces dropped", "CN=a  ", DN{single(oidCN, "a")}},
		{"internal spaces kept", "CN=a   b", DN{single(oidCN, "a   b")}},
		{"hash inside value", "CN=a#b", DN{single(oidCN, "a#b")}},
		{"equals inside value", "CN=a=b", DN{single(oidCN, "a=b")}},
		{"raw utf8", "CN=Grüße", DN{single(oidCN, "Grüße")}},
		{"hex utf8string", "CN=#0C03616263", DN{single(oidCN, "abc")}},
		{"hex printablestring", "CN=#1303616263", DN{single(oidCN, "abc")}},
		{"hex ia5string", "CN=#1603616263 , O=b", DN{single(oidCN, "abc"), single(oidO, "b")}},
		{"hex teletex latin1", "CN=#1403E9E0FF", DN{single(oidCN, "éàÿ")}},
		{"hex bmpstring", "CN=#1E0400E9732B", DN{single(oidCN, "é猫")}},
		{"hex universalstring", "CN=#1C080000006100000061", DN{single(oidCN, "aa")}},
		{"hex lower case", "CN=#0c0161", DN{single(oidCN, "a")}},
		{"hex in multi-valued", "CN=#0C0161+O=b", DN{RDN{atv(oidCN, "a"), atv(oidO, "b")}}},
	}
	for _, c := range cases {
		t.Run(c.name, c.run)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, in, wantSub string
	}{
		{"no equals", "CN", "expected '='"},
		{"no type", "=a", "expected attribute type"},
		{"unknown type", "FOO=bar", `unknown attribute type "FOO"`},
		{"trailing comma", "CN=a,", "missing RDN"},
		{"empty rdn", "CN=a,,O=b", "expected attribute type"},
		{"trailing plus", "CN=a+", "expected attribute type"},
		{"lone backslash", `CN=a\`, "invalid escape"},
		{"bad escape", `CN=a\x`, "invalid escape"},
		{"half hex pair", `CN=a\4`, "invalid escape"},
		{"unescaped quote", `CN=a"b`, "must be escaped"},
		{"unescaped angle", `CN=a<b`, "must be escaped"},
		{"nul", "CN=a\x00", "must be escaped"},
		{"invalid utf8 via hex", `CN=\C4`, "not valid UTF-8"},
		{"invalid raw utf8", "CN=\xff", "not valid UTF-8"},
		{"empty hexstring", "CN=#", "hex digits"},
		{"odd hexstring", "CN=#0C0", "hex digits"},
		{"garbage after hexstring", "CN=#0C0161x", "after hexstring"},
		{"hexstring not a string", "CN=#020101", "not a supported character string"},
		{"hexstring short", "CN=#0C0361", "invalid DER"},
		{"hexstring trailing", "CN=#0C016161", "trailing data"},
		{"hexstring bad utf8", "CN=#0C01FF", "not valid UTF-8"},
		{"hexstring printable non-ascii", "CN=#1301FF", "non-ASCII"},
		{"hexstring constructed", "CN=#3000", "not a character string"},
		{"hexstring bmp odd", "CN=#1E0100", "odd length"},
		{"hexstring bmp surrogate", "CN=#1E02D800", "surrogate"},
		{"hexstring universal bad", "CN=#1C0400110000", "invalid code point"},
		{"oid first arc", "3.1=x", "invalid OID"},
		{"oid second arc", "1.40=x", "invalid OID"},
		{"oid leading zero", "01.2=x", "invalid OID component"},
		{"oid empty arc", "1..2=x", "invalid OID component"},
		{"oid single arc", "2=x", "invalid OID"},
		{"oid too large", "2.99999999999=x", "too large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := Parse(c.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want error", c.in, d)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "dn: ") || !strings.Contains(msg, c.wantSub) || !strings.Contains(msg, "offset") {
				t.Fatalf("Parse(%q) error %q, want prefix \"dn: \", %q and an offset", c.in, msg, c.wantSub)
			}
		})
	}
}

func TestEqual(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"CN=a, O=b", "CN=a,O=b", true},
		{"CN=a,O=b", "O=b,CN=a", false},
		{"CN=a,O=b", "CN=a", false},
		{"CN=a,O=b", "CN=a,O=b,C=DE", false},
		{"CN=a+O=b", "CN=a,O=b", false},
		{"OU=Sales+CN=J. Smith,DC=example", "CN=J. Smith+OU=Sales,DC=example", true},
		{"OU=Sales+CN=J. Smith", "CN=J. Smith+OU=Sales+O=x", false},
		{"OU=a+OU=a", "OU=a+OU=b", false},
		{"cn=CIBAConformance", "CN=cibaConformance", true},
		{"CN=J.   Smith", "CN=J. Smith", true},
		{"CN=\\ a\\ ", "CN=a", true},
		{"CN=a\\09b", "CN=a b", true},
		{"CN=a\\C2\\A0b", "CN=a b", true},
		{"CN=ab", "CN=a b", false},
		{"CN=Grüße", "CN=GRÜSSE", false},
		{"CN=Ünïcode", "CN=üNÏCODE", true},
		{"C=de", "C=DE", true},
		{"SERIALNUMBER=abc1", "SERIALNUMBER=ABC1", true},
		{"UID=JSmith", "UID=jsmith", true},
		{"DC=Example,DC=NET", "DC=example,DC=net", true},
		{"E=A@Example.com", "emailAddress=a@example.com", true},
		{"emailAddress=Ünï@x", "emailAddress=ünï@x", false},
		{"2.5.4.3=a", "CN=A", true},
		{"1.2.3.4=Abc", "1.2.3.4=abc", false},
		{"1.2.3.4=a  b", "1.2.3.4=a b", true},
		{"1.2.3.4=abc", "1.2.3.5=abc", false},
		{"CN=a", "O=a", false},
		{"CN=#0C0161", "CN=a", true},
		{"", "", true},
		{"", "CN=a", false},
	}
	for _, c := range cases {
		a, b := mustParse(t, c.a), mustParse(t, c.b)
		if got := a.Equal(b); got != c.want {
			t.Errorf("Parse(%q).Equal(Parse(%q)) = %v, want %v", c.a, c.b, got, c.want)
		}
		if got := b.Equal(a); got != c.want {
			t.Errorf("Parse(%q).Equal(Parse(%q)) = %v, want %v", c.b, c.a, got, c.want)
		}
	}
}

func TestEqualInvalidUTF8(t *testing.T) {
	a := DN{single(oidCN, "a\xff")}
	b := DN{single(oidCN, "a\xfe")}
	if a.Equal(b) {
		t.Fatal("values with different invalid bytes compare equal")
	}
	if !a.Equal(DN{single(oidCN, "A\xff")}) {
		t.Fatal("value with an invalid byte does not equal itself in another case")
	}
}

func TestString(t *testing.T) {
	cases := []struct {
		name string
		in   DN
		want string
	}{
		{"simple", DN{single(oidCN, "a"), single(oidO, "b")}, "CN=a,O=b"},
		{"multi-valued keeps order", DN{RDN{atv(oidOU, "Sales"), atv(oidCN, "J. Smith")}, single(oidDC, "net")}, "OU=Sales+CN=J. Smith,DC=net"},
		{"specials", DN{single(oidCN, `a,b+c"d\e<f>g;h=i`)}, `CN=a\,b\+c\"d\\e\<f\>g\;h=i`},
		{"leading and trailing", DN{single(oidCN, " #a# ")}, `CN=\ #a#\ `},
		{"leading hash", DN{single(oidCN, "#a")}, `CN=\#a`},
		{"single space", DN{single(oidCN, " ")}, `CN=\ `},
		{"control", DN{single(oidCN, "a\rb\x00\x7f")}, `CN=a\0Db\00\7F`},
		{"invalid utf8", DN{single(oidCN, "a\xff")}, `CN=a\FF`},
		{"unicode kept", DN{single(oidCN, "Lučić")}, "CN=Lučić"},
		{"unknown oid", DN{single(oidCustom, "Hi")}, "1.3.6.1.4.1.1466.0=Hi"},
		{"names", DN{single(oidEmail, "a@b"), single(oidUID, "u"), single(oidSerial, "1")}, "emailAddress=a@b,UID=u,SERIALNUMBER=1"},
		{"empty", nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.in.String(); got != c.want {
				t.Fatalf("String() = %q, want %q", got, c.want)
			}
		})
	}
}

func TestStringRoundTrip(t *testing.T) {
	for _, s := range []string{
		`CN=a\,b`,
		`CN=James \"Jim\" Smith\, III,DC=example,DC=net`,
		`OU=Sales+CN=J.  Smith,DC=example,DC=net`,
		`CN=\ #a\ `,
		`CN=\#a\ `,
		`CN=a \ `,
		`CN=Before\0DAfter`,
		`CN=Lučić,O=x\+y`,
		`1.2.3.4=v`,
	} {
		d := mustParse(t, s)
		out := d.String()
		if out != s {
			t.Errorf("Parse(%q).String() = %q, want the input back", s, out)
		}
		back := mustParse(t, out)
		if !sameDN(back, d) {
			t.Errorf("Parse(%q) = %#v, want %#v", out, back, d)
		}
	}
}

// newCert issues a self-signed certificate from tmpl and parses it back, as a
// TLS server would see it.
func newCert(t testing.TB, tmpl *x509.Certificate) *x509.Certificate {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(1)
	tmpl.NotBefore = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tmpl.NotAfter = tmpl.NotBefore.Add(24 * time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("ParseCertificate: %v", err)
	}
	return c
}

func certDN(t testing.TB, c *x509.Certificate) DN {
	t.Helper()
	d, err := FromCertificate(c)
	if err != nil {
		t.Fatalf("FromCertificate: %v", err)
	}
	return d
}

func TestFromCertificate(t *testing.T) {
	conformance := certDN(t, newCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "cibaConformance"}}))
	full := newCert(t, &x509.Certificate{Subject: pkix.Name{
		Country: []string{"DE"}, Organization: []string{"Example Org"},
		OrganizationalUnit: []string{"CIBA"}, CommonName: "client-1",
	}})
	fullDN := certDN(t, full)

	cases := []struct {
		cert DN
		reg  string
		want bool
	}{
		{conformance, "CN=cibaConformance", true},
		{conformance, "cn=CIBAConformance", true},
		{conformance, "CN=cibaConformance ", true},
		{conformance, "CN=cibaConformance2", false},
		{conformance, "CN=cibaConformance,O=x", false},
		{conformance, "", false},
		{fullDN, "CN=client-1,OU=CIBA,O=Example Org,C=DE", true},
		{fullDN, "CN=client-1, OU=ciba, O=example  org, C=de", true},
		{fullDN, "C=DE,O=Example Org,OU=CIBA,CN=client-1", false},
	}
	for _, c := range cases {
		if got := mustParse(t, c.reg).Equal(c.cert); got != c.want {
			t.Errorf("Parse(%q).Equal(%v) = %v, want %v", c.reg, c.cert, got, c.want)
		}
	}
	if got, want := fullDN.String(), "CN=client-1,OU=CIBA,O=Example Org,C=DE"; got != want {
		t.Errorf("FromCertificate(...).String() = %q, want %q", got, want)
	}
}

func TestFromCertificateStringTypes(t *testing.T) {
	// RawSubject with one RDN per string type that crypto/x509 can parse.
	raw := []rawRDNSET{
		{{Type: oidC, Value: asn1.RawValue{Tag: asn1.TagPrintableString, Bytes: []byte("DE")}}},
		{{Type: oidO, Value: asn1.RawValue{Tag: asn1.TagT61String, Bytes: []byte{'c', 0xe9}}}},
		{{Type: oidOU, Value: asn1.RawValue{Tag: asn1.TagBMPString, Bytes: []byte{0, 'o', 0x73, 0x2b}}}},
		{
			{Type: oidEmail, Value: asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte("a@example.com")}},
			{Type: oidCN, Value: asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte("Lučić")}},
		},
	}
	der, err := asn1.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	got := certDN(t, newCert(t, &x509.Certificate{RawSubject: der}))
	want := DN{
		RDN{atv(oidEmail, "a@example.com"), atv(oidCN, "Lučić")},
		single(oidOU, "o猫"),
		single(oidO, "cé"),
		single(oidC, "DE"),
	}
	if !want.Equal(got) {
		t.Fatalf("FromCertificate = %v, want %v", got, want)
	}
	if !mustParse(t, "CN=lučić+E=A@example.com,OU=O猫,O=CÉ,C=de").Equal(got) {
		t.Fatalf("registered DN does not match %v", got)
	}
}

func TestFromCertificateErrors(t *testing.T) {
	if _, err := FromCertificate(nil); err == nil || !strings.HasPrefix(err.Error(), "dn: ") {
		t.Fatalf("FromCertificate(nil) error = %v, want a dn: error", err)
	}
	cases := map[string]any{
		"integer value": []rawRDNSET{{{Type: oidCN, Value: asn1.RawValue{Tag: asn1.TagInteger, Bytes: []byte{1}}}}},
		"empty rdn":     []rawRDNSET{{}},
		"not a name":    asn1.RawValue{Tag: asn1.TagInteger, Bytes: []byte{1}},
	}
	for name, v := range cases {
		der, err := asn1.Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c := &x509.Certificate{RawSubject: der}
		if d, err := FromCertificate(c); err == nil || !strings.HasPrefix(err.Error(), "dn: ") {
			t.Errorf("%s: FromCertificate = %v, %v; want a dn: error", name, d, err)
		}
		c.RawSubject = append(der, 0)
		if _, err := FromCertificate(c); err == nil {
			t.Errorf("%s with trailing byte: FromCertificate succeeded", name)
		}
	}
}

func TestFromCertificateTemplate(t *testing.T) {
	c := &x509.Certificate{Subject: pkix.Name{CommonName: "a", Organization: []string{"b"}}}
	if got := certDN(t, c); !got.Equal(mustParse(t, "CN=a,O=b")) {
		t.Fatalf("FromCertificate(template) = %v, want CN=a,O=b", got)
	}
}

func TestFromRDNSequence(t *testing.T) {
	seq := pkix.RDNSequence{
		{{Type: oidDC, Value: "net"}},
		{},
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 11}, Value: "Sales"}, {Type: oidCN, Value: "J. Smith"}},
		{{Type: oidCustom, Value: 42}},
	}
	got := FromRDNSequence(seq)
	want := DN{single(oidCustom, "42"), RDN{atv(oidOU, "Sales"), atv(oidCN, "J. Smith")}, single(oidDC, "net")}
	if !sameDN(got, want) {
		t.Fatalf("FromRDNSequence = %#v, want %#v", got, want)
	}
	seq[2][0].Type[0] = 9
	if !sameDN(got, want) {
		t.Fatal("FromRDNSequence shares attribute types with its input")
	}
}

func TestToPKIXNameRoundTrip(t *testing.T) {
	for _, s := range []string{
		"CN=client-1,OU=CIBA,OU=Lab,O=Example Org,C=DE",
		"CN=x,SERIALNUMBER=42,STREET=Main St 1,postalCode=12345,L=Berlin,ST=Berlin,O=Grüße GmbH,C=DE",
		"UID=jsmith,DC=example,DC=net",
		"E=a@example.com,CN=a,1.3.6.1.4.1.1466.0=custom",
		"O=z,CN=a", // unusual order must survive too
	} {
		want := mustParse(t, s)
		name, err := want.ToPKIXName()
		if err != nil {
			t.Fatalf("ToPKIXName(%q): %v", s, err)
		}
		got := certDN(t, newCert(t, &x509.Certificate{Subject: name}))
		if !want.Equal(got) || got.String() != want.String() {
			t.Errorf("ToPKIXName(%q) issued a certificate with subject %q", s, got)
		}
	}
}

func TestToPKIXNameFields(t *testing.T) {
	name, err := mustParse(t, "CN=c,OU=u1,OU=u2,O=o,L=l,ST=st,STREET=s,postalCode=p,SERIALNUMBER=n,C=DE").ToPKIXName()
	if err != nil {
		t.Fatal(err)
	}
	if name.CommonName != "c" || name.SerialNumber != "n" || len(name.Country) != 1 || name.Country[0] != "DE" ||
		len(name.Organization) != 1 || len(name.OrganizationalUnit) != 2 || name.OrganizationalUnit[0] != "u2" ||
		len(name.Locality) != 1 || len(name.Province) != 1 || len(name.StreetAddress) != 1 || len(name.PostalCode) != 1 ||
		len(name.ExtraNames) != 10 {
		t.Fatalf("ToPKIXName fields = %+v", name)
	}
}

func TestMultiValuedRDN(t *testing.T) {
	want := mustParse(t, "CN=client-1+UID=c1,OU=CIBA,O=Example Org,C=DE")
	if _, err := want.ToPKIXName(); !errors.Is(err, ErrMultiValuedRDN) {
		t.Fatalf("ToPKIXName error = %v, want ErrMultiValuedRDN", err)
	}
	raw, err := want.Marshal()
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	got := certDN(t, newCert(t, &x509.Certificate{RawSubject: raw}))
	if !want.Equal(got) {
		t.Fatalf("certificate subject %q, want %q", got, want)
	}
	if len(got) != 4 || len(got[0]) != 2 {
		t.Fatalf("certificate subject %q lost the multi-valued RDN", got)
	}
}

func TestMarshalStringTypes(t *testing.T) {
	d := mustParse(t, "E=a@example.com,DC=example,CN=Grüße,CN=a*b,C=DE")
	raw, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var seq []rawRDNSET
	if _, err := asn1.Unmarshal(raw, &seq); err != nil {
		t.Fatal(err)
	}
	wantTags := []int{asn1.TagPrintableString, asn1.TagUTF8String, asn1.TagUTF8String, asn1.TagIA5String, asn1.TagIA5String}
	for i, tag := range wantTags {
		if got := seq[i][0].Value.Tag; got != tag {
			t.Errorf("RDN %d (ASN.1 order) has tag %d, want %d", i, got, tag)
		}
	}
}

func TestMarshalErrors(t *testing.T) {
	for name, d := range map[string]DN{
		"empty rdn":    {RDN{}},
		"invalid utf8": {single(oidCN, "\xff")},
		"invalid oid":  {single(asn1.ObjectIdentifier{7}, "a")},
	} {
		if _, err := d.Marshal(); err == nil || !strings.HasPrefix(err.Error(), "dn: ") {
			t.Errorf("%s: Marshal error = %v, want a dn: error", name, err)
		}
	}
	if _, err := (DN{RDN{}}).ToPKIXName(); err == nil {
		t.Error("ToPKIXName accepted an empty RDN")
	}
}

func TestAttributeNamesUnique(t *testing.T) {
	seen := map[string]bool{}
	oids := map[string]bool{}
	for _, a := range knownAttributes {
		for _, n := range append([]string{a.name}, a.aliases...) {
			k := strings.ToLower(n)
			if seen[k] {
				t.Errorf("attribute name %q listed twice", n)
			}
			seen[k] = true
		}
		if oids[a.oid.String()] {
			t.Errorf("OID %s listed twice", a.oid)
		}
		oids[a.oid.String()] = true
		if got := mustParse(t, a.name+"=v"); !got[0][0].Type.Equal(a.oid) {
			t.Errorf("Parse(%q) type = %s, want %s", a.name+"=v", got[0][0].Type, a.oid)
		}
	}
}
