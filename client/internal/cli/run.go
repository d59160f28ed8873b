package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/cibalab/cibalab/client/ciba"
	"github.com/cibalab/cibalab/shared/authzdetails"
	"github.com/cibalab/cibalab/shared/cliconv"
	"github.com/cibalab/cibalab/shared/logfmt"
	"github.com/cibalab/cibalab/shared/oauth"
)

// Run is Main with an explicit Env.
func Run(ctx context.Context, env Env, args []string) int {
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	if len(args) == 1 && cliconv.IsVersion(args[0]) {
		fmt.Fprintln(env.Stdout, cliconv.Version(cliconv.Client))
		return ExitOK
	}
	o, err := parseOptions(args, env.getenv)
	if errors.Is(err, flag.ErrHelp) {
		writeUsage(env.Stdout)
		return ExitOK
	}
	if err != nil {
		msg := cliconv.Message(err)
		fmt.Fprintf(env.Stderr, "ciba-client: %s\nRun 'ciba-client --help' for usage.\n", msg)
		if cliconv.WantsJSON(args, env.getenv(flagDef{name: "json"}.env())) {
			(&run{env: env}).printJSON(jsonError{codeUsage, msg})
		}
		return ExitUsage
	}
	r := &run{env: env, o: o, con: &console{w: env.Stderr, tty: env.isTerminal(env.Stderr)}}
	return r.main(ctx)
}

// run is one invocation of the command.
type run struct {
	env Env
	o   *options
	con *console
}

func (r *run) main(parent context.Context) int {
	ctx := parent
	if r.o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(parent, r.o.timeout)
		defer cancel()
	}
	tok, err := r.flow(ctx)
	r.con.clearStatus()
	if err != nil {
		return r.fail(err, parent.Err() != nil, ctx.Err() == context.DeadlineExceeded && parent.Err() == nil)
	}
	if r.o.json {
		r.printJSON(tok.Raw)
	} else {
		fmt.Fprintln(r.env.Stdout, tok.AccessToken)
	}
	return ExitOK
}

// fail reports err on stderr (and as JSON on stdout with --json) and
// returns the exit code.
func (r *run) fail(err error, interrupted, timedOut bool) int {
	out := classify(err, interrupted, timedOut)
	switch {
	case out.exit == ExitUsage:
		r.con.step("ciba-client: %s", sanitize(out.Description))
	case out.Status != 0:
		line := fmt.Sprintf("✗ %s (HTTP %d)", sanitize(out.Code), out.Status)
		if out.Description != "" {
			line += ": " + sanitize(out.Description)
		}
		r.con.step("%s", line)
	default:
		r.con.step("✗ %s", sanitize(out.Description))
	}
	if r.o.json {
		r.printJSON(jsonError{out.Code, out.Description})
	}
	return out.exit
}

// jsonError is the --json document of a failure.
type jsonError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func (r *run) printJSON(v any) {
	data, err := json.Marshal(v)
	if err != nil {
		data = []byte(`{"error":"client_error","error_description":"cannot encode the result"}`)
	}
	fmt.Fprintf(r.env.Stdout, "%s\n", data)
}

