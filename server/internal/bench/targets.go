package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

// The clients both OPs register, all tls_client_auth with subject CN=<id>
// and certificates from ciba-op's CA, so both OPs see the same TLS.
const (
	clientES   = "benchES"   // poll, ES256 ID tokens
	clientRS   = "benchRS"   // poll, RS256 ID tokens
	clientPing = "benchPing" // ping, ES256
	clientPush = "benchPush" // push, ES256 (ciba-op only)

	userApprove = "user" // approved at once by the device
	userIdle    = "idle" // never answers: requests stay pending
	userLat     = "lat"  // approved when the bench says so (latency figures)
	password    = "bench-password"
)

// target is one running OP under test.
type target struct {
	name     string
	pid      int
	issuer   string
	bcURL    string
	tokenURL string
	// interval is the wait between two polls when the acknowledgement
	// carries none (oidc-provider sends none; CIBA Core 1.0 §7.3 then
	// means 5 s, and the bench uses the same interval as for ciba-op).
	interval time.Duration
	certs    map[string]tls.Certificate
	roots    *x509.CertPool
	push     bool
	// accessTokens describes the access tokens the OP issues.
	accessTokens string
	// approve, when set, has the user approve the request now (ciba-op:
	// through the device's approval hook); when nil the OP's simulated
	// user approves at once and decisions records when.
	approve func(ctx context.Context, authReqID string) error
	// decisionKey is the key of a request in decisions.
	decisionKey func(authReqID string) string
	decisions   *decisionLog
	stop        func()
}

// decisionLog records when the deciding process said it sent a decision,
// while enabled (the latency phase only).
type decisionLog struct {
	enabled atomic.Bool
	mu      sync.Mutex
	at      map[string]time.Time
	ch      chan struct{}
}

func newDecisionLog() *decisionLog {
	return &decisionLog{at: map[string]time.Time{}, ch: make(chan struct{}, 1)}
}

// line parses one JSON line of the deciding process's stdout; key names
// the member holding the request.
func (d *decisionLog) line(line string, at time.Time, key string) {
	if !d.enabled.Load() || !strings.Contains(line, `"decision_sent"`) {
		return
	}
	var ev map[string]any
	if json.Unmarshal([]byte(line), &ev) != nil || ev["type"] != "decision_sent" {
		return
	}
	k, _ := ev[key].(string)
	if us, ok := ev["unix_us"].(float64); ok {
		at = time.UnixMicro(int64(us)) // the sender's own clock reading
	}
	d.mu.Lock()
	d.at[k] = at
	d.mu.Unlock()
}

