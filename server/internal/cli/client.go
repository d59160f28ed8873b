package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

// runClientAdd implements "ciba-op client add".
func runClientAdd(ctx context.Context, e Env, args []string) int {
	cmd := newCommand("client add",
		"client add --id ID [--subject-dn DN | --san-dns D | --san-uri U | --san-ip IP | --san-email E] [flags]",
		"Registers a client. With tls_client_auth (RFC 8705 §2.1, the default) its certificate\n"+
			"is recognised by exactly one of a subject DN or a subject alternative name\n"+
			"(RFC 8705 §2.1.2); without one the subject DN is CN=<ID>; then issue its certificate\n"+
			"with 'ciba-op cert issue'. self_signed_tls_client_auth (RFC 8705 §2.2) takes the\n"+
			"client's own certificate (--self-signed-cert or x5c in --jwks-file); private_key_jwt\n"+
			"(RFC 7523) takes its public keys (--jwks-file); client_secret_basic and\n"+
			"client_secret_post (RFC 6749 §2.3.1) get a generated secret written to --secret-file.\n"+
			"A running server sees the client at once.")
	cmd.extra = `SIGNED REQUESTS AND HINTS
  The keys of --jwks-file also verify the client's signed authentication requests
  (CIBA Core 1.0 §7.1.1) and login_hint_tokens (docs/login-hint-token.md).
`
	var dir, id, name, mode, endpoint, method, jwksFile, certFile, secretFile string
	var c registry.Client
	cmd.stateDirVar(&dir)
	cmd.registryVars()
	cmd.stringVar(&id, "id", "", "", "client_id `ID`: 1 to 128 of A-Z a-z 0-9 . _ - (required)")
	cmd.stringVar(&name, "name", "", "", "client_name `NAME`, for display")
	cmd.stringVar(&c.SubjectDN, "subject-dn", "", "", "tls_client_auth_subject_dn: RFC 4514 subject `DN` of the certificate")
	cmd.stringVar(&c.SANDNS, "san-dns", "", "", "tls_client_auth_san_dns: a dNSName SAN (`NAME`) of the certificate")
	cmd.stringVar(&c.SANURI, "san-uri", "", "", "tls_client_auth_san_uri: a `URI` SAN of the certificate")
	cmd.stringVar(&c.SANIP, "san-ip", "", "", "tls_client_auth_san_ip: an `IP` address SAN of the certificate")
	cmd.stringVar(&c.SANEmail, "san-email", "", "", "tls_client_auth_san_email: an rfc822Name SAN (`EMAIL`) of the certificate")
	cmd.stringVar(&mode, "delivery-mode", "", string(oauth.ModePoll), "backchannel_token_delivery_mode `MODE`: poll, ping or push")
	cmd.stringVar(&endpoint, "notification-endpoint", "", "", "backchannel_client_notification_endpoint: https `URL` (ping and push)")
	cmd.stringVar(&method, "auth-method", "", oauth.AuthTLSClient, "token_endpoint_auth_method `METHOD`: "+strings.Join(registry.AuthMethods(), ", "))
	cmd.stringVar(&jwksFile, "jwks-file", "", "", "`FILE` holding the client's public keys as a JWK Set (jwks)")
	cmd.stringVar(&certFile, "self-signed-cert", "", "", "PEM `FILE` of the client's own certificate, added to the jwks with x5c (self_signed_tls_client_auth)")
	cmd.stringVar(&secretFile, "secret-file", "", "", "`FILE` (new, written 0600) receiving the generated client_secret (client_secret_basic, client_secret_post)")
	cmd.boolVar(&c.RequireSignedRequest, "require-signed-request", "require signed authentication requests (the request parameter, CIBA Core 1.0 §7.1.1)")
	cmd.stringVar(&c.BackchannelAuthRequestSigningAlg, "request-signing-alg", "", "", "backchannel_authentication_request_signing_alg `ALG` (PS256, ES256); implies signed requests")
	cmd.boolVar(&c.BackchannelUserCodeParameter, "user-code", "backchannel_user_code_parameter: the client sends the user's user_code (CIBA Core 1.0 §7.1.2)")
	cmd.stringVar(&c.IDTokenSignedResponseAlg, "id-token-alg", "", "", "id_token_signed_response_alg `ALG`: RS256 (default), PS256 or ES256")
	cmd.boolVar(&c.TLSClientCertificateBoundAccessTokens, "bound-tokens", "tls_client_certificate_bound_access_tokens: issue tokens only to a connection with a client certificate, bound to it (RFC 8705 §3.4); mutual TLS methods always bind")
	var detailsTypes string
	cmd.stringVar(&detailsTypes, "authorization-details-types", "", "", "authorization_details_types: comma-separated `TYPES` the client may request (RFC 9396 §10), e.g. payment_initiation,account_information")
	var refresh bool
	cmd.boolVar(&refresh, "refresh-tokens", "also register the refresh_token grant: token responses then carry a rotating refresh token (RFC 6749 §6)")
	if code, ok := cmd.parse(e, args); !ok {
		return code
	}
	if id == "" {
		return cmd.usageError(e, "--id is required")
	}
	c.ID, c.Name, c.DeliveryMode, c.NotificationEndpoint = id, name, oauth.DeliveryMode(mode), endpoint
	c.TokenEndpointAuthMethod = method
	if method == oauth.AuthTLSClient && c.SubjectDN == "" && c.SANDNS == "" && c.SANURI == "" && c.SANIP == "" && c.SANEmail == "" {
		c.SubjectDN = "CN=" + id
	}
	c.GrantTypes = []string{oauth.GrantTypeCIBA}
	if refresh {
		c.GrantTypes = append(c.GrantTypes, oauth.GrantTypeRefreshToken)
	}
	c.AuthorizationDetailsTypes = splitList(detailsTypes)
	if err := addClientKeys(&c, jwksFile, certFile); err != nil {
		return cmd.usageError(e, err.Error())
	}
	secretMethod := method == registry.AuthClientSecretBasic || method == registry.AuthClientSecretPost
	var secret string
	switch {
	case secretMethod && secretFile == "":
		return cmd.usageError(e, "--secret-file is required with "+method)
	case !secretMethod && secretFile != "":
		return cmd.usageError(e, "--secret-file is for client_secret_basic and client_secret_post only")
	case secretMethod:
		if _, err := os.Lstat(secretFile); err == nil {
			return cmd.usageError(e, "--secret-file "+secretFile+" exists; give a new file")
		}
		secret = registry.GenerateClientSecret()
		hash, err := registry.HashClientSecret(secret)
		if err != nil {
			return cmd.fail(e, exitError, err)
		}
		c.ClientSecretHash = hash
	}
	if err := c.Validate(); err != nil {
		return cmd.usageError(e, err.Error())
	}
	d, code, ok := openState(e, cmd, dir)
	if !ok {
		return code
	}
	defer d.Close()
	if secret != "" {
		// Written before the client exists, so a registered client always
		// has its secret on disk.
		if err := pki.WriteSecretFile(secretFile, []byte(secret+"\n")); err != nil {
			return cmd.fail(e, exitError, err)
		}
	}
	if err := d.AddClient(c); err != nil {
		if secret != "" {
			os.Remove(secretFile)
		}
		return cmd.fail(e, exitError, err)
	}
	if method == oauth.AuthTLSClient {
		fmt.Fprintf(e.Stdout, "registered client %s (tls_client_auth, %s, %s mode)\n", c.ID, clientSubject(c), c.DeliveryMode)
	} else {
		fmt.Fprintf(e.Stdout, "registered client %s (%s, %s mode)\n", c.ID, method, c.DeliveryMode)
	}
	switch {
	case secret != "":
		fmt.Fprintf(e.Stdout, "client_secret written to %s (0600)\n", secretFile)
	case method == oauth.AuthTLSClient:
		sd := ""
		if dir != defaultStateDir {
			sd = " --state-dir " + shellQuote(dir)
		}
		if cmd.reg.natsURL != "" {
			// The same registry in JetStream; the URL may carry the OP's
			// NATS password, so the hint names the variable, not the URL.
			sd += ` --nats-url "$` + envNATSURL + `"`
			if cmd.reg.keyFile != "" {
				sd += " --registry-key-file " + shellQuote(cmd.reg.keyFile)
			}
		}
		pass := shellQuote(c.ID + ".pass")
		fmt.Fprintf(e.Stdout, "next: a password file for its PKCS#12 file, then its certificate:\n  %s %s)\n  %s cert issue --client %s --out %s --password-file %s%s\n",
			newSecretFileCommand, pass, e.bin("ciba-op"), shellQuote(c.ID), shellQuote(c.ID+".p12"), pass, sd)
	}
	return exitOK
}

