package dn

import (
	"encoding/asn1"
	"strings"
)

// matchRule is the equality matching rule that applies to an attribute's
// values, after RFC 4517 §4.2 and RFC 4518.
type matchRule int

const (
	// ruleCaseExact compares values after insignificant-space handling only
	// (caseExactMatch, RFC 4517 §4.2.4). It is used for attribute types this
	// package does not know: without a schema, treating them as case-sensitive
	// is the conservative choice.
	ruleCaseExact matchRule = iota
	// ruleCaseIgnore is caseIgnoreMatch (RFC 4517 §4.2.11): insignificant
	// space handling and Unicode simple case folding.
	ruleCaseIgnore
	// ruleCaseIgnoreIA5 is caseIgnoreIA5Match (RFC 4517 §4.2.13): insignificant
	// space handling and ASCII-only case folding.
	ruleCaseIgnoreIA5
)

// attribute describes one attribute type this package knows by name.
type attribute struct {
	name    string   // spelling used by DN.String
	aliases []string // other accepted names, matched case-insensitively
	oid     asn1.ObjectIdentifier
	rule    matchRule
	ia5     bool // values are IA5String in certificates (RFC 5280 §4.1.2.6, appendix A)
}

// knownAttributes lists the attribute types accepted by name. Every directory
// string attribute of X.520 and RFC 4519 uses caseIgnoreMatch, including
// countryName (RFC 4519 §2.2, "SUP name") and serialNumber (X.520 §6.2.9, a
// PrintableString with caseIgnoreMatch). emailAddress uses
// pkcs9CaseIgnoreMatch (RFC 2985 §5.2.1), here caseIgnoreIA5Match, and
// domainComponent uses caseIgnoreIA5Match (RFC 4519 §2.4).
//
// The slice is never modified.
var knownAttributes = []attribute{
	{name: "CN", aliases: []string{"commonName"}, oid: asn1.ObjectIdentifier{2, 5, 4, 3}, rule: ruleCaseIgnore},
	{name: "SN", aliases: []string{"surname"}, oid: asn1.ObjectIdentifier{2, 5, 4, 4}, rule: ruleCaseIgnore},
	{name: "SERIALNUMBER", oid: asn1.ObjectIdentifier{2, 5, 4, 5}, rule: ruleCaseIgnore},
	{name: "C", aliases: []string{"countryName"}, oid: asn1.ObjectIdentifier{2, 5, 4, 6}, rule: ruleCaseIgnore},
	{name: "L", aliases: []string{"localityName"}, oid: asn1.ObjectIdentifier{2, 5, 4, 7}, rule: ruleCaseIgnore},
	{name: "ST", aliases: []string{"stateOrProvinceName", "S"}, oid: asn1.ObjectIdentifier{2, 5, 4, 8}, rule: ruleCaseIgnore},
	{name: "STREET", aliases: []string{"streetAddress"}, oid: asn1.ObjectIdentifier{2, 5, 4, 9}, rule: ruleCaseIgnore},
	{name: "O", aliases: []string{"organizationName"}, oid: asn1.ObjectIdentifier{2, 5, 4, 10}, rule: ruleCaseIgnore},
	{name: "OU", aliases: []string{"organizationalUnitName"}, oid: asn1.ObjectIdentifier{2, 5, 4, 11}, rule: ruleCaseIgnore},
	{name: "title", oid: asn1.ObjectIdentifier{2, 5, 4, 12}, rule: ruleCaseIgnore},
	{name: "description", oid: asn1.ObjectIdentifier{2, 5, 4, 13}, rule: ruleCaseIgnore},
	{name: "businessCategory", oid: asn1.ObjectIdentifier{2, 5, 4, 15}, rule: ruleCaseIgnore},
	{name: "postalCode", oid: asn1.ObjectIdentifier{2, 5, 4, 17}, rule: ruleCaseIgnore},
	{name: "name", oid: asn1.ObjectIdentifier{2, 5, 4, 41}, rule: ruleCaseIgnore},
	{name: "GN", aliases: []string{"givenName"}, oid: asn1.ObjectIdentifier{2, 5, 4, 42}, rule: ruleCaseIgnore},
	{name: "initials", oid: asn1.ObjectIdentifier{2, 5, 4, 43}, rule: ruleCaseIgnore},
	{name: "generationQualifier", oid: asn1.ObjectIdentifier{2, 5, 4, 44}, rule: ruleCaseIgnore},
	{name: "dnQualifier", oid: asn1.ObjectIdentifier{2, 5, 4, 46}, rule: ruleCaseIgnore},
	{name: "pseudonym", oid: asn1.ObjectIdentifier{2, 5, 4, 65}, rule: ruleCaseIgnore},
	{name: "organizationIdentifier", oid: asn1.ObjectIdentifier{2, 5, 4, 97}, rule: ruleCaseIgnore},
	{name: "DC", aliases: []string{"domainComponent"}, oid: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}, rule: ruleCaseIgnoreIA5, ia5: true},
	{name: "UID", aliases: []string{"userid"}, oid: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, rule: ruleCaseIgnore},
	{name: "emailAddress", aliases: []string{"E", "email"}, oid: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, rule: ruleCaseIgnoreIA5, ia5: true},
}

// attributeByName finds a known attribute by name or alias, ignoring case as
// RFC 4512 §1.4 requires for descriptors.
func attributeByName(name string) (attribute, bool) {
	for _, a := range knownAttributes {
		if strings.EqualFold(a.name, name) {
			return a, true
		}
		for _, alias := range a.aliases {
			if strings.EqualFold(alias, name) {
				return a, true
			}
		}
	}
	return attribute{}, false
}

// attributeByOID finds a known attribute by its object identifier.
func attributeByOID(oid asn1.ObjectIdentifier) (attribute, bool) {
	for _, a := range knownAttributes {
		if a.oid.Equal(oid) {
			return a, true
		}
	}
	return attribute{}, false
}