// take returns and forgets the time of the decision on key, waiting up to
// timeout for it.
func (d *decisionLog) take(key string, timeout time.Duration) (time.Time, bool) {
	deadline := time.Now().Add(timeout)
	for {
		d.mu.Lock()
		t, ok := d.at[key]
		delete(d.at, key)
		d.mu.Unlock()
		if ok || time.Now().After(deadline) {
			return t, ok
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// opState is the ciba-op state directory prepared by the bench.
type opState struct {
	dir   string
	certs map[string]tls.Certificate
	roots *x509.CertPool
}

// run runs one ciba-op administration command.
func run(ctx context.Context, bin string, args ...string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "CIBA_OP_PASSWORD_ITERATIONS=1000")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return nil
}

// prepareState completes ciba-op's state directory in dir (after ciba-op
// init): the bench clients with their certificates and
// the two users. notifyURL is the bench's notification endpoint.
func prepareState(ctx context.Context, bin, dir, notifyURL string) (*opState, error) {
	st := filepath.Join(dir, "op")
	pass := filepath.Join(dir, "password")
	if err := pki.WriteSecretFile(pass, []byte(password+"\n")); err != nil {
		return nil, err
	}
	clients := [][]string{
		{"--id", clientES, "--id-token-alg", "ES256"},
		{"--id", clientRS, "--id-token-alg", "RS256"},
		{"--id", clientPing, "--id-token-alg", "ES256", "--delivery-mode", "ping", "--notification-endpoint", notifyURL},
		{"--id", clientPush, "--id-token-alg", "ES256", "--delivery-mode", "push", "--notification-endpoint", notifyURL},
	}
	s := &opState{dir: st, certs: map[string]tls.Certificate{}}
	for _, c := range clients {
		if err := run(ctx, bin, append([]string{"client", "add", "--state-dir", st}, c...)...); err != nil {
			return nil, err
		}
		id := c[1]
		out := filepath.Join(dir, id+".p12")
		if err := run(ctx, bin, "cert", "issue", "--state-dir", st, "--client", id, "--out", out, "--password-file", pass, "--pem"); err != nil {
			return nil, err
		}
		cert, err := pki.LoadPKCS12File(out, password)
		if err != nil {
			return nil, err
		}
		s.certs[id] = cert
	}
	for _, u := range []string{userIdle, userLat} {
		if err := run(ctx, bin, "user", "add", "--state-dir", st, "--id", u, "--password-file", pass); err != nil {
			return nil, err
		}
	}
	var err error
	s.roots, err = pki.CertPoolFromPEMFile(filepath.Join(st, "ca.pem"))
	return s, err
}

// defaultUserPassword is the password of the default user "user" that
// ciba-op init creates.
const defaultUserPassword = "password"

// startCibaOP starts ciba-op serve and a ciba-authenticator for the user
// "user" that approves every request at once.
func startCibaOP(ctx context.Context, bins binaries, dir string, st *opState, interval, longPoll time.Duration) (_ *target, err error) {
	t := &target{name: "ciba-op", interval: interval, certs: st.certs, roots: st.roots, push: true,
		accessTokens: "JWT ES256", decisionKey: oauth.ReqRef, decisions: newDecisionLog()}
	ready := make(chan string, 1)
	cmd := exec.Command(bins.op, "serve", "--state-dir", st.dir, "--addr", "127.0.0.1:0", "--nats-addr", "127.0.0.1:0",
		"--interval", interval.String(), "--log-level", "warn", "--notification-ca-file", filepath.Join(st.dir, "ca.pem"),
		// One device approves every flow: lift its rate limit, which
		// guards against a flooding device, not against a load test.
		"--device-decision-rate", "1000000")
	if longPoll > 0 {
		cmd.Args = append(cmd.Args, "--long-poll", longPoll.String())
	}
	cmd.Env = os.Environ()
	op, err := startProc("ciba-op", cmd, func(line string, _ time.Time) {
		if strings.HasPrefix(line, "ciba-op ready ") {
			select {
			case ready <- line:
			default:
			}
		}
	})
	if err != nil {
		return nil, err
	}
	var stops []func()
	t.stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	stops = append(stops, op.stop)
	defer func() {
		if err != nil {
			t.stop()
		}
	}()
	line, err := op.waitLine(ctx, ready, 30*time.Second)
	if err != nil {
		return nil, err
	}
	t.pid = op.pid()
	var issuer, natsURL string
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, "issuer="); ok {
			issuer = v
		}
		if v, ok := strings.CutPrefix(f, "nats="); ok {
			natsURL = v
		}
	}
	if issuer == "" || natsURL == "" {
		return nil, fmt.Errorf("ciba-op: unexpected ready line %q", line)
	}
	t.issuer = issuer
	pw := filepath.Join(dir, "user-password")
	if err := pki.WriteSecretFile(pw, []byte(defaultUserPassword+"\n")); err != nil {
		return nil, err
	}
	signedIn := make(chan string, 1)
	acmd := exec.Command(bins.authenticator, "--nats-url", natsURL, "--user", userApprove, "--password-file", pw,
		"--device-dir", filepath.Join(dir, "device"), "--auto", "approve", "--json", "--log-level", "warn")
	acmd.Env = os.Environ()
	auth, err := startProc("ciba-authenticator", acmd, func(line string, at time.Time) {
		if strings.Contains(line, `"signed_in"`) {
			select {
			case signedIn <- line:
			default:
			}
		}
		t.decisions.line(line, at, "req_ref")
	})
	if err != nil {
		return nil, err
	}
	stops = append(stops, auth.stop)
	if _, err := auth.waitLine(ctx, signedIn, 30*time.Second); err != nil {
		return nil, err
	}
	// The user "lat" decides only through the approval hook, so that the
	// bench knows the moment the decision is sent.
	latIn := make(chan string, 1)
	lcmd := exec.Command(bins.authenticator, "--nats-url", natsURL, "--user", userLat, "--password-file", filepath.Join(dir, "password"),
		"--device-dir", filepath.Join(dir, "device-lat"), "--auto", "ignore", "--approval-hook-listen", "127.0.0.1:0",
		"--json", "--log-level", "warn")
	lcmd.Env = os.Environ()
	lat, err := startProc("ciba-authenticator (hook)", lcmd, func(line string, _ time.Time) {
		if strings.Contains(line, `"signed_in"`) {
			select {
			case latIn <- line:
			default:
			}
		}
	})
	if err != nil {
		return nil, err
	}
	stops = append(stops, lat.stop)
	if _, err := lat.waitLine(ctx, latIn, 30*time.Second); err != nil {
		return nil, err
	}
	hook, err := hookURL(ctx, lat)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	t.approve = func(ctx context.Context, id string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook+"?"+url.Values{"token": {id}, "type": {"allow"}}.Encode(), nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("approval hook: HTTP %d", resp.StatusCode)
		}
		return nil
	}
	return t, t.discover(ctx)
}

