package registry

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

var clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// Client authentication methods besides those of RFC 8705 (which are in
// github.com/cibalab/cibalab/shared/oauth): OpenID Connect Core 1.0 §9, RFC 7523 §2.2 and
// RFC 6749 §2.3.1.
const (
	AuthPrivateKeyJWT     = "private_key_jwt"
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
)

// AuthMethods returns the token_endpoint_auth_method values a client may
// register, mutual TLS first.
func AuthMethods() []string {
	return []string{oauth.AuthTLSClient, oauth.AuthSelfSignedTLSClient, AuthPrivateKeyJWT, AuthClientSecretBasic, AuthClientSecretPost}
}

// IDTokenAlgs returns the id_token_signed_response_alg values a client may
// register (OpenID Connect Core 1.0 §15.1 makes RS256 the default).
func IDTokenAlgs() []string { return []string{"RS256", "PS256", "ES256"} }

// RequestSigningAlgs returns the backchannel_authentication_request_signing_alg
// values a client may register: asymmetric algorithms only
// (CIBA Core 1.0 §7.1.1). The OP may accept fewer (op.Config.RequestObjectAlgs).
func RequestSigningAlgs() []string { return []string{"PS256", "ES256", "RS256"} }

// Client is a registered client, with the client metadata names of
// RFC 7591 §2, RFC 8705 §2.1.2 and CIBA Core 1.0 §4.
type Client struct {
	ID   string `json:"client_id"`
	Name string `json:"client_name,omitempty"`
	// TokenEndpointAuthMethod is one of AuthMethods; it authenticates the
	// client at every endpoint (CIBA Core 1.0 §7.2 step 1).
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
	// contrast with mutual TLS; HashClientSecret makes it.
	ClientSecretHash string `json:"client_secret_hash,omitempty"`
	// TLSClientCertificateBoundAccessTokens requires certificate-bound
	// tokens (RFC 8705 §3.4): the token endpoint refuses to issue tokens
	// without a client certificate on the connection. It matters for the
	// methods that do not need a certificate; with mutual TLS client
	// authentication tokens are always bound.
	TLSClientCertificateBoundAccessTokens bool `json:"tls_client_certificate_bound_access_tokens,omitempty"`
	// AuthorizationDetailsTypes are the authorization_details types the
	// client may request (RFC 9396 §10: client metadata
	// authorization_details_types); empty allows none.
	AuthorizationDetailsTypes []string  `json:"authorization_details_types,omitempty"`
	CreatedAt                 time.Time `json:"created_at"`
}

type clientList struct {
	Clients []Client `json:"clients"`
}

// Validate checks the client's metadata: the client id is 1 to 128 of
// [A-Za-z0-9._-]; the authentication method is one of [AuthMethods] with
// the credentials it needs (see validateAuth); the delivery mode is poll,
// ping or push, ping and push having an https notification endpoint and
// poll none (CIBA Core 1.0 §4); there is at least one grant type; the
// algorithms are asymmetric ones the OP implements; and a client that signs
// authentication requests has a key to verify them with.
func (c *Client) Validate() error {
	if !clientIDPattern.MatchString(c.ID) {
		return fmt.Errorf("registry: client_id %q: want 1 to 128 characters of A-Z a-z 0-9 . _ -", c.ID)
	}
	if err := c.validateAuth(); err != nil {
		return err
	}
	if !c.DeliveryMode.Valid() {
		return fmt.Errorf("registry: client %s: backchannel_token_delivery_mode %q: want poll, ping or push", c.ID, c.DeliveryMode)
	}
	if c.DeliveryMode == oauth.ModePoll {
		if c.NotificationEndpoint != "" {
			return fmt.Errorf("registry: client %s: poll mode takes no backchannel_client_notification_endpoint", c.ID)
		}
	} else {
		u, err := url.Parse(c.NotificationEndpoint)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("registry: client %s: %s mode needs an https backchannel_client_notification_endpoint (CIBA Core 1.0 §4)", c.ID, c.DeliveryMode)
		}
	}
	if len(c.GrantTypes) == 0 {
		return fmt.Errorf("registry: client %s: no grant_types", c.ID)
	}
	if c.IDTokenSignedResponseAlg != "" && !slices.Contains(IDTokenAlgs(), c.IDTokenSignedResponseAlg) {
		return fmt.Errorf("registry: client %s: id_token_signed_response_alg %q: want one of %s", c.ID, c.IDTokenSignedResponseAlg, strings.Join(IDTokenAlgs(), ", "))
	}
	if c.BackchannelAuthRequestSigningAlg != "" && !slices.Contains(RequestSigningAlgs(), c.BackchannelAuthRequestSigningAlg) {
		return fmt.Errorf("registry: client %s: backchannel_authentication_request_signing_alg %q: want one of %s (CIBA Core 1.0 §7.1.1 asks for an asymmetric signature)",
			c.ID, c.BackchannelAuthRequestSigningAlg, strings.Join(RequestSigningAlgs(), ", "))
	}
	if (c.RequireSignedRequest || c.BackchannelAuthRequestSigningAlg != "") && !c.hasSigningKey() {
		return fmt.Errorf("registry: client %s: signed authentication requests need a jwks with a public key", c.ID)
	}
	return ValidateDetailsTypes(c.AuthorizationDetailsTypes)
}

