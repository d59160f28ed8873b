package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/oauth"
)

// runClientUpdate implements "ciba-op client update".
func runClientUpdate(ctx context.Context, e Env, args []string) int {
	cmd := newCommand("client update", "client update --id ID [flags]",
		"Changes a registered client: only the flags given change. Giving one of --subject-dn,\n"+
			"--san-dns, --san-uri, --san-ip, --san-email replaces the certificate identifier; it must\n"+
			"not be another client's. Delivery mode poll drops the notification endpoint.\n"+
			"A running server sees the change at once.")
	var dir, id, name, dnv, sanDNS, sanURI, sanIP, sanEmail, mode, endpoint, jwksFile, idTokenAlg, detailsTypes string
	cmd.stateDirVar(&dir)
	cmd.registryVars()
	cmd.stringVar(&id, "id", "", "", "client_id `ID` of a registered client (required)")
	cmd.stringVar(&name, "name", "", "", "client_name `NAME`, for display")
	cmd.stringVar(&dnv, "subject-dn", "", "", "tls_client_auth_subject_dn: RFC 4514 subject `DN` of the certificate")
	cmd.stringVar(&sanDNS, "san-dns", "", "", "tls_client_auth_san_dns: a dNSName SAN (`NAME`) of the certificate")
	cmd.stringVar(&sanURI, "san-uri", "", "", "tls_client_auth_san_uri: a `URI` SAN of the certificate")
	cmd.stringVar(&sanIP, "san-ip", "", "", "tls_client_auth_san_ip: an `IP` address SAN of the certificate")
	cmd.stringVar(&sanEmail, "san-email", "", "", "tls_client_auth_san_email: an rfc822Name SAN (`EMAIL`) of the certificate")
	cmd.stringVar(&mode, "delivery-mode", "", "", "backchannel_token_delivery_mode `MODE`: poll, ping or push")
	cmd.stringVar(&endpoint, "notification-endpoint", "", "", "backchannel_client_notification_endpoint: https `URL` (ping and push)")
	cmd.stringVar(&jwksFile, "jwks-file", "", "", "`FILE` holding the client's public keys as a JWK Set (jwks), replacing the registered ones")
	cmd.stringVar(&idTokenAlg, "id-token-alg", "", "", "id_token_signed_response_alg `ALG`: RS256, PS256 or ES256")
	cmd.stringVar(&detailsTypes, "authorization-details-types", "", "", "authorization_details_types: comma-separated `TYPES` the client may request (RFC 9396 §10), replacing the registered ones; empty: none")
	if code, ok := cmd.parse(e, args); !ok {
		return code
	}
	if id == "" {
		return cmd.usageError(e, "--id is required")
	}
	given := map[string]bool{}
	changes := 0
	cmd.fs.Visit(func(f *flag.Flag) {
		given[f.Name] = true
		switch f.Name {
		case "id", "state-dir", "nats-url", "registry-key-file", "log-format":
		default:
			changes++
		}
	})
	if changes == 0 {
		return cmd.usageError(e, "nothing to change: give at least one flag besides --id and those that say where the registry is")
	}
	d, code, ok := openState(e, cmd, dir)
	if !ok {
		return code
	}
	defer d.Close()
	c, err := d.Client(id)
	if err != nil {
		return cmd.fail(e, exitError, err)
	}
	if given["name"] {
		c.Name = name
	}
	if given["subject-dn"] || given["san-dns"] || given["san-uri"] || given["san-ip"] || given["san-email"] {
		c.SubjectDN, c.SANDNS, c.SANURI, c.SANIP, c.SANEmail = dnv, sanDNS, sanURI, sanIP, sanEmail
	}
	if given["delivery-mode"] {
		c.DeliveryMode = oauth.DeliveryMode(mode)
		if c.DeliveryMode == oauth.ModePoll && !given["notification-endpoint"] {
			c.NotificationEndpoint = ""
		}
	}
	if given["notification-endpoint"] {
		c.NotificationEndpoint = endpoint
	}
	if given["id-token-alg"] {
		c.IDTokenSignedResponseAlg = idTokenAlg
	}
	if given["authorization-details-types"] {
		c.AuthorizationDetailsTypes = splitList(detailsTypes)
	}
	if given["jwks-file"] {
		keep := c.JWKS
		c.JWKS = nil
		if err := addClientKeys(c, jwksFile, ""); err != nil {
			c.JWKS = keep
			return cmd.usageError(e, err.Error())
		}
	}
	if err := c.Validate(); err != nil {
		return cmd.usageError(e, err.Error())
	}
	if err := d.UpdateClient(*c); err != nil {
		return cmd.fail(e, exitError, err)
	}
	fmt.Fprintf(e.Stdout, "updated client %s (%s, %s mode)\n", c.ID, clientSubject(*c), c.DeliveryMode)
	return exitOK
}

