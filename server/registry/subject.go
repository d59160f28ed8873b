package registry

import (
	"crypto/x509/pkix"
	"fmt"

	"github.com/cibalab/cibalab/server/dn"
)

// parseSubjectDN turns an RFC 4514 distinguished name string such as
// "CN=client,O=Acme,C=FR" into a certificate subject with exactly that DN
// (package dn parses it, so the certificate matches the registered DN under
// the comparison the OP applies, RFC 8705 §2.1.2). Multi-valued RDNs are
// refused: a pkix.Name cannot carry them.
func parseSubjectDN(s string) (pkix.Name, error) {
	d, err := dn.Parse(s)
	if err != nil {
		return pkix.Name{}, err
	}
	if len(d) == 0 {
		return pkix.Name{}, fmt.Errorf("registry: empty subject DN")
	}
	return d.ToPKIXName()
}