// detailsTypePattern is the authorization_details type values a client
// may register: printable ASCII without spaces or commas, so that a list
// of them can be written comma-separated.
var detailsTypePattern = regexp.MustCompile(`^[!-+\--~]{1,128}$`)

// ValidateDetailsTypes checks a client's authorization_details_types
// (RFC 9396 §10): each 1 to 128 printable ASCII characters without
// spaces or commas, none twice.
func ValidateDetailsTypes(types []string) error {
	for i, t := range types {
		if !detailsTypePattern.MatchString(t) {
			return fmt.Errorf("registry: authorization_details type %q: want 1 to 128 printable ASCII characters, no space or comma", t)
		}
		if slices.Contains(types[:i], t) {
			return fmt.Errorf("registry: authorization_details type %q is listed twice", t)
		}
	}
	return nil
}

// validateAuth checks the client authentication method and its
// credentials: tls_client_auth takes exactly one of the five certificate
// identifiers (RFC 8705 §2.1.2), a parseable subject DN, an IP address that
// parses, an absolute URI, an e-mail address with an @;
// self_signed_tls_client_auth takes a jwks whose keys carry their
// certificate in x5c (RFC 8705 §2.2.2); private_key_jwt takes a jwks
// (RFC 7523 §2.2); client_secret_basic and client_secret_post take a
// ClientSecretHash made by HashClientSecret (RFC 6749 §2.3.1). Every key of
// a jwks must be a usable public key, and the five certificate identifiers
// belong to tls_client_auth only.
func (c *Client) validateAuth() error {
	set := 0
	for _, v := range []string{c.SubjectDN, c.SANDNS, c.SANURI, c.SANIP, c.SANEmail} {
		if v != "" {
			set++
		}
	}
	if c.JWKS != nil {
		if err := validateJWKS(c.JWKS); err != nil {
			return fmt.Errorf("registry: client %s: jwks: %w", c.ID, err)
		}
	}
	if c.TokenEndpointAuthMethod != oauth.AuthTLSClient && set > 0 {
		return fmt.Errorf("registry: client %s: tls_client_auth_subject_dn and _san_* are for tls_client_auth only", c.ID)
	}
	if c.ClientSecretHash != "" && !isSecretMethod(c.TokenEndpointAuthMethod) {
		return fmt.Errorf("registry: client %s: client_secret_hash is for client_secret_basic and client_secret_post only", c.ID)
	}
	switch c.TokenEndpointAuthMethod {
	case oauth.AuthTLSClient:
		return c.validateTLSSubject(set)
	case oauth.AuthSelfSignedTLSClient:
		if c.JWKS == nil || !slices.ContainsFunc(c.JWKS.Keys, func(k pki.JWK) bool { return len(k.X5c) > 0 }) {
			return fmt.Errorf("registry: client %s: self_signed_tls_client_auth needs a jwks key with its certificate in x5c (RFC 8705 §2.2.2)", c.ID)
		}
	case AuthPrivateKeyJWT:
		if !c.hasSigningKey() {
			return fmt.Errorf("registry: client %s: private_key_jwt needs a jwks with a public key (RFC 7523 §2.2)", c.ID)
		}
	case AuthClientSecretBasic, AuthClientSecretPost:
		if _, err := parseSecretHash(c.ClientSecretHash); err != nil {
			return fmt.Errorf("registry: client %s: %s: %w", c.ID, c.TokenEndpointAuthMethod, err)
		}
	default:
		return fmt.Errorf("registry: client %s: token_endpoint_auth_method %q is not supported (want one of %s)", c.ID, c.TokenEndpointAuthMethod, strings.Join(AuthMethods(), ", "))
	}
	return nil
}

// validateTLSSubject checks the registered certificate identifier of a
// tls_client_auth client; set is how many of the five are set.
func (c *Client) validateTLSSubject(set int) error {
	if set != 1 {
		return fmt.Errorf("registry: client %s: tls_client_auth needs exactly one of tls_client_auth_subject_dn, _san_dns, _san_uri, _san_ip, _san_email (RFC 8705 §2.1.2), got %d", c.ID, set)
	}
	switch {
	case c.SubjectDN != "":
		if _, err := parseSubjectDN(c.SubjectDN); err != nil {
			return fmt.Errorf("registry: client %s: tls_client_auth_subject_dn: %w", c.ID, err)
		}
	case c.SANIP != "":
		if net.ParseIP(c.SANIP) == nil {
			return fmt.Errorf("registry: client %s: tls_client_auth_san_ip %q is not an IP address", c.ID, c.SANIP)
		}
	case c.SANURI != "":
		u, err := url.Parse(c.SANURI)
		if err != nil || !u.IsAbs() {
			return fmt.Errorf("registry: client %s: tls_client_auth_san_uri %q is not an absolute URI", c.ID, c.SANURI)
		}
	case c.SANEmail != "":
		local, domain, ok := strings.Cut(c.SANEmail, "@")
		if !ok || local == "" || domain == "" || strings.ContainsAny(c.SANEmail, " \t\r\n") {
			return fmt.Errorf("registry: client %s: tls_client_auth_san_email %q is not an e-mail address", c.ID, c.SANEmail)
		}
	case c.SANDNS != "":
		if strings.ContainsAny(c.SANDNS, " \t\r\n/@") {
			return fmt.Errorf("registry: client %s: tls_client_auth_san_dns %q is not a DNS name", c.ID, c.SANDNS)
		}
	}
	return nil
}