// splitList splits a comma-separated flag value, dropping empty items;
// nil for none.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// addClientKeys fills c.JWKS from a JWK Set file and a self-signed PEM
// certificate (RFC 8705 §2.2.2: the certificate travels in x5c).
func addClientKeys(c *registry.Client, jwksFile, certFile string) error {
	if jwksFile == "" && certFile == "" {
		return nil
	}
	set := &pki.JWKS{}
	if jwksFile != "" {
		data, err := os.ReadFile(jwksFile)
		if err != nil {
			return fmt.Errorf("--jwks-file: %v", err)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(set); err != nil {
			return fmt.Errorf("--jwks-file %s: not a JWK Set of public keys: %v", jwksFile, err)
		}
	}
	if certFile != "" {
		data, err := os.ReadFile(certFile)
		if err != nil {
			return fmt.Errorf("--self-signed-cert: %v", err)
		}
		certs, err := pki.ParseCertificatesPEM(data)
		if err != nil || len(certs) == 0 {
			return fmt.Errorf("--self-signed-cert %s: no PEM certificate", certFile)
		}
		jwk, err := pki.PublicJWK(certs[0].PublicKey, "", "")
		if err != nil {
			return fmt.Errorf("--self-signed-cert %s: %v", certFile, err)
		}
		jwk.X5c = []string{base64.StdEncoding.EncodeToString(certs[0].Raw)}
		set.Keys = append(set.Keys, jwk)
	}
	c.JWKS = set
	return nil
}

// clientSubject describes how the client is recognised.
func clientSubject(c registry.Client) string {
	switch c.TokenEndpointAuthMethod {
	case oauth.AuthSelfSignedTLSClient, registry.AuthPrivateKeyJWT, registry.AuthClientSecretBasic, registry.AuthClientSecretPost:
		return c.TokenEndpointAuthMethod
	}
	switch {
	case c.SubjectDN != "":
		return "subject " + c.SubjectDN
	case c.SANDNS != "":
		return "san_dns " + c.SANDNS
	case c.SANURI != "":
		return "san_uri " + c.SANURI
	case c.SANIP != "":
		return "san_ip " + c.SANIP
	case c.SANEmail != "":
		return "san_email " + c.SANEmail
	}
	return "-"
}

// runClientList implements "ciba-op client list".
func runClientList(ctx context.Context, e Env, args []string) int {
	cmd := newCommand("client list", "client list [--json] [flags]",
		"Lists the registered clients; --json prints their metadata (RFC 7591 names).")
	return runList(e, args, cmd, (*registry.Dir).Clients, "ID\tSUBJECT\tDELIVERY MODE", func(c registry.Client) []string {
		return []string{c.ID, clientSubject(c), string(c.DeliveryMode)}
	})
}
