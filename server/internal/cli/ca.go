package cli

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/cibalab/cibalab/server/ca"
	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/cliconv"
)

// runCACreate implements "ciba-op ca create".
func runCACreate(ctx context.Context, e Env, args []string) int {
	cmd := newCommand("ca create", "ca create [--name NAME] [flags]",
		"Creates a certificate authority (ECDSA P-256, 10 years) under cas/NAME in the state\n"+
			"directory. Every CA there is trusted for client certificates (RFC 8705 §2.1), also by\n"+
			"a running server. Issue certificates from it with 'ciba-op cert issue --ca NAME'.")
	var dir, name string
	cmd.stateDirVar(&dir)
	cmd.registryVars()
	cmd.stringVar(&name, "name", "", registry.DefaultCAName, "`NAME` of the CA: 1 to 64 of A-Z a-z 0-9 _ -")
	if code, ok := cmd.parse(e, args); !ok {
		return code
	}
	d, code, ok := openState(e, cmd, dir)
	if !ok {
		return code
	}
	defer d.Close()
	c, err := d.CreateCA(name)
	if err != nil {
		return cmd.fail(e, exitError, err)
	}
	fmt.Fprintf(e.Stdout, "created certificate authority %s\n  certificate:          %s\n  subject:              %s\n  not after:            %s\n  SHA-256 fingerprint:  %s\n",
		c.Name, filepath.Join(dir, "cas", c.Name, ca.CertFile), c.Cert.Subject, c.Cert.NotAfter.UTC().Format(time.RFC3339), fingerprint(c.Cert))
	return exitOK
}

// caInfo is one CA in the output of "ca list --json".
type caInfo struct {
	Name        string    `json:"name"`
	Subject     string    `json:"subject"`
	NotAfter    time.Time `json:"not_after"`
	Fingerprint string    `json:"sha256_fingerprint"`
	File        string    `json:"file"`
}

// runCAList implements "ciba-op ca list".
func runCAList(ctx context.Context, e Env, args []string) int {
	cmd := newCommand("ca list", "ca list [--json] [flags]",
		"Lists the certificate authorities trusted for client certificates.")
	load := func(d *registry.Dir) ([]caInfo, error) {
		cas, err := d.CAs()
		if err != nil {
			return nil, err
		}
		infos := make([]caInfo, 0, len(cas))
		for _, c := range cas {
			infos = append(infos, caInfo{Name: c.Name, Subject: c.Cert.Subject.String(), NotAfter: c.Cert.NotAfter.UTC(),
				Fingerprint: fingerprint(c.Cert), File: filepath.Join(d.Path(), "cas", c.Name, ca.CertFile)})
		}
		return infos, nil
	}
	return runList(e, args, cmd, load, "NAME\tSUBJECT\tNOT AFTER\tSHA-256 FINGERPRINT", func(i caInfo) []string {
		return []string{i.Name, i.Subject, i.NotAfter.Format(time.DateOnly), i.Fingerprint}
	})
}

// fingerprint is the SHA-256 of the certificate's DER, as colon-separated
// hex (the form openssl x509 -fingerprint prints).
func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// printJSON prints v as one indented JSON document.
func printJSON(e Env, v any) int {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		fmt.Fprintf(e.Stderr, "ciba-op: %v\n", err)
		return exitError
	}
	fmt.Fprintf(e.Stdout, "%s\n", data)
	return exitOK
}

// jsonFailure prints the JSON error document of a failed --json command
// (the message is already on stderr) and returns code.
func jsonFailure(e Env, asJSON bool, code int, errs ...error) int {
	if !asJSON {
		return code
	}
	doc := map[string]string{"error": "error"}
	if code == exitUsage {
		doc["error"] = "usage"
	}
	if len(errs) > 0 {
		doc["error_description"] = cliconv.Message(errs[0])
	}
	data, _ := json.Marshal(doc)
	fmt.Fprintf(e.Stdout, "%s\n", data)
	return code
}