// runClientRemove implements "ciba-op client remove".
func runClientRemove(ctx context.Context, e Env, args []string) int {
	cmd := newCommand("client remove", "client remove --id ID [flags]",
		"Removes a client. Its certificates stop authenticating at once, also in a running server;\n"+
			"its pending requests and tokens are not revoked.")
	var dir, id string
	cmd.stateDirVar(&dir)
	cmd.registryVars()
	cmd.stringVar(&id, "id", "", "", "client_id `ID` of a registered client (required)")
	if code, ok := cmd.parse(e, args); !ok {
		return code
	}
	if id == "" {
		return cmd.usageError(e, "--id is required")
	}
	d, code, ok := openState(e, cmd, dir)
	if !ok {
		return code
	}
	defer d.Close()
	if err := d.RemoveClient(id); err != nil {
		return cmd.fail(e, exitError, err)
	}
	fmt.Fprintf(e.Stdout, "removed client %s\n", id)
	return exitOK
}

// runUserUpdate implements "ciba-op user update".
func runUserUpdate(ctx context.Context, e Env, args []string) int {
	cmd := newCommand("user update", "user update --id USER [flags]",
		"Sets a user's password, stored only as a PBKDF2-SHA256 hash. It comes from\n"+
			"--password-file, else $CIBA_OP_USER_PASSWORD, else a prompt when stdin is a terminal.\n"+
			"Devices already enrolled keep working.")
	cmd.extra = `ENVIRONMENT
  CIBA_OP_USER_PASSWORD  the password when --password-file is not given
`
	var dir, id, passwordFile string
	cmd.stateDirVar(&dir)
	cmd.registryVars()
	cmd.stringVar(&id, "id", "", "", "user `ID` (required)")
	cmd.stringVar(&passwordFile, "password-file", "", "", "`FILE` holding the new password (trailing newline ignored)")
	if code, ok := cmd.parse(e, args); !ok {
		return code
	}
	if id == "" {
		return cmd.usageError(e, "--id is required")
	}
	password, code, ok := cmd.userPassword(e, passwordFile, "New password for "+id+": ")
	if !ok {
		return code
	}
	d, code, ok := openState(e, cmd, dir)
	if !ok {
		return code
	}
	defer d.Close()
	if _, err := d.UpdateUser(id, registry.UserUpdate{Password: &password}); err != nil {
		return cmd.fail(e, exitError, err)
	}
	fmt.Fprintf(e.Stdout, "updated the password of user %s\n", id)
	return exitOK
}

// runUserRemove implements "ciba-op user remove".
func runUserRemove(ctx context.Context, e Env, args []string) int {
	cmd := newCommand("user remove", "user remove --id USER [flags]",
		"Removes a user and revokes every device enrolled for them (also in a running server).")
	var dir, id string
	cmd.stateDirVar(&dir)
	cmd.registryVars()
	cmd.stringVar(&id, "id", "", "", "user `ID` (required)")
	if code, ok := cmd.parse(e, args); !ok {
		return code
	}
	if id == "" {
		return cmd.usageError(e, "--id is required")
	}
	d, code, ok := openState(e, cmd, dir)
	if !ok {
		return code
	}
	defer d.Close()
	revoked, err := d.RemoveUser(id)
	if err != nil {
		return cmd.fail(e, exitError, err)
	}
	fmt.Fprintf(e.Stdout, "removed user %s\n", id)
	for _, dev := range revoked {
		fmt.Fprintf(e.Stdout, "revoked device %s\n", dev.ID)
	}
	return exitOK
}

// runCARemove implements "ciba-op ca remove".
func runCARemove(ctx context.Context, e Env, args []string) int {
	cmd := newCommand("ca remove", "ca remove --name NAME [flags]",
		"Stops trusting a certificate authority for client certificates and deletes it, key\n"+
			"included; a running server stops accepting its certificates at once. The default CA,\n"+
			"which issues the server's certificate, stays.")
	var dir, name string
	cmd.stateDirVar(&dir)
	cmd.registryVars()
	cmd.stringVar(&name, "name", "", "", "`NAME` of the CA (required)")
	if code, ok := cmd.parse(e, args); !ok {
		return code
	}
	if name == "" {
		return cmd.usageError(e, "--name is required")
	}
	if name == registry.DefaultCAName {
		return cmd.usageError(e, fmt.Sprintf("the CA %q issues the server's certificate and cannot be removed", name))
	}
	d, code, ok := openState(e, cmd, dir)
	if !ok {
		return code
	}
	defer d.Close()
	if err := d.RemoveCA(name); err != nil {
		return cmd.fail(e, exitError, err)
	}
	fmt.Fprintf(e.Stdout, "removed certificate authority %s\n", name)
	return exitOK
}