// hookURL reads the approval hook's URL (with its secret) from what the
// authenticator wrote on stderr.
func hookURL(ctx context.Context, p *proc) (string, error) {
	deadline := time.Now().Add(10 * time.Second)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		for line := range strings.Lines(p.stderr.String()) {
			if _, rest, ok := strings.Cut(line, "approval hook: POST "); ok {
				u, _, _ := strings.Cut(strings.TrimSpace(rest), "?")
				if strings.HasPrefix(u, "http://127.0.0.1:") {
					return u, nil
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "", fmt.Errorf("ciba-authenticator printed no approval hook URL:\n%s", p.stderr.String())
}

// startOIDCProvider starts interop/oidc-provider-op.mjs with the same
// server certificate, client CA, clients and signing keys as ciba-op, a
// user that approves at once and one that never answers.
func startOIDCProvider(ctx context.Context, bins binaries, st *opState, notifyURL string, interval time.Duration) (_ *target, err error) {
	t := &target{name: "oidc-provider", interval: interval, certs: st.certs, roots: st.roots,
		accessTokens: "opaque (stored)", decisionKey: func(id string) string { return id }, decisions: newDecisionLog()}
	jwks, err := signingJWKS(st.dir)
	if err != nil {
		return nil, err
	}
	var clients []map[string]any
	for _, c := range []struct{ id, mode, alg string }{
		{clientES, "poll", "ES256"}, {clientRS, "poll", "RS256"}, {clientPing, "ping", "ES256"},
	} {
		m := map[string]any{
			"client_id":                                  c.id,
			"grant_types":                                []string{oauth.GrantTypeCIBA},
			"response_types":                             []string{},
			"redirect_uris":                              []string{},
			"token_endpoint_auth_method":                 "tls_client_auth",
			"tls_client_auth_subject_dn":                 "CN=" + c.id,
			"backchannel_token_delivery_mode":            c.mode,
			"tls_client_certificate_bound_access_tokens": true,
			"id_token_signed_response_alg":               c.alg,
		}
		if c.mode == "ping" {
			m["backchannel_client_notification_endpoint"] = notifyURL
		}
		clients = append(clients, m)
	}
	clientsJSON, _ := json.Marshal(clients)
	cookie := make([]byte, 32)
	rand.Read(cookie)
	ca := filepath.Join(st.dir, "ca.pem")
	cmd := exec.Command(bins.node, "oidc-provider-op.mjs")
	cmd.Dir = bins.interop
	cmd.Env = append(os.Environ(),
		"OP_TLS_CERT="+filepath.Join(st.dir, "server", "server.pem"),
		"OP_TLS_KEY="+filepath.Join(st.dir, "server", "server-key.pem"),
		"OP_CLIENT_CA="+ca,
		"OP_JWKS="+jwks, "OP_CLIENTS="+string(clientsJSON),
		"OP_DECISION=approve", "OP_DECISION_DELAY_MS=0",
		`OP_DECISION_BY_HINT={"`+userIdle+`":"none"}`,
		"OP_DECISION_EVENTS=1", "OP_STORE=unbounded",
		"OP_COOKIE_KEY="+base64.RawURLEncoding.EncodeToString(cookie),
		"NODE_EXTRA_CA_CERTS="+ca, "NODE_ENV=production",
	)
	ready := make(chan string, 1)
	first := true
	p, err := startProc("oidc-provider", cmd, func(line string, at time.Time) {
		if first {
			first = false
			ready <- line
			return
		}
		t.decisions.line(line, at, "auth_req_id")
	})
	if err != nil {
		return nil, err
	}
	t.stop = p.stop
	defer func() {
		if err != nil {
			t.stop()
		}
	}()
	issuer, err := p.waitLine(ctx, ready, 30*time.Second)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(issuer, "https://127.0.0.1:") {
		return nil, fmt.Errorf("oidc-provider printed %q, want its issuer URL", issuer)
	}
	t.pid, t.issuer = p.pid(), issuer
	return t, t.discover(ctx)
}

// discover reads the endpoints from the OP's discovery document, preferring
// its mtls_endpoint_aliases (RFC 8705 §5).
func (t *target) discover(ctx context.Context) error {
	hc := newClient(t.tlsConfig(clientES), 1, false)
	defer hc.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var doc struct {
		BC      string `json:"backchannel_authentication_endpoint"`
		Token   string `json:"token_endpoint"`
		Aliases struct {
			BC    string `json:"backchannel_authentication_endpoint"`
			Token string `json:"token_endpoint"`
		} `json:"mtls_endpoint_aliases"`
	}
	if err := getJSON(ctx, hc, t.issuer+"/.well-known/openid-configuration", &doc); err != nil {
		return fmt.Errorf("%s: discovery: %w", t.name, err)
	}
	t.bcURL, t.tokenURL = doc.BC, doc.Token
	if doc.Aliases.BC != "" {
		t.bcURL = doc.Aliases.BC
	}
	if doc.Aliases.Token != "" {
		t.tokenURL = doc.Aliases.Token
	}
	if t.bcURL == "" || t.tokenURL == "" {
		return fmt.Errorf("%s: discovery names no backchannel or token endpoint", t.name)
	}
	return nil
}

// tlsConfig is the client side of mutual TLS for clientID: TLS 1.3, the
// OP's CA, no session resumption (a new connection is a full handshake).
func (t *target) tlsConfig(clientID string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		RootCAs:      t.roots,
		Certificates: []tls.Certificate{t.certs[clientID]},
	}
}

// signingJWKS is ciba-op's RS256 and ES256 signing keys as a private JWKS
// for oidc-provider, so both OPs sign with the same keys.
func signingJWKS(stateDir string) (string, error) {
	var keys []map[string]any
	for _, name := range []string{"rs256", "es256"} {
		data, err := os.ReadFile(filepath.Join(stateDir, "keys", name+".pem"))
		if err != nil {
			return "", err
		}
		key, err := pki.ParsePrivateKeyPEM(data)
		if err != nil {
			return "", err
		}
		switch k := key.(type) {
		case *rsa.PrivateKey:
			k.Precompute()
			keys = append(keys, map[string]any{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "bench-rs256",
				"n": b64(k.N), "e": b64(big.NewInt(int64(k.E))), "d": b64(k.D),
				"p": b64(k.Primes[0]), "q": b64(k.Primes[1]),
				"dp": b64(k.Precomputed.Dp), "dq": b64(k.Precomputed.Dq), "qi": b64(k.Precomputed.Qinv)})
		case *ecdsa.PrivateKey:
			ecdh, err := k.Bytes()
			if err != nil {
				return "", err
			}
			pub, err := k.PublicKey.Bytes() // 0x04 || X || Y
			if err != nil {
				return "", err
			}
			keys = append(keys, map[string]any{"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": "bench-es256",
				"x": base64.RawURLEncoding.EncodeToString(pub[1:33]), "y": base64.RawURLEncoding.EncodeToString(pub[33:]),
				"d": base64.RawURLEncoding.EncodeToString(ecdh)})
		default:
			return "", fmt.Errorf("bench: %s: unexpected key type %T", name, key)
		}
	}
	data, err := json.Marshal(map[string]any{"keys": keys})
	return string(data), err
}

func b64(n *big.Int) string { return base64.RawURLEncoding.EncodeToString(n.Bytes()) }
