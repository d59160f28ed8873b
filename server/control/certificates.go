package control

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/pki"
)

func (s *Server) certificateRoutes() []route {
	return []route{
		{"POST", "/clients/{id}/certificates", s.issueCertificate},
	}
}

// certificateJSON is an issued client certificate in every form a client
// library may want.
type certificateJSON struct {
	ClientID string `json:"client_id"`
	// PKCS12 is the base64 (standard, padded) PKCS#12 file holding the
	// key, the certificate and the issuing CA, protected by Password.
	PKCS12   string `json:"pkcs12"`
	Password string `json:"password"`
	// CertificatePEM and PrivateKeyPEM (PKCS#8, unencrypted) are the same
	// certificate and key in PEM.
	CertificatePEM string `json:"certificate_pem"`
	PrivateKeyPEM  string `json:"private_key_pem"`
	// ServerCAPEM is the CA that issued the OP's server certificate, to
	// trust when calling the OP.
	ServerCAPEM string `json:"server_ca_pem"`
	// X5tS256 is the certificate's SHA-256 thumbprint, the cnf claim of
	// the access tokens bound to it (RFC 8705 §3.1).
	X5tS256  string    `json:"x5t#S256"`
	Subject  string    `json:"subject"`
	NotAfter time.Time `json:"not_after"`
}

// issueCertificate issues a certificate with which the client
// authenticates with tls_client_auth (RFC 8705 §2.1), for its registered
// subject DN or SAN, from the default CA unless {"ca": NAME}. The body is
// optional: {"password": P} protects the PKCS#12 (a random one otherwise),
// {"validity_days": N} sets its lifetime (default 365). Nothing is written
// to the state directory.
func (s *Server) issueCertificate(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	var in struct {
		Password     string `json:"password"`
		CA           string `json:"ca"`
		ValidityDays int    `json:"validity_days"`
	}
	if err := readJSON(r, &in, true); err != nil {
		return err
	}
	if in.ValidityDays < 0 || in.ValidityDays > 3650 {
		return badRequest(`"validity_days" must be 1 to 3650`)
	}
	if in.Password == "" {
		var b [18]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		in.Password = base64.RawURLEncoding.EncodeToString(b[:])
	}
	if _, err := s.cfg.OP.Dir.Client(id); err != nil {
		return registryError(err)
	}
	issued, err := s.cfg.OP.Dir.IssueClientCert(id, registry.IssueOptions{
		CA: in.CA, Password: in.Password, Validity: time.Duration(in.ValidityDays) * 24 * time.Hour,
	})
	if err != nil {
		return registryError(err)
	}
	keyPEM, err := pki.EncodePrivateKeyPEM(issued.Key)
	if err != nil {
		return err
	}
	serverCA, err := os.ReadFile(s.cfg.OP.Dir.CAFile())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, certificateJSON{
		ClientID:       id,
		PKCS12:         base64.StdEncoding.EncodeToString(issued.P12),
		Password:       in.Password,
		CertificatePEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: issued.Cert.Raw})),
		PrivateKeyPEM:  string(keyPEM),
		ServerCAPEM:    string(serverCA),
		X5tS256:        pki.ThumbprintS256(issued.Cert),
		Subject:        issued.Cert.Subject.String(),
		NotAfter:       issued.Cert.NotAfter.UTC(),
	})
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
