package state

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"cibalab/shared/oauth"
	"cibalab/shared/pki"
)

var clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// Client is a registered client, with the client metadata names of
// RFC 7591 §2, RFC 8705 §2.1.2 and CIBA Core 1.0 §4.
type Client struct {
	ID   string `json:"client_id"`
	Name string `json:"client_name,omitempty"`
	// TokenEndpointAuthMethod is "tls_client_auth" (RFC 8705 §2.1), the
	// only method accepted for now.
	TokenEndpointAuthMethod string `json:"token_endpoint_auth_method"`
	// Exactly one of the following five identifies the client's
	// certificate (RFC 8705 §2.1.2). SubjectDN is an RFC 4514 string.
	SubjectDN string `json:"tls_client_auth_subject_dn,omitempty"`
	SANDNS    string `json:"tls_client_auth_san_dns,omitempty"`
	SANURI    string `json:"tls_client_auth_san_uri,omitempty"`
	SANIP     string `json:"tls_client_auth_san_ip,omitempty"`
	SANEmail  string `json:"tls_client_auth_san_email,omitempty"`
	// DeliveryMode is backchannel_token_delivery_mode (CIBA Core 1.0 §4).
	DeliveryMode oauth.DeliveryMode `json:"backchannel_token_delivery_mode"`
	// NotificationEndpoint is backchannel_client_notification_endpoint,
	// required for ping and push (CIBA Core 1.0 §4).
	NotificationEndpoint string   `json:"backchannel_client_notification_endpoint,omitempty"`
	GrantTypes           []string `json:"grant_types"`
	// IDTokenSignedResponseAlg is the ID token's JWS algorithm: RS256
	// (the default, OpenID Connect Core 1.0 §15.1), PS256 or ES256
	// (OpenID Connect Dynamic Client Registration 1.0 §2).
	IDTokenSignedResponseAlg string `json:"id_token_signed_response_alg,omitempty"`
	// BackchannelAuthRequestSigningAlg, when set, is the only JWS algorithm
	// the client signs authentication requests with (CIBA Core 1.0 §4).
	BackchannelAuthRequestSigningAlg string `json:"backchannel_authentication_request_signing_alg,omitempty"`
	// RequireSignedRequest makes a signed authentication request (the
	// request parameter, CIBA Core 1.0 §7.1.1) mandatory for this client.
	RequireSignedRequest bool `json:"require_signed_request_object,omitempty"`
	// BackchannelUserCodeParameter says the client supports user_code
	// (CIBA Core 1.0 §4, §7.1.2).
	BackchannelUserCodeParameter bool `json:"backchannel_user_code_parameter,omitempty"`
	// JWKS holds the client's public keys: for signed requests and
	// private_key_jwt, and, in x5c, the certificates of
	// self_signed_tls_client_auth (RFC 8705 §2.2.2).
	JWKS *pki.JWKS `json:"jwks,omitempty"`
	// ClientSecretHash is the hash of the secret of client_secret_basic
	// and client_secret_post (RFC 6749 §2.3.1), kept for teaching the
	// contrast with mutual TLS.
	ClientSecretHash string    `json:"client_secret_hash,omitempty"`
	CreatedAt        time.Time `json:"created_at"`
}

type clientList struct {
	Clients []Client `json:"clients"`
}

