package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cibalab/cibalab/client/ciba"
	"github.com/cibalab/cibalab/shared/authzdetails"
	"github.com/cibalab/cibalab/shared/cliconv"
	"github.com/cibalab/cibalab/shared/logfmt"
	"github.com/cibalab/cibalab/shared/oauth"
)

// Defaults of ciba-client.
const (
	DefaultIssuer   = "https://localhost:5001/master"
	DefaultClientID = "cibaConformance"
	DefaultScope    = "openid profile"
	DefaultHint     = "user"
	DefaultStateDir = ".cibalab"
	DefaultLogLevel = "warn"
)

// EnvPrefix starts the name of every environment variable ciba-client reads.
const EnvPrefix = "CIBA_CLIENT_"

// EnvCertPassword holds the PKCS#12 password when no password file is named.
const EnvCertPassword = EnvPrefix + "CERT_PASSWORD"

// EnvUserCode holds the user_code when no --user-code-file is named.
const EnvUserCode = EnvPrefix + "USER_CODE"

// flagDef describes one flag and its environment variable.
type flagDef struct {
	name, arg, def, usage string
	isBool                bool
}

func (d flagDef) env() string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(d.name, "-", "_"))
}

func flagDefs() []flagDef {
	return []flagDef{
		{name: "issuer", arg: "URL", def: DefaultIssuer, usage: "issuer of the OP; its discovery document gives the endpoints (mTLS aliases preferred, RFC 8705 §5)"},
		{name: "bc-authorize-url", arg: "URL", usage: "backchannel authentication endpoint; with --token-url, skips discovery"},
		{name: "token-url", arg: "URL", usage: "token endpoint; with --bc-authorize-url, skips discovery"},
		{name: "client-id", arg: "ID", def: DefaultClientID, usage: "client_id sent in every request body (RFC 8705 §2)"},
		{name: "scope", arg: "SCOPES", def: DefaultScope, usage: `space-separated scopes; must contain "openid"`},
		{name: "login-hint", arg: "HINT", def: DefaultHint, usage: "login_hint identifying the user (CIBA Core 1.0 §7.1); the default is dropped when another hint is given"},
		{name: "login-hint-token", arg: "FILE", usage: "file holding a login_hint_token to send instead of login_hint"},
		{name: "id-token-hint", arg: "FILE", usage: "file holding an id_token_hint (an ID token of this OP) to send instead of login_hint"},
		{name: "user-code-file", arg: "FILE", usage: "file holding the user_code (CIBA Core 1.0 §7.1.2), else $" + EnvUserCode},
		{name: "binding-message", arg: "TEXT", usage: "binding_message shown on both devices"},
		{name: "requested-expiry", arg: "SECONDS", usage: "requested_expiry: a positive integer number of seconds"},
		{name: "acr-values", arg: "ACRS", usage: "space-separated acr_values, in order of preference"},
		{name: "authorization-details", arg: "FILE.json|JSON", usage: "authorization_details (RFC 9396): a JSON array of objects with a type, inline (starting with [) or in a file; the user may approve some entries only, and what was granted is printed"},
		{name: "cert", arg: "FILE.p12", usage: "client certificate and key as PKCS#12 (default <state-dir>/clients/<client-id>.p12 when it exists)"},
		{name: "cert-pem", arg: "FILE", usage: "client certificate chain as PEM (with --key-pem)"},
		{name: "key-pem", arg: "FILE", usage: "client private key as PEM (with --cert-pem)"},
		{name: "cert-password-file", arg: "FILE", usage: "file holding the PKCS#12 password (else $" + EnvCertPassword + ", else <cert>.pass next to the default certificate, else empty)"},
		{name: "state-dir", arg: "DIR", def: DefaultStateDir, usage: "the OP's state directory, for the default --ca-file and certificate"},
		{name: "ca-file", arg: "FILE", usage: "PEM CA certificates trusted for the OP's TLS certificate (default <state-dir>/ca.pem)"},
		{name: "insecure-skip-verify", isBool: true, usage: "do not verify the OP's TLS certificate (experiments only; prints a warning)"},
		{name: "auth-method", arg: "METHOD", def: ciba.AuthTLSClient, usage: "client authentication: tls_client_auth, self_signed_tls_client_auth (both: the client certificate) or private_key_jwt (--assertion-key)"},
		{name: "assertion-key", arg: "FILE", usage: "private key (PEM, or PKCS#12 with the certificate password) signing the private_key_jwt client_assertion (ES256 for P-256, PS256 for RSA)"},
		{name: "assertion-key-id", arg: "KID", usage: "kid of the assertion key, as registered in the client's jwks"},
		{name: "sign-requests", isBool: true, usage: "send every parameter inside a signed request object (CIBA Core 1.0 §7.1.1); needs --request-key"},
		{name: "request-key", arg: "FILE", usage: "private key (PEM, or PKCS#12 with the certificate password) signing the request object (ES256 or PS256)"},
		{name: "request-key-id", arg: "KID", usage: "kid of the request key, as registered in the client's jwks"},
		{name: "delivery-mode", arg: "MODE", def: string(oauth.ModePoll), usage: "token delivery mode the client is registered with: poll, ping or push (CIBA Core 1.0 §5)"},
		{name: "notify-url", arg: "URL", usage: "ping/push: https URL of the notification endpoint, exactly as registered in backchannel_client_notification_endpoint (ciba-op client add --notification-endpoint); the OP calls it (default https://<listen address>" + ciba.DefaultNotificationPath + ")"},
		{name: "notify-listen", arg: "ADDR", usage: "ping/push: listen address of the HTTPS notification endpoint (default: the host and port of --notify-url, else 127.0.0.1:0)"},
		{name: "notify-cert", arg: "FILE", usage: "ping/push: TLS certificate chain (PEM) of the notification endpoint, with --notify-key (default <cert>-notify.pem next to the client certificate, which ciba-op cert issue writes for ping and push clients, when it exists)"},
		{name: "notify-key", arg: "FILE", usage: "ping/push: TLS private key (PEM) of the notification endpoint (default <cert>-notify-key.pem)"},
		{name: "notify-ca-cert", arg: "FILE", usage: "ping/push: CA certificate (PEM) that issues a notification endpoint certificate at start, with --notify-ca-key"},
		{name: "notify-ca-key", arg: "FILE", usage: "ping/push: private key (PEM) of --notify-ca-cert"},
		{name: "jwks-url", arg: "URL", usage: "the OP's jwks_uri, which checks ID token signatures (default: from discovery)"},
		{name: "id-token-max-age", arg: "DURATION", def: "24h", usage: "reject an ID token whose iat is older than this"},
		{name: "insecure-skip-id-token-validation", isBool: true, usage: "accept ID tokens without checking them (experiments only; prints a warning)"},
		{name: "refresh", arg: "FILE", usage: "instead of a CIBA request, exchange the refresh token held in FILE (grant_type=refresh_token) and print the new token response"},
		{name: "trace", isBool: true, usage: "print every HTTP exchange on stderr; tokens, assertions, codes and keys are redacted"},
		{name: "show-secrets", isBool: true, usage: "with --trace, show tokens and assertions unredacted"},
		{name: "json", isBool: true, usage: "print exactly one JSON document on stdout: the token response, or {\"error\",\"error_description\"}"},
		{name: "timeout", arg: "DURATION", usage: "give up after this long (e.g. 90s, 2m; a bare number is seconds); default: until expires_in"},
		{name: "log-level", arg: "LEVEL", def: DefaultLogLevel, usage: "debug, info, warn or error; logs go to stderr"},
		{name: "log-format", arg: "FORMAT", def: logfmt.Text, usage: logfmt.Usage},
	}
}

