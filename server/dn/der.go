package dn

import (
	"encoding/asn1"
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// Universal tags without a constant in encoding/asn1 (X.680 §8.4).
const (
	tagVisibleString   = 26
	tagUniversalString = 28
)

// decodeString decodes one DER-encoded character string, the value of an
// attribute in a certificate or of an RFC 4514 §2.4 hexstring. It accepts
// UTF8String, PrintableString, IA5String, NumericString, VisibleString,
// TeletexString (read as ISO 8859-1, as crypto/x509 and BoringSSL do),
// BMPString and UniversalString. It also accepts an OCTET STRING whose
// contents are valid UTF-8, read as that text, so that the RFC 4514 §4
// example "1.3.6.1.4.1.1466.0=#04024869" parses; every other type is
// rejected.
func decodeString(der []byte) (string, error) {
	var v asn1.RawValue
	rest, err := asn1.Unmarshal(der, &v)
	if err != nil {
		return "", fmt.Errorf("dn: invalid DER value: %w", err)
	}
	if len(rest) > 0 {
		return "", errors.New("dn: trailing data after DER value")
	}
	if v.Class != asn1.ClassUniversal || v.IsCompound {
		return "", fmt.Errorf("dn: DER value with class %d tag %d is not a character string", v.Class, v.Tag)
	}
	return decodeStringBody(v.Tag, v.Bytes)
}

// decodeStringBody decodes the contents octets of a character string with the
// given universal tag.
func decodeStringBody(tag int, b []byte) (string, error) {
	switch tag {
	case asn1.TagUTF8String, asn1.TagOctetString:
		if !utf8.Valid(b) {
			return "", fmt.Errorf("dn: string with tag %d is not valid UTF-8", tag)
		}
		return string(b), nil
	case asn1.TagPrintableString, asn1.TagIA5String, asn1.TagNumericString, tagVisibleString:
		for _, c := range b {
			if c >= utf8.RuneSelf {
				return "", fmt.Errorf("dn: string with tag %d has a non-ASCII octet", tag)
			}
		}
		return string(b), nil
	case asn1.TagT61String:
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		return string(r), nil
	case asn1.TagBMPString:
		if len(b)%2 != 0 {
			return "", errors.New("dn: BMPString has an odd length")
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
			if utf16.IsSurrogate(rune(u[i])) {
				return "", errors.New("dn: BMPString contains a surrogate")
			}
		}
		return string(utf16.Decode(u)), nil
	case tagUniversalString:
		if len(b)%4 != 0 {
			return "", errors.New("dn: UniversalString length is not a multiple of 4")
		}
		r := make([]rune, len(b)/4)
		for i := range r {
			c := rune(b[4*i])<<24 | rune(b[4*i+1])<<16 | rune(b[4*i+2])<<8 | rune(b[4*i+3])
			if !utf8.ValidRune(c) {
				return "", errors.New("dn: UniversalString contains an invalid code point")
			}
			r[i] = c
		}
		return string(r), nil
	}
	return "", fmt.Errorf("dn: DER value with tag %d is not a supported character string", tag)
}

// encodeString chooses the string type for an attribute value as RFC 5280
// §4.1.2.6 and appendix A suggest: IA5String for emailAddress and
// domainComponent, PrintableString when every character allows it, and
// UTF8String otherwise.
func encodeString(a AttributeTypeAndValue) (asn1.RawValue, error) {
	if !utf8.ValidString(a.Value) {
		return asn1.RawValue{}, fmt.Errorf("dn: value of %s is not valid UTF-8", typeName(a.Type))
	}
	tag := asn1.TagUTF8String
	if known, ok := attributeByOID(a.Type); ok && known.ia5 && isASCII(a.Value) {
		tag = asn1.TagIA5String
	} else if isPrintableString(a.Value) {
		tag = asn1.TagPrintableString
	}
	return asn1.RawValue{Class: asn1.ClassUniversal, Tag: tag, Bytes: []byte(a.Value)}, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// isPrintableString reports whether s fits the PrintableString alphabet of
// X.680 §41.4.
func isPrintableString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == ' ', c == '\'', c == '(', c == ')', c == '+', c == ',', c == '-', c == '.', c == '/', c == ':', c == '=', c == '?':
		default:
			return false
		}
	}
	return true
}
