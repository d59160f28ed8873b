package dn

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// AttributeTypeAndValue is one attribute of a relative distinguished name
// (RFC 4514 §2.3): an attribute type and its value as a Unicode string.
type AttributeTypeAndValue struct {
	Type  asn1.ObjectIdentifier
	Value string
}

// RDN is a relative distinguished name (RFC 4514 §2.2). An RDN with more than
// one attribute is multi-valued ("OU=a+CN=b"); its attributes form a set, so
// their order does not matter to Equal.
type RDN []AttributeTypeAndValue

// DN is a distinguished name in RFC 4514 string order: the most specific RDN
// (usually CN) first. This is the reverse of the ASN.1 order used in
// certificates and by pkix.RDNSequence.
type DN []RDN

// ErrMultiValuedRDN is returned by DN.ToPKIXName when the DN has an RDN with
// more than one attribute, which pkix.Name cannot express. DN.Marshal can.
var ErrMultiValuedRDN = errors.New("dn: pkix.Name cannot express a multi-valued RDN; use DN.Marshal for RawSubject")

// rawATV and rawRDNSET mirror the ASN.1 of RFC 5280 §4.1.2.4 but keep each
// value's encoding, so that strings of every type can be decoded here. The
// "SET" suffix makes encoding/asn1 treat the slice as a SET OF.
type rawATV struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

type rawRDNSET []rawATV

// FromRDNSequence converts an RDN sequence in ASN.1 order (least specific
// first, as in pkix.Name.ToRDNSequence) into a DN in RFC 4514 order. String
// values are kept as they are; any other value (rare in subject names) is
// formatted with fmt.Sprint, so prefer FromCertificate for certificates.
// Empty RDNs, which X.501 does not allow, are skipped.
func FromRDNSequence(seq pkix.RDNSequence) DN {
	d := make(DN, 0, len(seq))
	for i := len(seq) - 1; i >= 0; i-- {
		if len(seq[i]) == 0 {
			continue
		}
		rdn := make(RDN, len(seq[i]))
		for j, atv := range seq[i] {
			v, ok := atv.Value.(string)
			if !ok {
				v = fmt.Sprint(atv.Value)
			}
			rdn[j] = AttributeTypeAndValue{Type: append(asn1.ObjectIdentifier(nil), atv.Type...), Value: v}
		}
		d = append(d, rdn)
	}
	return d
}

// FromCertificate returns the subject DN of c, decoded from c.RawSubject so
// that every attribute, every multi-valued RDN and every string type is kept
// (RFC 5280 §4.1.2.6). Values that are not character strings are rejected,
// since they cannot be compared with a registered RFC 4514 string. A
// certificate without RawSubject (a template that was never parsed) falls
// back to c.Subject.
func FromCertificate(c *x509.Certificate) (DN, error) {
	if c == nil {
		return nil, errors.New("dn: nil certificate")
	}
	if len(c.RawSubject) == 0 {
		return FromRDNSequence(c.Subject.ToRDNSequence()), nil
	}
	var seq []rawRDNSET
	rest, err := asn1.Unmarshal(c.RawSubject, &seq)
	if err != nil {
		return nil, fmt.Errorf("dn: parsing certificate subject: %w", err)
	}
	if len(rest) > 0 {
		return nil, errors.New("dn: trailing data after certificate subject")
	}
	d := make(DN, 0, len(seq))
	for i := len(seq) - 1; i >= 0; i-- {
		if len(seq[i]) == 0 {
			return nil, errors.New("dn: certificate subject has an empty RDN")
		}
		rdn := make(RDN, len(seq[i]))
		for j, atv := range seq[i] {
			v, err := decodeString(atv.Value.FullBytes)
			if err != nil {
				return nil, fmt.Errorf("dn: certificate subject attribute %s: %w", typeName(atv.Type), err)
			}
			rdn[j] = AttributeTypeAndValue{Type: atv.Type, Value: v}
		}
		d = append(d, rdn)
	}
	return d, nil
}