// options are the settled settings of one run.
type options struct {
	issuer, bcURL, tokenURL, clientID string
	scope                             []string
	loginHint, bindingMessage, acr    string
	requestedExpiry                   int
	details                           authzdetails.Details
	cert, certPEM, keyPEM, passFile   string
	stateDir, caFile                  string
	caFileSet                         bool
	insecure, json                    bool
	timeout                           time.Duration
	logLevel                          slog.Level
	logFormat                         string

	loginHintToken, idTokenHint, userCodeFile string
	authMethod, assertionKey, assertionKID    string
	signRequests                              bool
	requestKey, requestKID                    string
	mode                                      oauth.DeliveryMode
	notifyListen, notifyURL                   string
	notifyCert, notifyKey                     string
	notifyCACert, notifyCAKey                 string
	jwksURL                                   string
	idTokenMaxAge                             time.Duration
	skipIDToken                               bool
	refreshFile                               string
	trace, showSecrets                        bool
}

// usageError is a problem with flags or environment; it exits with ExitUsage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// stringValue is a flag.Value that remembers whether it was set.
type stringValue struct {
	v      string
	isBool bool
}

func (s *stringValue) String() string     { return s.v }
func (s *stringValue) Set(v string) error { s.v = v; return nil }
func (s *stringValue) IsBoolFlag() bool   { return s.isBool }

