// Package dn parses, prints and compares X.500 distinguished names the way
// RFC 8705 §2.1.2 asks for the tls_client_auth_subject_dn client metadata.
//
// A registered tls_client_auth_subject_dn is an RFC 4514 string, and RFC 8705
// §2.1.2 requires "predictable treatment of DN values, such as the
// distinguishedNameMatch rule from [RFC4517]". Comparing the registered string
// with crypto/x509's Name.String is fragile: that method escapes in its own
// way, prints unknown attribute types as hex, rebuilds unparsed names in a
// fixed field order, and a byte comparison ignores none of the case and space
// differences the matching rules ignore. This
// package instead parses both sides into a DN, a sequence of relative
// distinguished names in RFC 4514 string order (most specific first), and
// compares them attribute by attribute with DN.Equal.
//
// The usual flow on the authorization server is:
//
//	want, err := dn.Parse(client.TLSClientAuthSubjectDN)
//	got, err := dn.FromCertificate(leaf)
//	if !want.Equal(got) { ... invalid_client ... }
//
// For issuing certificates, DN.ToPKIXName gives a pkix.Name that marshals to
// exactly the same DN when every RDN is single-valued, and DN.Marshal gives the
// DER encoding for x509.Certificate.RawSubject, which also keeps multi-valued
// RDNs.
//
// The package has no state and uses only the standard library.
package dn