// flow runs discovery, the backchannel request and the wait for the
// token (or, with --refresh, the refresh grant).
func (r *run) flow(ctx context.Context) (*ciba.Token, error) {
	o := r.o
	cert, certSource, found, err := loadCertificate(o, r.env.getenv)
	if err != nil {
		return nil, err
	}
	roots, rootSource, err := loadRoots(o)
	if err != nil {
		return nil, err
	}
	req := ciba.Request{
		Scope:                o.scope,
		LoginHint:            o.loginHint,
		BindingMessage:       o.bindingMessage,
		ACRValues:            o.acr,
		RequestedExpiry:      o.requestedExpiry,
		AuthorizationDetails: o.details,
	}
	if req.LoginHintToken, err = readSecret("--login-hint-token", o.loginHintToken); err != nil {
		return nil, err
	}
	if req.IDTokenHint, err = readSecret("--id-token-hint", o.idTokenHint); err != nil {
		return nil, err
	}
	if req.UserCode, err = readSecret("--user-code-file", o.userCodeFile); err != nil {
		return nil, err
	}
	if req.UserCode == "" {
		req.UserCode = r.env.getenv(EnvUserCode)
	}
	if o.insecure {
		r.con.step("⚠ --insecure-skip-verify: the OP's TLS certificate is NOT verified; anyone on the path can impersonate it")
	}
	if o.skipIDToken {
		r.con.step("⚠ --insecure-skip-id-token-validation: ID tokens are NOT checked; anyone who can answer for the OP can forge one")
	}
	switch {
	case found:
		r.con.step("• client certificate %s (%s)", certSource, sanitize(describeCert(cert)))
	case o.authMethod == ciba.AuthPrivateKeyJWT:
	default:
		r.con.step("⚠ no client certificate (--cert or --cert-pem): the OP will answer invalid_client (RFC 8705 §2)")
	}
	switch {
	case roots != nil:
		r.con.step("• trusting the OP's CA from %s", rootSource)
	case !o.insecure:
		r.con.step("⚠ no CA file at %s: trusting the system roots (start ciba-op first, or pass --ca-file)", o.caFile)
	}

	handler, err := logfmt.NewHandler(r.con, o.logFormat, o.logLevel)
	if err != nil {
		return nil, err // parseFlags checked the format
	}
	logger := slog.New(handler)
	hc := ciba.NewHTTPClient(cert, roots, o.insecure)
	var tr *tracer
	if o.trace {
		tr = &tracer{next: hc.Transport, w: r.con, show: o.showSecrets}
		hc.Transport = tr
	}
	c := &ciba.Config{
		Issuer:                        o.issuer,
		BackchannelAuthURL:            o.bcURL,
		TokenURL:                      o.tokenURL,
		ClientID:                      o.clientID,
		HTTPClient:                    hc,
		Now:                           r.env.Now,
		Sleep:                         r.env.Sleep,
		Logger:                        logger,
		DeliveryMode:                  o.mode,
		AuthMethod:                    o.authMethod,
		AssertionKeyID:                o.assertionKID,
		RequestKeyID:                  o.requestKID,
		JWKSURL:                       o.jwksURL,
		IDTokenMaxAge:                 o.idTokenMaxAge,
		InsecureSkipIDTokenValidation: o.skipIDToken,
	}
	if o.assertionKey != "" {
		if c.AssertionKey, err = loadSigner("--assertion-key", o.assertionKey, o, r.env.getenv); err != nil {
			return nil, err
		}
	}
	if o.requestKey != "" {
		if c.RequestKey, err = loadSigner("--request-key", o.requestKey, o, r.env.getenv); err != nil {
			return nil, err
		}
	}
	if o.mode != oauth.ModePoll && o.refreshFile == "" {
		ns, err := r.notificationServer(logger, tr)
		if err != nil {
			return nil, err
		}
		defer ns.Close()
		c.Notifications = ns
		r.con.step("• notification endpoint %s (%s mode; registered as backchannel_client_notification_endpoint)", sanitize(ns.URL()), o.mode)
	}
	if c.BackchannelAuthURL == "" || c.TokenURL == "" || (c.JWKSURL == "" && !o.skipIDToken) {
		if o.issuer == "" {
			return nil, usagef("--issuer is needed to discover the endpoints and the jwks_uri")
		}
		r.con.step("→ GET %s%s (OpenID Connect Discovery 1.0 §4)", strings.TrimSuffix(o.issuer, "/"), ciba.WellKnownPath)
		md, err := c.Discover(ctx)
		if err != nil {
			return nil, err
		}
		alias := ""
		if len(md.MTLSEndpointAliases) > 0 {
			alias = " (mtls_endpoint_aliases, RFC 8705 §5)"
		}
		r.con.step("← bc-authorize %s, token %s%s", sanitize(c.BackchannelAuthURL), sanitize(c.TokenURL), alias)
	}
	if o.refreshFile != "" {
		return r.refresh(ctx, c)
	}

	hint := "login_hint=" + o.loginHint
	switch {
	case req.LoginHintToken != "":
		hint = "login_hint_token=…"
	case req.IDTokenHint != "":
		hint = "id_token_hint=…"
	}
	how := o.authMethod
	if c.RequestKey != nil {
		alg, _ := ciba.SigningAlgorithm(c.RequestKey)
		how += ", signed request object " + alg
	}
	r.con.step("→ POST %s (CIBA §7.1) client_id=%s %s scope=%q (%s)", sanitize(c.BackchannelAuthURL), o.clientID, sanitize(hint), strings.Join(o.scope, " "), how)
	ack, err := c.Start(ctx, req)
	if err != nil {
		return nil, err
	}
	r.con.step("← auth_req_id %s=%s, expires in %d s, interval %d s", oauth.LogAttrReq, oauth.ReqRef(ack.AuthReqID), ack.ExpiresIn, ack.Interval)
	if o.bindingMessage != "" {
		r.con.step("• binding message %q: check that the authentication device shows the same", o.bindingMessage)
	}
	switch o.mode {
	case oauth.ModePing:
		r.con.step("→ waiting for a ping (CIBA §10.2); meanwhile polling POST %s every interval", sanitize(c.TokenURL))
	case oauth.ModePush:
		r.con.step("→ waiting for the OP to push the token (CIBA §10.3)")
	default:
		r.con.step("→ polling POST %s (CIBA §10.1) until the user answers", sanitize(c.TokenURL))
	}

	cd := &countdown{deadline: ack.ReceivedAt.Add(time.Duration(ack.ExpiresIn) * time.Second), interval: time.Duration(ack.Interval) * time.Second}
	stop := r.startCountdown(cd)
	pings := 0
	tok, err := c.Wait(ctx, ack, func(p ciba.Progress) {
		cd.update(p.Polls, p.Interval, p.LastError)
		r.con.setStatus(cd.line(r.env.now()))
		if p.Notifications > pings {
			if pings == 0 {
				r.con.step("← ping received: asked the token endpoint at once (CIBA §10.2)")
			} else {
				r.con.step("← ping received again: polls keep the interval")
			}
			pings = p.Notifications
		}
		if p.Polls == 0 {
			return
		}
		switch p.LastError {
		case oauth.ErrSlowDown:
			r.con.step("… slow_down (poll %d): interval now %s for good (CIBA §11)", p.Polls, p.Interval)
		case oauth.ErrTemporarilyUnavailable:
			r.con.step("… OP busy, HTTP 503 (poll %d): retrying in %s", p.Polls, p.Wait.Round(time.Second))
		default:
			r.con.step("… %s (poll %d, %d s left)", sanitize(p.LastError), p.Polls, p.SecondsLeft)
		}
	})
	stop()
	if err != nil {
		return nil, err
	}
	r.con.step("← access token (%s)", describeToken(tok))
	if err := r.showGranted(tok); err != nil {
		return nil, err
	}
	return tok, nil
}