// parseOptions reads flags, then the environment, then defaults. It
// returns flag.ErrHelp when help was asked for.
func parseOptions(args []string, getenv func(string) string) (*options, error) {
	fs := flag.NewFlagSet("ciba-client", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	vals := map[string]*stringValue{}
	for _, d := range flagDefs() {
		v := &stringValue{v: d.def, isBool: d.isBool}
		if e := getenv(d.env()); e != "" {
			v.v = e
		}
		if d.isBool && v.v == "" {
			v.v = "false"
		}
		vals[d.name] = v
		fs.Var(v, d.name, d.usage)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	get := func(name string) string { return strings.TrimSpace(vals[name].v) }
	where := func(name string) string {
		if set[name] {
			return "--" + name
		}
		return "$" + flagDef{name: name}.env()
	}
	boolean := func(name string) (bool, error) {
		b, err := strconv.ParseBool(get(name))
		if err != nil {
			return false, usagef("%s: %q is not a boolean", where(name), get(name))
		}
		return b, nil
	}

	o := &options{
		issuer:         get("issuer"),
		bcURL:          get("bc-authorize-url"),
		tokenURL:       get("token-url"),
		clientID:       get("client-id"),
		scope:          strings.Fields(get("scope")),
		loginHint:      get("login-hint"),
		bindingMessage: vals["binding-message"].v,
		acr:            get("acr-values"),
		cert:           get("cert"),
		certPEM:        get("cert-pem"),
		keyPEM:         get("key-pem"),
		passFile:       get("cert-password-file"),
		stateDir:       get("state-dir"),
		caFile:         get("ca-file"),
		loginHintToken: get("login-hint-token"),
		idTokenHint:    get("id-token-hint"),
		userCodeFile:   get("user-code-file"),
		authMethod:     get("auth-method"),
		assertionKey:   get("assertion-key"),
		assertionKID:   get("assertion-key-id"),
		requestKey:     get("request-key"),
		requestKID:     get("request-key-id"),
		mode:           oauth.DeliveryMode(get("delivery-mode")),
		notifyListen:   get("notify-listen"),
		notifyURL:      get("notify-url"),
		notifyCert:     get("notify-cert"),
		notifyKey:      get("notify-key"),
		notifyCACert:   get("notify-ca-cert"),
		notifyCAKey:    get("notify-ca-key"),
		jwksURL:        get("jwks-url"),
		refreshFile:    get("refresh"),
	}
	var err error
	if o.insecure, err = boolean("insecure-skip-verify"); err != nil {
		return nil, err
	}
	if o.json, err = boolean("json"); err != nil {
		return nil, err
	}
	for name, dst := range map[string]*bool{
		"sign-requests": &o.signRequests, "insecure-skip-id-token-validation": &o.skipIDToken,
		"trace": &o.trace, "show-secrets": &o.showSecrets,
	} {
		if *dst, err = boolean(name); err != nil {
			return nil, err
		}
	}
	if !o.mode.Valid() {
		return nil, usagef("%s: %q is not poll, ping or push", where("delivery-mode"), get("delivery-mode"))
	}
	switch o.authMethod {
	case ciba.AuthTLSClient, ciba.AuthSelfSignedTLSClient:
		if o.assertionKey != "" {
			return nil, usagef("--assertion-key needs --auth-method private_key_jwt")
		}
	case ciba.AuthPrivateKeyJWT:
		if o.assertionKey == "" {
			return nil, usagef("--auth-method private_key_jwt needs --assertion-key")
		}
	default:
		return nil, usagef("%s: %q is not tls_client_auth, self_signed_tls_client_auth or private_key_jwt", where("auth-method"), o.authMethod)
	}
	if o.signRequests != (o.requestKey != "") {
		return nil, usagef("--sign-requests and --request-key go together")
	}
	for _, pair := range [][2]string{{"notify-cert", "notify-key"}, {"notify-ca-cert", "notify-ca-key"}} {
		if (get(pair[0]) == "") != (get(pair[1]) == "") {
			return nil, usagef("--%s and --%s go together", pair[0], pair[1])
		}
	}
	if o.notifyCert != "" && o.notifyCACert != "" {
		return nil, usagef("--notify-cert and --notify-ca-cert exclude each other")
	}
	if d, err := parseDuration(get("id-token-max-age")); err != nil || d <= 0 {
		return nil, usagef("%s: %q is not a positive duration (e.g. 24h)", where("id-token-max-age"), get("id-token-max-age"))
	} else {
		o.idTokenMaxAge = d
	}
	if o.loginHintToken != "" || o.idTokenHint != "" {
		if !set["login-hint"] && getenv(flagDef{name: "login-hint"}.env()) == "" {
			o.loginHint = ""
		}
	}
	if s := get("requested-expiry"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return nil, usagef("%s: %q is not a positive integer number of seconds", where("requested-expiry"), s)
		}
		o.requestedExpiry = n
	}
	if s := get("authorization-details"); s != "" {
		if o.details, err = readDetails(s); err != nil {
			return nil, usagef("%s: %v", where("authorization-details"), err)
		}
	}
	if s := get("timeout"); s != "" {
		d, err := parseDuration(s)
		if err != nil || d <= 0 {
			return nil, usagef("%s: %q is not a positive duration (e.g. 90s, 2m)", where("timeout"), s)
		}
		o.timeout = d
	}
	if err := o.logLevel.UnmarshalText([]byte(get("log-level"))); err != nil {
		return nil, usagef("%s: %q is not one of debug, info, warn, error", where("log-level"), get("log-level"))
	}
	if o.logFormat = get("log-format"); logfmt.Check(o.logFormat) != nil {
		return nil, usagef("%s: %q is not one of text, json", where("log-format"), o.logFormat)
	}
	if o.clientID == "" {
		return nil, usagef("--client-id must not be empty")
	}
	if o.bcURL == "" || o.tokenURL == "" {
		if o.issuer == "" {
			return nil, usagef("--issuer must not be empty unless both --bc-authorize-url and --token-url are given")
		}
		if err := checkURL(o.issuer); err != nil {
			return nil, usagef("%s %q: %v (e.g. https://localhost:5001/master)", where("issuer"), o.issuer, err)
		}
	}
	for _, name := range []string{"bc-authorize-url", "token-url", "jwks-url", "notify-url"} {
		if v := get(name); v != "" {
			if err := checkURL(v); err != nil {
				return nil, usagef("%s %q: %v", where(name), v, err)
			}
		}
	}
	if !slices.Contains(o.scope, "openid") {
		return nil, usagef("%s: %q must contain openid (CIBA Core 1.0 §7.1)", where("scope"), get("scope"))
	}
	hints := 0
	for _, h := range []string{o.loginHint, o.loginHintToken, o.idTokenHint} {
		if h != "" {
			hints++
		}
	}
	if hints != 1 && o.refreshFile == "" {
		return nil, usagef("give exactly one of --login-hint, --login-hint-token and --id-token-hint (CIBA Core 1.0 §7.1)")
	}
	if o.cert != "" && (o.certPEM != "" || o.keyPEM != "") {
		return nil, usagef("--cert and --cert-pem/--key-pem exclude each other")
	}
	if (o.certPEM == "") != (o.keyPEM == "") {
		return nil, usagef("--cert-pem and --key-pem go together")
	}
	if o.stateDir == "" {
		o.stateDir = DefaultStateDir
	}
	if o.caFile == "" {
		o.caFile = filepath.Join(o.stateDir, "ca.pem")
	} else {
		o.caFileSet = true
	}
	return o, nil
}

// readDetails reads authorization_details given inline (a JSON array,
// starting with "[") or as the name of a file holding one, and checks its
// shape (RFC 9396 §2).
func readDetails(s string) (authzdetails.Details, error) {
	data := []byte(s)
	if !strings.HasPrefix(s, "[") {
		var err error
		if data, err = os.ReadFile(s); err != nil {
			return nil, err
		}
	}
	return authzdetails.Parse(bytes.TrimSpace(data))
}

func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n > 366*24*3600 {
			return 0, errors.New("too long")
		}
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}