func (c *Client) hasSigningKey() bool { return c.JWKS != nil && len(c.JWKS.Keys) > 0 }

// validateJWKS checks that every key is a usable public key and that a
// certificate in x5c is DER in standard base64 whose public key is the
// key's own (RFC 7517 §4.7).
func validateJWKS(set *pki.JWKS) error {
	for i, k := range set.Keys {
		pub, err := k.PublicKey()
		if err != nil {
			return fmt.Errorf("key %d: %w", i, err)
		}
		if len(k.X5c) == 0 {
			continue
		}
		der, err := base64.StdEncoding.DecodeString(k.X5c[0])
		if err != nil {
			return fmt.Errorf("key %d: x5c[0] is not base64", i)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("key %d: x5c[0]: %w", i, err)
		}
		eq, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !eq.Equal(pub) {
			return fmt.Errorf("key %d: the certificate in x5c[0] is not for this key", i)
		}
	}
	return nil
}

func (c Client) clone() Client {
	c.GrantTypes = slices.Clone(c.GrantTypes)
	if c.JWKS != nil {
		set := pki.JWKS{Keys: slices.Clone(c.JWKS.Keys)}
		for i := range set.Keys {
			set.Keys[i].X5c = slices.Clone(set.Keys[i].X5c)
		}
		c.JWKS = &set
	}
	return c
}

func (d *Dir) loadClients() (clientList, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return loadDoc(d, &d.clients, clientsFile)
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
	return nil, fmt.Errorf("registry: client %q: %w", id, ErrNotFound)
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
	applyClientDefaults(&c)
	if err := c.Validate(); err != nil {
		return err
	}
	c.CreatedAt = d.now().UTC()
	path := clientsFile
	list, err := readDoc[clientList](d, path)
	if err != nil {
		return err
	}
	for _, e := range list.Clients {
		if e.ID == c.ID {
			return fmt.Errorf("registry: client %q: %w", c.ID, ErrExists)
		}
	}
	if err := identifierConflict(list.Clients, c); err != nil {
		return err
	}
	list.Clients = append(list.Clients, c)
	slices.SortFunc(list.Clients, func(a, b Client) int { return strings.Compare(a.ID, b.ID) })
	if err := saveDoc(d, path, &d.clients, list); err != nil {
		return err
	}
	d.log.Info("registry.client_added", "client_id", c.ID, "delivery_mode", string(c.DeliveryMode))
	return nil
}

// applyClientDefaults gives an empty TokenEndpointAuthMethod
// tls_client_auth, an empty DeliveryMode poll, and no GrantTypes the CIBA
// grant.
func applyClientDefaults(c *Client) {
	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = oauth.AuthTLSClient
	}
	if c.DeliveryMode == "" {
		c.DeliveryMode = oauth.ModePoll
	}
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{oauth.GrantTypeCIBA}
	}
}

// Client secrets (RFC 6749 §2.3.1) are generated by the OP, never chosen by
// a person: 32 random bytes, so a single SHA-256 is a sound hash (a slow
// password hash would only make every token request slow). The stored form
// is "sha256$<base64url of the digest>".
const (
	secretScheme = "sha256"
	// MinClientSecretLen is the shortest secret HashClientSecret accepts:
	// 43 characters of base64url carry 256 bits.
	MinClientSecretLen = 43
)

// GenerateClientSecret returns a new client secret: 32 random bytes in
// unpadded base64url.
func GenerateClientSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashClientSecret returns the ClientSecretHash of secret, which must be
// at least MinClientSecretLen characters long (a generated secret).
func HashClientSecret(secret string) (string, error) {
	if len(secret) < MinClientSecretLen {
		return "", fmt.Errorf("registry: a client secret must have at least %d characters (use a generated one)", MinClientSecretLen)
	}
	sum := sha256.Sum256([]byte(secret))
	return secretScheme + "$" + base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// CheckSecret reports whether secret is the client's secret, comparing
// digests in constant time. A client without a secret matches nothing.
func (c *Client) CheckSecret(secret string) bool {
	want, err := parseSecretHash(c.ClientSecretHash)
	if err != nil {
		return false
	}
	got := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(got[:], want) == 1
}

func parseSecretHash(s string) ([]byte, error) {
	scheme, enc, ok := strings.Cut(s, "$")
	if !ok || scheme != secretScheme {
		return nil, errors.New("client_secret_hash: want sha256$<digest>")
	}
	sum, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(sum) != sha256.Size {
		return nil, errors.New("client_secret_hash: bad digest")
	}
	return sum, nil
}

func isSecretMethod(m string) bool { return m == AuthClientSecretBasic || m == AuthClientSecretPost }