// Marshal returns the DER encoding of d as an RDNSequence (RFC 5280
// §4.1.2.4), ready for x509.Certificate.RawSubject or
// x509.CertificateRequest.RawSubject. Unlike ToPKIXName it keeps multi-valued
// RDNs. String types follow RFC 5280: IA5String for emailAddress and
// domainComponent, PrintableString where possible, UTF8String otherwise.
func (d DN) Marshal() ([]byte, error) {
	seq := make([]rawRDNSET, 0, len(d))
	for i := len(d) - 1; i >= 0; i-- {
		if len(d[i]) == 0 {
			return nil, errors.New("dn: cannot marshal an empty RDN")
		}
		set := make(rawRDNSET, len(d[i]))
		for j, atv := range d[i] {
			v, err := encodeString(atv)
			if err != nil {
				return nil, err
			}
			set[j] = rawATV{Type: atv.Type, Value: v}
		}
		seq = append(seq, set)
	}
	b, err := asn1.Marshal(seq)
	if err != nil {
		return nil, fmt.Errorf("dn: marshalling: %w", err)
	}
	return b, nil
}

// ToPKIXName returns a pkix.Name for issuing a certificate with subject d.
// Every attribute is placed in ExtraNames in ASN.1 order, which makes
// pkix.Name.ToRDNSequence produce exactly d (crypto/x509 skips a field whose
// type also appears in ExtraNames). The well-known fields (CommonName,
// Country, Organization, OrganizationalUnit, Locality, Province,
// StreetAddress, PostalCode, SerialNumber) are filled too, for reading only:
// changing them has no effect while ExtraNames is set. A multi-valued RDN
// cannot be expressed and yields ErrMultiValuedRDN; use Marshal then.
func (d DN) ToPKIXName() (pkix.Name, error) {
	var n pkix.Name
	for i := len(d) - 1; i >= 0; i-- {
		switch len(d[i]) {
		case 0:
			return pkix.Name{}, errors.New("dn: cannot convert an empty RDN")
		case 1:
		default:
			return pkix.Name{}, ErrMultiValuedRDN
		}
		atv := d[i][0]
		n.ExtraNames = append(n.ExtraNames, pkix.AttributeTypeAndValue{Type: atv.Type, Value: atv.Value})
		known, _ := attributeByOID(atv.Type)
		switch known.name {
		case "CN":
			n.CommonName = atv.Value
		case "SERIALNUMBER":
			n.SerialNumber = atv.Value
		case "C":
			n.Country = append(n.Country, atv.Value)
		case "O":
			n.Organization = append(n.Organization, atv.Value)
		case "OU":
			n.OrganizationalUnit = append(n.OrganizationalUnit, atv.Value)
		case "L":
			n.Locality = append(n.Locality, atv.Value)
		case "ST":
			n.Province = append(n.Province, atv.Value)
		case "STREET":
			n.StreetAddress = append(n.StreetAddress, atv.Value)
		case "postalCode":
			n.PostalCode = append(n.PostalCode, atv.Value)
		}
	}
	return n, nil
}

// String returns d as an RFC 4514 §2 string: RDNs separated by ',', the
// attributes of a multi-valued RDN by '+', in the order held in d. Known
// attribute types use their short name (CN, O, OU, C, DC, UID, ...), others
// their dotted OID. Values are escaped as RFC 4514 §2.4 requires, and control
// characters are written as \XX hex pairs.
func (d DN) String() string {
	var b strings.Builder
	for i, rdn := range d {
		if i > 0 {
			b.WriteByte(',')
		}
		for j, atv := range rdn {
			if j > 0 {
				b.WriteByte('+')
			}
			b.WriteString(typeName(atv.Type))
			b.WriteByte('=')
			writeValue(&b, atv.Value)
		}
	}
	return b.String()
}

// typeName returns the short name of a known attribute type or its dotted
// OID (RFC 4514 §2.3).
func typeName(oid asn1.ObjectIdentifier) string {
	if a, ok := attributeByOID(oid); ok {
		return a.name
	}
	return oid.String()
}

// writeValue escapes v as RFC 4514 §2.4 requires.
func writeValue(b *strings.Builder, v string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(v); {
		r, size := utf8.DecodeRuneInString(v[i:])
		switch {
		case r == utf8.RuneError && size == 1, r < 0x20, r == 0x7f:
			b.WriteByte('\\')
			b.WriteByte(hex[v[i]>>4])
			b.WriteByte(hex[v[i]&0xf])
		case strings.ContainsRune(`,+"\<>;`, r),
			i == 0 && (r == ' ' || r == '#'),
			i+size == len(v) && r == ' ':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteString(v[i : i+size])
		}
		i += size
	}
}
