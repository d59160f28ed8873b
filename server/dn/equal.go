package dn

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Equal reports whether d and o name the same entry under the
// distinguishedNameMatch rule of RFC 4517 §4.2.15, as RFC 8705 §2.1.2 asks
// for tls_client_auth_subject_dn: both have the same number of RDNs, the RDNs
// correspond in order, and corresponding RDNs hold the same set of attribute
// types with matching values.
//
// Values are prepared with a subset of RFC 4518: every Unicode space
// character becomes U+0020, leading and trailing spaces are removed and
// internal runs of spaces collapse to one (§2.6.1); Unicode normalisation
// (NFKC) is not applied. The attribute's equality rule then decides case:
// caseIgnoreMatch for the directory-string attributes (CN, O, OU, C, L, ST,
// STREET, SERIALNUMBER, UID and the others this package names) uses Unicode
// simple case folding, caseIgnoreIA5Match (emailAddress, DC) folds ASCII
// only, and attribute types this package does not know compare exactly after
// space handling.
func (d DN) Equal(o DN) bool {
	if len(d) != len(o) {
		return false
	}
	for i := range d {
		if !d[i].equal(o[i]) {
			return false
		}
	}
	return true
}

// equal compares two RDNs as sets of attributes (RFC 4517 §4.2.15): each
// attribute is reduced to a key that is equal exactly when the attributes
// match, so the sorted keys must be equal.
func (r RDN) equal(o RDN) bool {
	if len(r) != len(o) {
		return false
	}
	a, b := r.keys(), o.keys()
	return slices.Equal(a, b)
}

func (r RDN) keys() []string {
	k := make([]string, len(r))
	for i, atv := range r {
		k[i] = atv.key()
	}
	slices.Sort(k)
	return k
}

// key is the attribute's type in dotted form and its value prepared for the
// type's equality rule, separated by a NUL that no dotted OID contains.
func (a AttributeTypeAndValue) key() string {
	rule := ruleCaseExact
	if known, ok := attributeByOID(a.Type); ok {
		rule = known.rule
	}
	return a.Type.String() + "\x00" + prepare(a.Value, rule)
}

// prepare applies the insignificant-space handling and case folding
// described on Equal.
func prepare(v string, rule matchRule) string {
	var b strings.Builder
	pendingSpace := false
	for i, r := range v {
		if r == utf8.RuneError && !strings.HasPrefix(v[i:], string(utf8.RuneError)) {
			// Keep an invalid byte as it is rather than as U+FFFD.
			if pendingSpace {
				b.WriteByte(' ')
				pendingSpace = false
			}
			b.WriteByte(v[i])
			continue
		}
		if unicode.IsSpace(r) || unicode.Is(unicode.Zs, r) {
			pendingSpace = b.Len() > 0
			continue
		}
		if pendingSpace {
			b.WriteByte(' ')
			pendingSpace = false
		}
		switch rule {
		case ruleCaseIgnore:
			r = foldRune(r)
		case ruleCaseIgnoreIA5:
			if 'A' <= r && r <= 'Z' {
				r += 'a' - 'A'
			}
		}
		b.WriteRune(r)
	}
	return b.String()
}

// foldRune maps r to the smallest rune of its simple case-folding orbit, so
// that two runes fold to the same rune exactly when strings.EqualFold treats
// them as equal.
func foldRune(r rune) rune {
	lowest := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		lowest = min(lowest, f)
	}
	return lowest
}
