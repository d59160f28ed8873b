package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/cibalab/cibalab/server/registry"
)

// runInit implements "ciba-op init".
func runInit(ctx context.Context, e Env, args []string) int {
	cmd := newCommand("init", "init [flags]",
		"Creates what is missing from the state directory and keeps the rest: the default\n"+
			"certificate authority, the server certificate, the token signing keys, the default\n"+
			"client (cibaConformance, tls_client_auth, poll mode) with its PKCS#12 credentials,\n"+
			"and the default user (user / password). Running it again creates nothing.")
	var dir, hosts string
	cmd.stateDirVar(&dir)
	cmd.registryVars()
	cmd.stringVar(&hosts, "hosts", "CIBA_OP_SERVER_HOSTS", strings.Join(registry.DefaultServerHosts(), ","),
		"comma-separated DNS names and IP addresses (`HOSTS`) of the server certificate")
	if code, ok := cmd.parse(e, args); !ok {
		return code
	}
	var hostList []string
	for _, h := range strings.Split(hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hostList = append(hostList, h)
		}
	}
	if len(hostList) == 0 {
		return cmd.usageError(e, "--hosts: no host")
	}
	d, code, ok := openState(e, cmd, dir)
	if !ok {
		return code
	}
	defer d.Close()
	r, err := d.Init(registry.InitOptions{ServerHosts: hostList})
	if err != nil {
		return cmd.fail(e, exitError, err)
	}
	w := e.Stdout
	if len(r.Created) == 0 {
		fmt.Fprintf(w, "Nothing to create: %s is complete.\n", dir)
	}
	for _, line := range r.Created {
		fmt.Fprintf(w, "created %s\n", line)
	}
	sd := ""
	if dir != defaultStateDir {
		sd = " --state-dir " + shellQuote(dir)
	}
	fmt.Fprintf(w, `
Default client %[1]s (tls_client_auth, subject CN=%[1]s):
  CA certificate (trust the OP):  %[2]s
  PKCS#12:                        %[3]s
  PKCS#12 password file:          %[4]s
  certificate (PEM):              %[5]s
  private key (PEM):              %[6]s
Default user: %[7]s (password %[8]q)

Next:
  %[10]s serve%[9]s
  %[11]s alice.pass)
  %[10]s user add --id alice --password-file alice.pass%[9]s
  %[10]s client add --id my-client%[9]s
  %[11]s my-client.pass)
  %[10]s cert issue --client my-client --out my-client.p12 --password-file my-client.pass%[9]s
`, registry.DefaultClientID, r.CAFile, r.ClientP12, r.ClientP12PasswordFile, r.ClientCertPEM, r.ClientKeyPEM,
		registry.DefaultUser, registry.DefaultUserPassword, sd, e.bin("ciba-op"), newSecretFileCommand)
	return exitOK
}