// checkURL accepts an absolute https URL with a host and no query or
// fragment (OpenID Connect Discovery 1.0 §3 for an issuer).
func checkURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("not a URL")
	case u.Scheme != "https":
		return errors.New("not an https URL")
	case u.Host == "" || u.Hostname() == "":
		return errors.New("no host")
	case u.Port() != "" && !isPort(u.Port()):
		return errors.New("the port is not a number from 1 to 65535")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return errors.New("a query or fragment is not allowed")
	}
	return nil
}

func isPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535
}

// writeUsage prints --help: flags with their environment variables and
// defaults, and the exit codes, in the layout the three programs share.
func writeUsage(w io.Writer) {
	var flags []cliconv.Flag
	for _, d := range flagDefs() {
		def := d.def
		flags = append(flags, cliconv.Flag{Name: d.name, Arg: d.arg, Usage: d.usage, Default: def, Env: d.env()})
	}
	cliconv.Page{
		Program: cliconv.Client,
		Usage:   []string{"[flags]", "--version"},
		Description: `Starts an OpenID Connect CIBA request (CIBA Core 1.0 §7.1) over mutual TLS
(RFC 8705), waits while the user approves or denies it on the authentication
device (ciba-authenticator): polling the token endpoint (§10.1), or waiting
for a ping (§10.2) or a push (§10.3) on its own HTTPS notification endpoint.
It checks the ID token (signature against the OP's JWKS, iss, aud, exp, iat,
at_hash, auth_req_id) and prints the access token on stdout. Progress goes
to stderr.`,
		Flags: flags,
		Sections: []cliconv.Section{{Title: "ENVIRONMENT", Body: fmt.Sprintf(
			"%s   password of the PKCS#12 file (secrets never go in flags)\n%s       user_code, when no --user-code-file is given",
			EnvCertPassword, EnvUserCode)}},
	}.Write(w)
}