// Validate checks the client's metadata: the client id is 1 to 128 of
// [A-Za-z0-9._-]; the authentication method is tls_client_auth with
// exactly one of the five certificate identifiers (RFC 8705 §2.1.2), a
// parseable subject DN, an IP address that parses, an absolute URI, an
// e-mail address with an @; the delivery mode is poll, ping or push, ping
// and push having an https notification endpoint and poll none
// (CIBA Core 1.0 §4); and there is at least one grant type.
func (c *Client) Validate() error {
	if !clientIDPattern.MatchString(c.ID) {
		return fmt.Errorf("state: client_id %q: want 1 to 128 characters of A-Z a-z 0-9 . _ -", c.ID)
	}
	if c.TokenEndpointAuthMethod != oauth.AuthTLSClient {
		return fmt.Errorf("state: client %s: token_endpoint_auth_method %q is not supported (want %s)", c.ID, c.TokenEndpointAuthMethod, oauth.AuthTLSClient)
	}
	set := 0
	for _, v := range []string{c.SubjectDN, c.SANDNS, c.SANURI, c.SANIP, c.SANEmail} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		return fmt.Errorf("state: client %s: tls_client_auth needs exactly one of tls_client_auth_subject_dn, _san_dns, _san_uri, _san_ip, _san_email (RFC 8705 §2.1.2), got %d", c.ID, set)
	}
	switch {
	case c.SubjectDN != "":
		if _, err := parseSubjectDN(c.SubjectDN); err != nil {
			return fmt.Errorf("state: client %s: tls_client_auth_subject_dn: %w", c.ID, err)
		}
	case c.SANIP != "":
		if net.ParseIP(c.SANIP) == nil {
			return fmt.Errorf("state: client %s: tls_client_auth_san_ip %q is not an IP address", c.ID, c.SANIP)
		}
	case c.SANURI != "":
		u, err := url.Parse(c.SANURI)
		if err != nil || !u.IsAbs() {
			return fmt.Errorf("state: client %s: tls_client_auth_san_uri %q is not an absolute URI", c.ID, c.SANURI)
		}
	case c.SANEmail != "":
		local, domain, ok := strings.Cut(c.SANEmail, "@")
		if !ok || local == "" || domain == "" || strings.ContainsAny(c.SANEmail, " \t\r\n") {
			return fmt.Errorf("state: client %s: tls_client_auth_san_email %q is not an e-mail address", c.ID, c.SANEmail)
		}
	case c.SANDNS != "":
		if strings.ContainsAny(c.SANDNS, " \t\r\n/@") {
			return fmt.Errorf("state: client %s: tls_client_auth_san_dns %q is not a DNS name", c.ID, c.SANDNS)
		}
	}
	if !c.DeliveryMode.Valid() {
		return fmt.Errorf("state: client %s: backchannel_token_delivery_mode %q: want poll, ping or push", c.ID, c.DeliveryMode)
	}
	if c.DeliveryMode == oauth.ModePoll {
		if c.NotificationEndpoint != "" {
			return fmt.Errorf("state: client %s: poll mode takes no backchannel_client_notification_endpoint", c.ID)
		}
	} else {
		u, err := url.Parse(c.NotificationEndpoint)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("state: client %s: %s mode needs an https backchannel_client_notification_endpoint (CIBA Core 1.0 §4)", c.ID, c.DeliveryMode)
		}
	}
	if len(c.GrantTypes) == 0 {
		return fmt.Errorf("state: client %s: no grant_types", c.ID)
	}
	return nil
}

func (c Client) clone() Client {
	c.GrantTypes = slices.Clone(c.GrantTypes)
	return c
}

func (d *Dir) loadClients() (clientList, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return load(&d.clients, d.file(clientsFile))
}

// Client returns a copy of the registered client id; an unknown id gives
// an error wrapping ErrNotFound. clients.json is re-read when it changed.
func (d *Dir) Client(id string) (*Client, error) {
	list, err := d.loadClients()
	if err != nil {
		return nil, err
	}
	for _, c := range list.Clients {
		if c.ID == id {
			cc := c.clone()
			return &cc, nil
		}
	}
	return nil, fmt.Errorf("state: client %q: %w", id, ErrNotFound)
}

// Clients returns a copy of every registered client, sorted by id.
func (d *Dir) Clients() ([]Client, error) {
	list, err := d.loadClients()
	if err != nil {
		return nil, err
	}
	out := make([]Client, len(list.Clients))
	for i, c := range list.Clients {
		out[i] = c.clone()
	}
	slices.SortFunc(out, func(a, b Client) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// AddClient registers c. An empty TokenEndpointAuthMethod becomes
// tls_client_auth, an empty DeliveryMode poll, no GrantTypes the CIBA
// grant; CreatedAt is set from the clock. The result must pass
// [Client.Validate]; an existing id gives an error wrapping ErrExists.
func (d *Dir) AddClient(c Client) error {
	return d.withLock(func() error { return d.addClientLocked(c) })
}

func (d *Dir) addClientLocked(c Client) error {
	c = c.clone()
	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = oauth.AuthTLSClient
	}
	if c.DeliveryMode == "" {
		c.DeliveryMode = oauth.ModePoll
	}
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{oauth.GrantTypeCIBA}
	}
	if err := c.Validate(); err != nil {
		return err
	}
	c.CreatedAt = d.now().UTC()
	path := d.file(clientsFile)
	list, err := readJSON[clientList](path)
	if err != nil {
		return err
	}
	for _, e := range list.Clients {
		if e.ID == c.ID {
			return fmt.Errorf("state: client %q: %w", c.ID, ErrExists)
		}
	}
	list.Clients = append(list.Clients, c)
	slices.SortFunc(list.Clients, func(a, b Client) int { return strings.Compare(a.ID, b.ID) })
	fi, err := writeJSON(path, list)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.clients = cached[clientList]{loaded: fi != nil, fi: fi, value: list}
	d.mu.Unlock()
	d.log.Info("state.client_added", "client_id", c.ID, "delivery_mode", string(c.DeliveryMode))
	return nil
}
