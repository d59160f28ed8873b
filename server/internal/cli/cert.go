package cli

import (
	"context"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

// runCertIssue implements "ciba-op cert issue".
func runCertIssue(ctx context.Context, e Env, args []string) int {
	cmd := newCommand("cert issue", "cert issue --client ID --out FILE.p12 [flags]",
		"Issues a certificate for the registered client ID, with which it authenticates by\n"+
			"tls_client_auth (RFC 8705 §2.1): the subject is the client's registered subject DN, or\n"+
			"CN=<ID> and its registered subject alternative name. Writes the key, the certificate\n"+
			"and the issuing CA as a PKCS#12 file (0600); with --pem also FILE.pem and FILE-key.pem\n"+
			"(0600). Prints the subject and the x5t#S256 thumbprint (RFC 8705 §3.1). An existing\n"+
			"FILE is kept unless --force, and no certificate outlives the CA that issues it.\n\n"+
			"For a ping or push client it also writes FILE-notify.pem and FILE-notify-key.pem\n"+
			"(0600), without FILE's extension: the TLS server certificate of the client's notification\n"+
			"endpoint (CIBA Core 1.0 §9), for the host of its registered\n"+
			"backchannel_client_notification_endpoint, issued by the default CA, which 'ciba-op serve'\n"+
			"trusts for notification endpoints. ciba-client serves its endpoint with them\n"+
			"(--notify-cert/--notify-key; by default the files next to its --cert).")
	cmd.extra = `ENVIRONMENT
  CIBA_OP_CERT_PASSWORD  the PKCS#12 password when --password-file is not given
`
	var dir, clientID, out, caName, passwordFile string
	var validity time.Duration
	var insecureEmpty, withPEM, force bool
	cmd.stateDirVar(&dir)
	cmd.registryVars()
	cmd.stringVar(&clientID, "client", "", "", "client_id `ID` of a registered client (required)")
	cmd.stringVar(&out, "out", "", "", "PKCS#12 `FILE` to write (required)")
	cmd.stringVar(&caName, "ca", "", registry.DefaultCAName, "`NAME` of the issuing certificate authority")
	cmd.durationVar(&validity, "validity", "", 8760*time.Hour, "validity (`TIME`) of the certificate")
	cmd.stringVar(&passwordFile, "password-file", "", "", "`FILE` holding the PKCS#12 password (trailing newline ignored)")
	cmd.boolVar(&insecureEmpty, "insecure-empty-password", "allow a PKCS#12 file without a password")
	cmd.boolVar(&withPEM, "pem", "also write the certificate and key as PEM files")
	cmd.boolVar(&force, "force", "overwrite --out (and the PEM files) when they exist")
	if code, ok := cmd.parse(e, args); !ok {
		return code
	}
	if clientID == "" {
		return cmd.usageError(e, "--client is required")
	}
	if out == "" {
		return cmd.usageError(e, "--out is required")
	}
	if validity <= 0 {
		return cmd.usageError(e, "--validity must be positive")
	}
	if !force {
		targets := []string{out}
		if withPEM {
			base := strings.TrimSuffix(out, filepath.Ext(out))
			targets = append(targets, base+".pem", base+"-key.pem")
		}
		for _, f := range targets {
			if _, err := os.Lstat(f); err == nil {
				return cmd.usageError(e, f+" exists: give another --out, or --force to overwrite it")
			}
		}
	}
	var password string
	if passwordFile != "" {
		p, err := readPasswordFile(passwordFile)
		if err != nil {
			return cmd.fail(e, exitError, err)
		}
		password = p
	} else {
		password = e.getenv(envCertPassword)
	}
	if password == "" && !insecureEmpty {
		return cmd.usageError(e, "no password for the PKCS#12 file: give --password-file FILE or set "+envCertPassword+
			" (or, for a file anyone can open, --insecure-empty-password)")
	}
	d, code, ok := openState(e, cmd, dir)
	if !ok {
		return code
	}
	defer d.Close()
	issued, err := d.IssueClientCert(clientID, registry.IssueOptions{CA: caName, Validity: validity, Password: password, InsecureEmptyPassword: insecureEmpty})
	if err != nil {
		return cmd.fail(e, exitError, err)
	}
	written := []string{out}
	if withPEM {
		base := strings.TrimSuffix(out, filepath.Ext(out))
		certFile, keyFile := base+".pem", base+"-key.pem"
		keyPEM, err := pki.EncodePrivateKeyPEM(issued.Key)
		if err != nil {
			return cmd.fail(e, exitError, err)
		}
		if err := pki.WriteSecretFile(keyFile, keyPEM); err != nil {
			return cmd.fail(e, exitError, err)
		}
		if err := pki.WritePublicFile(certFile, pki.EncodeCertificatePEM(issued.Cert)); err != nil {
			return cmd.fail(e, exitError, err)
		}
		written = append(written, certFile, keyFile)
	}
	notify, err := writeNotificationCert(d, clientID, out, validity)
	if err != nil {
		return cmd.fail(e, exitError, err)
	}
	written = append(written, notify...)
	if err := pki.WriteSecretFile(out, issued.P12); err != nil {
		return cmd.fail(e, exitError, err)
	}
	if password == "" {
		fmt.Fprintf(e.Stderr, "ciba-op cert issue: warning: %s has an empty password\n", out)
	}
	fmt.Fprintf(e.Stdout, "subject:    %s\nx5t#S256:   %s\nnot after:  %s\nissuer:     %s\n",
		issued.Cert.Subject, pki.ThumbprintS256(issued.Cert), issued.Cert.NotAfter.UTC().Format(time.RFC3339), issued.Cert.Issuer)
	for _, f := range written {
		fmt.Fprintf(e.Stdout, "wrote:      %s\n", f)
	}
	return exitOK
}

// writeNotificationCert writes, for a ping or push client, the TLS server
// certificate chain and key of its notification endpoint (CIBA Core 1.0
// §9) next to out, as <out without extension>-notify.pem and
// -notify-key.pem (0600), and returns their names; for a poll client it
// writes nothing.
func writeNotificationCert(d *registry.Dir, clientID, out string, validity time.Duration) ([]string, error) {
	c, err := d.Client(clientID)
	if err != nil {
		return nil, err
	}
	if c.DeliveryMode != oauth.ModePing && c.DeliveryMode != oauth.ModePush {
		return nil, nil
	}
	cert, err := d.IssueNotificationCert(clientID, validity)
	if err != nil {
		return nil, err
	}
	keyPEM, err := pki.EncodePrivateKeyPEM(cert.PrivateKey)
	if err != nil {
		return nil, err
	}
	var chain []byte
	for _, der := range cert.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	base := strings.TrimSuffix(out, filepath.Ext(out)) + "-notify"
	certFile, keyFile := base+".pem", base+"-key.pem"
	if err := pki.WriteSecretFile(keyFile, keyPEM); err != nil {
		return nil, err
	}
	if err := pki.WritePublicFile(certFile, chain); err != nil {
		return nil, err
	}
	return []string{certFile + " (notification endpoint certificate for " + cert.Leaf.Subject.CommonName + ")", keyFile}, nil
}
