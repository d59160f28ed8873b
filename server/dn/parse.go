package dn

import (
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Parse parses an RFC 4514 §3 string representation of a distinguished name.
// The result keeps the string's order (most specific RDN first).
//
// Beyond the strict grammar it accepts what RFC 4514 §3 and common practice
// allow a parser to accept: ';' as an RDN separator, spaces around ',', ';',
// '+' and '=' (unescaped trailing spaces of a value are dropped; an escaped
// "\ " is kept), attribute type names in any case together with the common
// aliases (E for emailAddress, commonName, ...), and dotted OIDs with or
// without an "OID." prefix. A hexstring value ("#0C03616263") must be the DER
// encoding of a character string; its decoded text becomes the value. The
// empty string is the empty DN. Errors start with "dn:" and give the byte
// offset of the problem.
func Parse(s string) (DN, error) {
	p := parser{s: s}
	p.skipSpaces()
	if p.eof() {
		return nil, nil
	}
	var d DN
	for {
		rdn, err := p.rdn()
		if err != nil {
			return nil, err
		}
		d = append(d, rdn)
		if p.eof() {
			return d, nil
		}
		// rdn stops only at the end or at a separator.
		p.i++
		p.skipSpaces()
		if p.eof() {
			return nil, p.errorf("missing RDN after separator")
		}
	}
}

type parser struct {
	s string
	i int
}

func (p *parser) eof() bool { return p.i >= len(p.s) }

func (p *parser) skipSpaces() {
	for !p.eof() && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("dn: %s at offset %d", fmt.Sprintf(format, args...), p.i)
}

// rdn parses attributeTypeAndValue *( PLUS attributeTypeAndValue ) and stops
// at the end of input or before ',' or ';'.
func (p *parser) rdn() (RDN, error) {
	var rdn RDN
	for {
		atv, err := p.attributeTypeAndValue()
		if err != nil {
			return nil, err
		}
		rdn = append(rdn, atv)
		if p.eof() || p.s[p.i] == ',' || p.s[p.i] == ';' {
			return rdn, nil
		}
		// value stops only at the end or at ',', ';' or '+'.
		p.i++
		p.skipSpaces()
	}
}

func (p *parser) attributeTypeAndValue() (AttributeTypeAndValue, error) {
	p.skipSpaces()
	typ, err := p.attributeType()
	if err != nil {
		return AttributeTypeAndValue{}, err
	}
	p.skipSpaces()
	if p.eof() || p.s[p.i] != '=' {
		return AttributeTypeAndValue{}, p.errorf("expected '=' after attribute type")
	}
	p.i++
	p.skipSpaces()
	var v string
	if !p.eof() && p.s[p.i] == '#' {
		v, err = p.hexValue()
	} else {
		v, err = p.stringValue()
	}
	if err != nil {
		return AttributeTypeAndValue{}, err
	}
	return AttributeTypeAndValue{Type: typ, Value: v}, nil
}

// attributeType parses descr / numericoid (RFC 4514 §3, RFC 4512 §1.4).
func (p *parser) attributeType() (asn1.ObjectIdentifier, error) {
	start := p.i
	if !p.eof() && isDigit(p.s[p.i]) {
		return p.numericOID()
	}
	if p.eof() || !isAlpha(p.s[p.i]) {
		return nil, p.errorf("expected attribute type")
	}
	for !p.eof() && (isAlpha(p.s[p.i]) || isDigit(p.s[p.i]) || p.s[p.i] == '-') {
		p.i++
	}
	name := p.s[start:p.i]
	if strings.EqualFold(name, "oid") && !p.eof() && p.s[p.i] == '.' {
		p.i++
		return p.numericOID()
	}
	a, ok := attributeByName(name)
	if !ok {
		p.i = start
		return nil, p.errorf("unknown attribute type %q", name)
	}
	return a.oid, nil
}

// numericOID parses number 1*( DOT number ) and checks that the OID can be
// encoded in a certificate (X.660: first arc 0-2, second arc below 40 under
// 0 and 1, arcs within 31 bits as crypto/x509 requires).
func (p *parser) numericOID() (asn1.ObjectIdentifier, error) {
	start := p.i
	var oid asn1.ObjectIdentifier
	for {
		n := p.i
		for !p.eof() && isDigit(p.s[p.i]) {
			p.i++
		}
		arc := p.s[n:p.i]
		if arc == "" || (len(arc) > 1 && arc[0] == '0') {
			return nil, p.errorf("invalid OID component")
		}
		v, err := strconv.Atoi(arc)
		if err != nil || v > math.MaxInt32 {
			p.i = n
			return nil, p.errorf("OID component too large")
		}
		oid = append(oid, v)
		if p.eof() || p.s[p.i] != '.' {
			break
		}
		p.i++
	}
	if len(oid) < 2 || oid[0] > 2 || (oid[0] < 2 && oid[1] >= 40) {
		p.i = start
		return nil, p.errorf("invalid OID %q", oid.String())
	}
	return oid, nil
}

// hexValue parses SHARP 1*hexpair and decodes it as a DER character string
// (RFC 4514 §2.4, §3).
func (p *parser) hexValue() (string, error) {
	start := p.i
	p.i++ // '#'
	for !p.eof() && isHex(p.s[p.i]) {
		p.i++
	}
	digits := p.s[start+1 : p.i]
	if len(digits) == 0 || len(digits)%2 != 0 {
		return "", p.errorf("hexstring needs an even, non-zero number of hex digits")
	}
	p.skipSpaces()
	if !p.eof() && !isSeparator(p.s[p.i]) {
		return "", p.errorf("unexpected %q after hexstring", p.s[p.i])
	}
	der, _ := hex.DecodeString(digits) // digits are checked above
	v, err := decodeString(der)
	if err != nil {
		return "", fmt.Errorf("%w (hexstring at offset %d)", err, start)
	}
	return v, nil
}

// stringValue parses the string form of a value up to the end or an
// unescaped separator, resolving escapes (RFC 4514 §3).
func (p *parser) stringValue() (string, error) {
	start := p.i
	var buf []byte
	keep := 0 // length of buf without unescaped trailing spaces
	for !p.eof() && !isSeparator(p.s[p.i]) {
		c := p.s[p.i]
		switch {
		case c == '\\':
			p.i++
			switch {
			case p.i+1 < len(p.s) && isHex(p.s[p.i]) && isHex(p.s[p.i+1]):
				b, _ := hex.DecodeString(p.s[p.i : p.i+2])
				buf = append(buf, b[0])
				p.i += 2
			case !p.eof() && strings.IndexByte(`,+"\<>;= #`, p.s[p.i]) >= 0:
				buf = append(buf, p.s[p.i])
				p.i++
			default:
				p.i--
				return "", p.errorf("invalid escape")
			}
			keep = len(buf)
		case c == '"' || c == '<' || c == '>' || c == 0:
			return "", p.errorf("character %q must be escaped", c)
		default:
			buf = append(buf, c)
			p.i++
			if c != ' ' {
				keep = len(buf)
			}
		}
	}
	buf = buf[:keep]
	if !utf8.Valid(buf) {
		p.i = start
		return "", p.errorf("value is not valid UTF-8")
	}
	return string(buf), nil
}

func isSeparator(c byte) bool { return c == ',' || c == ';' || c == '+' }
func isDigit(c byte) bool     { return '0' <= c && c <= '9' }
func isAlpha(c byte) bool     { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isHex(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
