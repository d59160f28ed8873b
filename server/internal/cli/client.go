package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"cibalab/server/state"
	"cibalab/shared/oauth"
)

// runClientAdd implements "ciba-op client add".
func runClientAdd(ctx context.Context, e Env, args []string) int {
	cmd := newCommand("client add",
		"client add --id ID [--subject-dn DN | --san-dns D | --san-uri U | --san-ip IP | --san-email E] [flags]",
		"Registers a client that authenticates with tls_client_auth (RFC 8705 §2.1): its\n"+
			"certificate is recognised by exactly one of a subject DN or a subject alternative\n"+
			"name (RFC 8705 §2.1.2); without one the subject DN is CN=<ID>. A running server sees\n"+
			"the client at once. Then issue its certificate with 'ciba-op cert issue'.")
	var dir, id, name, mode, endpoint string
	var c state.Client
	cmd.stateDirVar(&dir)
	cmd.stringVar(&id, "id", "", "", "client_id `ID`: 1 to 128 of A-Z a-z 0-9 . _ - (required)")
	cmd.stringVar(&name, "name", "", "", "client_name `NAME`, for display")
	cmd.stringVar(&c.SubjectDN, "subject-dn", "", "", "tls_client_auth_subject_dn: RFC 4514 subject `DN` of the certificate")
	cmd.stringVar(&c.SANDNS, "san-dns", "", "", "tls_client_auth_san_dns: a dNSName SAN (`NAME`) of the certificate")
	cmd.stringVar(&c.SANURI, "san-uri", "", "", "tls_client_auth_san_uri: a `URI` SAN of the certificate")
	cmd.stringVar(&c.SANIP, "san-ip", "", "", "tls_client_auth_san_ip: an `IP` address SAN of the certificate")
	cmd.stringVar(&c.SANEmail, "san-email", "", "", "tls_client_auth_san_email: an rfc822Name SAN (`EMAIL`) of the certificate")
	cmd.stringVar(&mode, "delivery-mode", "", string(oauth.ModePoll), "backchannel_token_delivery_mode `MODE`: poll, ping or push")
	cmd.stringVar(&endpoint, "notification-endpoint", "", "", "backchannel_client_notification_endpoint: https `URL` (ping and push)")
	if code, ok := cmd.parse(e, args); !ok {
		return code
	}
	if id == "" {
		return cmd.usageError(e, "--id is required")
	}
	c.ID, c.Name, c.DeliveryMode, c.NotificationEndpoint = id, name, oauth.DeliveryMode(mode), endpoint
	if c.SubjectDN == "" && c.SANDNS == "" && c.SANURI == "" && c.SANIP == "" && c.SANEmail == "" {
		c.SubjectDN = "CN=" + id
	}
	c.TokenEndpointAuthMethod = oauth.AuthTLSClient
	c.GrantTypes = []string{oauth.GrantTypeCIBA}
	if err := c.Validate(); err != nil {
		return cmd.usageError(e, err.Error())
	}
	d, code, ok := openState(e, cmd, dir)
	if !ok {
		return code
	}
	if err := d.AddClient(c); err != nil {
		return cmd.fail(e, exitError, err)
	}
	fmt.Fprintf(e.Stdout, "registered client %s (tls_client_auth, %s, %s mode)\n", c.ID, clientSubject(c), c.DeliveryMode)
	sd := ""
	if dir != defaultStateDir {
		sd = " --state-dir " + shellQuote(dir)
	}
	fmt.Fprintf(e.Stdout, "Next: ciba-op cert issue --client %s --out %s --password-file FILE%s\n", shellQuote(c.ID), shellQuote(c.ID+".p12"), sd)
	return exitOK
}

// clientSubject describes how the client's certificate is recognised.
func clientSubject(c state.Client) string {
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
	var dir string
	var asJSON bool
	cmd.stateDirVar(&dir)
	cmd.boolVar(&asJSON, "json", "print one JSON document")
	if code, ok := cmd.parse(e, args); !ok {
		return code
	}
	d, code, ok := openState(e, cmd, dir)
	if !ok {
		return jsonFailure(e, asJSON, code)
	}
	clients, err := d.Clients()
	if err != nil {
		return jsonFailure(e, asJSON, cmd.fail(e, exitError, err), err)
	}
	if asJSON {
		if clients == nil {
			clients = []state.Client{}
		}
		return printJSON(e, clients)
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSUBJECT\tDELIVERY MODE")
	for _, c := range clients {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.ID, clientSubject(c), c.DeliveryMode)
	}
	tw.Flush()
	return exitOK
}