// showGranted prints, in words, the authorization_details the user
// granted (RFC 9396 §7) and those asked for but not granted.
func (r *run) showGranted(tok *ciba.Token) error {
	granted, err := tok.GrantedDetails()
	if err != nil {
		return err
	}
	if len(r.o.details) == 0 && len(granted) == 0 {
		return nil
	}
	r.con.step("← authorization_details granted: %d of %d asked (RFC 9396 §7)", len(granted), len(r.o.details))
	for _, line := range granted.Lines() {
		r.con.step("   ✔ %s", line)
	}
	for _, d := range r.o.details {
		if !slices.ContainsFunc(granted, func(g authzdetails.Detail) bool {
			return authzdetails.Equal(authzdetails.Details{g}, authzdetails.Details{d})
		}) {
			r.con.step("   ✘ not granted: %s", authzdetails.Describe(d))
		}
	}
	return nil
}

// refresh exchanges the refresh token of --refresh (RFC 6749 §6).
func (r *run) refresh(ctx context.Context, c *ciba.Config) (*ciba.Token, error) {
	rt, err := readSecret("--refresh", r.o.refreshFile)
	if err != nil {
		return nil, err
	}
	if rt == "" {
		return nil, usagef("--refresh %s: the file is empty", r.o.refreshFile)
	}
	r.con.step("→ POST %s grant_type=refresh_token (RFC 6749 §6)", sanitize(c.TokenURL))
	tok, err := c.Refresh(ctx, rt)
	if err != nil {
		return nil, err
	}
	rotated := ""
	if tok.RefreshToken != rt {
		rotated = "; the refresh token was rotated: keep the new one"
	}
	r.con.step("← access token (%s)%s", describeToken(tok), rotated)
	return tok, nil
}

func describeToken(tok *ciba.Token) string {
	desc := []string{tok.TokenType}
	if tok.ExpiresIn > 0 {
		desc = append(desc, fmt.Sprintf("expires in %d s", tok.ExpiresIn))
	}
	if tok.Scope != "" {
		desc = append(desc, "scope "+sanitize(tok.Scope))
	}
	if tok.RefreshToken != "" {
		desc = append(desc, "with refresh_token")
	}
	switch {
	case tok.IDTokenClaims != nil:
		desc = append(desc, fmt.Sprintf("with id_token checked: sub %s, %s", sanitize(tok.IDTokenClaims.Subject), tok.IDTokenClaims.Algorithm))
	case tok.IDToken != "":
		desc = append(desc, "with id_token")
	}
	return strings.Join(desc, ", ")
}

// startCountdown redraws the status line every second on a terminal, until
// the returned function is called.
func (r *run) startCountdown(cd *countdown) (stop func()) {
	if !r.con.tty {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			r.con.setStatus(cd.line(r.env.now()))
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		r.con.clearStatus()
	}
}
