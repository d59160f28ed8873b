package op

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/oauth"
)

// Bounds of client notification (CIBA Core 1.0 §10.2, §10.3).
const (
	// notifyTimeout bounds one call to a notification endpoint, from dial
	// to the end of the response headers.
	notifyTimeout = 5 * time.Second
	// maxNotifyInFlight bounds the calls to notification endpoints in
	// flight at once, over all clients.
	maxNotifyInFlight = 16
	// maxPushAttempts bounds the deliveries of one push; the request's
	// expiry bounds them too.
	maxPushAttempts = 6
	// maxNotifyResponse is how much of an endpoint's answer is read (and
	// discarded) so the connection can be reused.
	maxNotifyResponse = 16 << 10
)

// notifier runs deliveries to client notification endpoints in the
// background, so that a decision never waits for a client's server. Its
// lifetime is the provider's: Close cancels what is in flight and waits.
type notifier struct {
	client *http.Client
	ctx    context.Context
	cancel context.CancelFunc
	sem    chan struct{}
	// backoff is the wait before push attempt n+1 after n failures.
	backoff func(n int) time.Duration

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func newNotifier(c *http.Client, roots *x509.CertPool, wrap func(http.RoundTripper) http.RoundTripper) *notifier {
	if c == nil {
		c = defaultNotificationClient(roots)
	} else {
		cp := *c
		c = &cp
	}
	if wrap != nil {
		base := c.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		c.Transport = wrap(base)
	}
	// Redirects are never followed (CIBA Core 1.0 §10.2; the working
	// group's reading, checklist §4.2), whichever client is used.
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	ctx, cancel := context.WithCancel(context.Background())
	return &notifier{
		client: c, ctx: ctx, cancel: cancel,
		sem: make(chan struct{}, maxNotifyInFlight),
		backoff: func(n int) time.Duration {
			return min(time.Second<<min(n-1, 5), 30*time.Second)
		},
	}
}

// defaultNotificationClient is an HTTP client with bounded timeouts and
// TLS 1.2 or later that trusts the system roots and, when not nil, roots.
func defaultNotificationClient(roots *x509.CertPool) *http.Client {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if roots != nil {
		// Go cannot merge a pool into the system pool, so the chain is
		// verified here, against either pool, instead of by the default
		// verifier (the pattern of the crypto/tls VerifyConnection
		// example). The server name is still checked.
		tlsCfg.InsecureSkipVerify = true
		tlsCfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("op: notification endpoint sent no certificate")
			}
			opts := x509.VerifyOptions{DNSName: cs.ServerName, Intermediates: x509.NewCertPool()}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			if _, err := cs.PeerCertificates[0].Verify(opts); err == nil {
				return nil // system roots
			}
			opts.Roots = roots
			_, err := cs.PeerCertificates[0].Verify(opts)
			return err
		}
	}
	return &http.Client{
		Timeout: notifyTimeout,
		Transport: &http.Transport{
			TLSClientConfig:       tlsCfg,
			TLSHandshakeTimeout:   notifyTimeout,
			ResponseHeaderTimeout: notifyTimeout,
			IdleConnTimeout:       30 * time.Second,
			MaxIdleConnsPerHost:   2,
			ForceAttemptHTTP2:     true,
		},
	}
}

// spawn runs fn in the background with the notifier's context, unless the
// notifier is closed. It reports whether fn was started.
func (n *notifier) spawn(fn func(ctx context.Context)) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		fn(n.ctx)
	}()
	return true
}

// close cancels deliveries in flight and waits for them to end.
func (n *notifier) close() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.cancel()
	n.wg.Wait()
}

// errNotHTTPS refuses a notification endpoint that is not https
// (CIBA Core 1.0 §4, §9).
var errNotHTTPS = errors.New("op: the notification endpoint is not an https URL")

// errTransactionFailed ends a push after transaction_failed was sent.
var errTransactionFailed = errors.New("op: transaction_failed pushed")

// post sends body as JSON to endpoint with the client_notification_token as
// a Bearer token (CIBA Core 1.0 §10.2, §10.3) and returns the status. The
// answer's body is ignored.
func (n *notifier) post(ctx context.Context, endpoint, bearer string, body any) (int, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return 0, errNotHTTPS
	}
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	select {
	case n.sem <- struct{}{}:
		defer func() { <-n.sem }()
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxNotifyResponse))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// deliveryProblem says in a sentence, for the operator's log, why a call
// to a notification endpoint failed with status (0 when there was no
// answer) or err.
func deliveryProblem(status int, err error) string {
	var (
		uae x509.UnknownAuthorityError
		he  x509.HostnameError
		cie x509.CertificateInvalidError
	)
	switch {
	case errors.Is(err, errNotHTTPS):
		return "the registered notification endpoint is not an https URL (CIBA Core 1.0 §4)"
	case errors.Is(err, errTransactionFailed):
		return "the tokens could not be issued; transaction_failed was pushed instead (CIBA Core 1.0 §12)"
	case errors.As(err, &uae):
		return "the OP does not trust the notification endpoint's certificate: serve it with the certificate ciba-op cert issue wrote for the client (issued by the OP's CA), or trust its CA with ciba-op serve --notification-ca-file"
	case errors.As(err, &he):
		return "the notification endpoint's certificate does not name the host of the registered URL"
	case errors.As(err, &cie):
		return "the notification endpoint's certificate is expired or not valid for a TLS server"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "nothing listens at the notification endpoint (is the client running, on the registered port?)"
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return "the notification endpoint did not answer in time"
	case err != nil:
		return "the notification endpoint could not be reached"
	case status == http.StatusUnauthorized:
		return "the client refused the client_notification_token: it no longer waits for this request"
	case status >= 300 && status < 400:
		return "the client answered with a redirect, which is never followed (CIBA Core 1.0 §10.2)"
	case status >= 400 && status < 500:
		return "the client refused the notification; it is not sent again"
	default:
		return "the client answered with an error status"
	}
}

// badCertificate reports a notification endpoint certificate the OP
// refused: trying again would meet the same certificate.
func badCertificate(err error) bool {
	var uae x509.UnknownAuthorityError
	var he x509.HostnameError
	var cie x509.CertificateInvalidError
	return errors.As(err, &uae) || errors.As(err, &he) || errors.As(err, &cie)
}

// isTimeout reports a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// deliveryError is the error of a delivery attempt that answered status
// (0 when none) or failed with err: err itself, an error naming a status
// that acknowledges nothing, or nil when the client acknowledged it.
func deliveryError(status int, err error) error {
	if err != nil || delivered(status) {
		return err
	}
	return &statusError{status}
}

// statusError is an answer of a notification endpoint that is not an
// acknowledgement.
type statusError struct{ status int }

func (e *statusError) Error() string {
	return "op: the notification endpoint answered " + strconv.Itoa(e.status) + " " + http.StatusText(e.status)
}

// delivered reports whether a notification endpoint's status acknowledges
// the call: 204 as CIBA Core 1.0 §10.2 asks, or 200 (checklist §4.2).
func delivered(status int) bool { return status == http.StatusNoContent || status == http.StatusOK }

// Close stops the deliveries to client notification endpoints that are in
// flight or waiting to retry, and waits for them to end. Decisions taken
// afterwards are still recorded, but nobody is notified: ping clients can
// still poll. Close is safe to call more than once.
func (p *Provider) Close() error {
	p.notifier.close()
	return nil
}

// notifyDecision starts the delivery of a decision on req to its client's
// notification endpoint, in the background: a ping for ping clients
// (CIBA Core 1.0 §10.2), the tokens or the error for push clients (§10.3,
// §12). Poll clients are never called.
func (p *Provider) notifyDecision(req *store.Request) {
	client, err := p.cfg.Clients.Client(req.ClientID)
	if err != nil {
		p.log.Error("notify.client_lookup_failed", oauth.LogAttrReq, oauth.ReqRef(req.ID), "client_id", req.ClientID, "err", err)
		return
	}
	if client.DeliveryMode != oauth.ModePing && client.DeliveryMode != oauth.ModePush {
		return
	}
	if req.NotificationToken == "" {
		p.log.Error("notify.not_sent", oauth.LogAttrReq, oauth.ReqRef(req.ID), "client_id", client.ID, "reason", "the request has no client_notification_token")
		return
	}
	req = req.Clone()
	started := p.notifier.spawn(func(ctx context.Context) {
		if client.DeliveryMode == oauth.ModePing {
			p.ping(ctx, client, req)
		} else {
			p.push(ctx, client, req)
		}
	})
	if !started {
		p.log.Warn("notify.not_sent", oauth.LogAttrReq, oauth.ReqRef(req.ID), "client_id", client.ID, "reason", "the provider is closed")
	}
}

// ping sends {"auth_req_id": ...} and nothing else (CIBA Core 1.0 §10.2),
// after an approval or a denial, once: whatever the answer (a 401, a
// redirect, an error), it is not retried, and the request stays redeemable
// at the token endpoint until it expires.
func (p *Provider) ping(ctx context.Context, client *registry.Client, req *store.Request) {
	p.notifyOnce(ctx, client, req, struct {
		AuthReqID string `json:"auth_req_id"`
	}{req.ID}, NotifyPing, KindPing, "the client can still poll")
}

// notifyOnce makes one delivery of body to the client's notification
// endpoint, records the attempt, shows it to Config.Observer as a
// notification of mode and kind and logs its outcome as notify.delivered or
// notify.failed (with the reason, and afterFailure as "then"). It never
// retries: the ping (CIBA Core 1.0 §10.2) and the expired_token push (§12)
// are sent once.
func (p *Provider) notifyOnce(ctx context.Context, client *registry.Client, req *store.Request, body any, mode, kind, afterFailure string) {
	start := p.cfg.Now()
	status, err := p.notifier.post(ctx, client.NotificationEndpoint, req.NotificationToken, body)
	ok := err == nil && delivered(status)
	p.observeNotification(ctx, Notification{Mode: mode, Kind: kind, ClientID: client.ID, Req: oauth.ReqRef(req.ID),
		Status: status, Err: deliveryError(status, err), Start: start})
	cctx, cancel := cleanupContext(ctx)
	p.recordAttempt(cctx, req.ID, ok)
	cancel()
	attrs := []any{oauth.LogAttrReq, oauth.ReqRef(req.ID), "client_id", client.ID, "mode", mode, "kind", kind,
		"endpoint", client.NotificationEndpoint, "status", status}
	switch {
	case err != nil:
		p.log.Warn("notify.failed", append(attrs, "err", err.Error(), "reason", deliveryProblem(status, err), "then", afterFailure)...)
	case !ok:
		p.log.Warn("notify.failed", append(attrs, "reason", deliveryProblem(status, nil), "then", afterFailure)...)
	default:
		p.log.Info("notify.delivered", attrs...)
	}
}

// pushTokens is the push mode token delivery: the token response plus the
// auth_req_id (CIBA Core 1.0 §10.3.1).
type pushTokens struct {
	AuthReqID string `json:"auth_req_id"`
	*oauth.TokenResponse
}

// pushError is the push mode error payload (CIBA Core 1.0 §12).
type pushError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
	AuthReqID        string `json:"auth_req_id"`
}

// push delivers the outcome to a push client (CIBA Core 1.0 §10.3, §12).
//
// On approval it mints tokens and POSTs them with the auth_req_id; the ID
// token carries at_hash, the auth_req_id claim and, with a refresh token,
// rt_hash (§10.3.1). Push bypasses the token endpoint, so there is no
// certificate to bind to there (§14): the tokens are bound to the
// certificate the client presented at the backchannel authentication
// endpoint (store.Request.CertThumbprint), a non-standard choice also made
// by go-oidc (unbound when the client presented none). If the tokens
// cannot be minted, transaction_failed is pushed instead, once. On denial
// it POSTs {"error":"access_denied","auth_req_id":...}.
//
// A 200 or 204 consumes the request (redeemed). A network error or a 5xx
// or 429 answer is retried with exponential backoff (1 s, 2 s, 4 s, ...)
// while the request is unexpired, at most maxPushAttempts times; tokens of
// a failed attempt are revoked before the next one mints fresh ones. Any
// other answer (4xx: the client does not know the request or its
// client_notification_token; a redirect) and a certificate the OP does
// not trust are final. Every failure is logged at WARN with its reason.
// Until expiry an undelivered grant stays approved but unredeemable (push
// clients may not poll).
// Requests nobody decided before expiry get expired_token, pushed once by
// NotifyExpired (notifyexpired.go).
func (p *Provider) push(ctx context.Context, client *registry.Client, req *store.Request) {
	for attempt := 1; ; attempt++ {
		now := p.cfg.Now()
		if req.Expired(now) {
			p.log.Warn("notify.abandoned", oauth.LogAttrReq, oauth.ReqRef(req.ID), "client_id", client.ID, "mode", NotifyPush,
				"reason", "the request expired", "attempts", attempt-1)
			return
		}
		status, m, err := p.pushOnce(ctx, client, req, now)
		ok := err == nil && delivered(status)
		kind := KindTokens
		if req.Status == store.StatusDenied || errors.Is(err, errTransactionFailed) {
			kind = KindError
		}
		p.observeNotification(ctx, Notification{Mode: NotifyPush, Kind: kind, ClientID: client.ID, Req: oauth.ReqRef(req.ID),
			Status: status, Err: deliveryError(status, err), Start: now})
		attrs := []any{oauth.LogAttrReq, oauth.ReqRef(req.ID), "client_id", client.ID, "mode", NotifyPush, "kind", kind,
			"endpoint", client.NotificationEndpoint, "status", status, "attempt", attempt}
		// Recording the outcome and revoking undelivered tokens must
		// happen even when Close cancelled ctx meanwhile.
		cctx, cancel := cleanupContext(ctx)
		if ok {
			p.recordPushed(cctx, req)
			cancel()
			p.log.Info("notify.delivered", attrs...)
			return
		}
		p.recordAttempt(cctx, req.ID, false)
		if m != nil {
			if rerr := p.revokeMinted(cctx, *m, now); rerr != nil {
				p.log.Error("notify.revoke_failed", oauth.LogAttrReq, oauth.ReqRef(req.ID), "err", rerr)
			}
		}
		cancel()
		retry := (err != nil && !badCertificate(err)) || status >= 500 || status == http.StatusTooManyRequests
		if err != nil {
			attrs = append(attrs, "err", err.Error())
		}
		attrs = append(attrs, "reason", deliveryProblem(status, err))
		if !retry || attempt >= maxPushAttempts || ctx.Err() != nil || errors.Is(err, errNotHTTPS) || errors.Is(err, errTransactionFailed) {
			p.log.Warn("notify.failed", append(attrs, "then", "not retried")...)
			return
		}
		p.log.Warn("notify.failed", append(attrs, "then", "retried")...)
		t := time.NewTimer(p.notifier.backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// pushOnce makes one push delivery. It returns what it minted, if anything,
// so a failed delivery can revoke it.
func (p *Provider) pushOnce(ctx context.Context, client *registry.Client, req *store.Request, now time.Time) (int, *minted, error) {
	if req.Status == store.StatusDenied {
		status, err := p.notifier.post(ctx, client.NotificationEndpoint, req.NotificationToken,
			pushError{Error: oauth.ErrAccessDenied, ErrorDescription: "the user denied the request", AuthReqID: req.ID})
		return status, nil, err
	}
	resp, m, err := p.mintTokens(ctx, grant{
		Client: client, X5t: req.CertThumbprint,
		User: req.User, Scope: req.Scope, ACR: req.ACR, AMR: req.AMR, AuthTime: req.AuthTime,
		Details: req.GrantedDetails, AuthReqID: req.ID,
	}, now)
	if err != nil {
		p.log.Error("notify.mint_failed", oauth.LogAttrReq, oauth.ReqRef(req.ID), "err", err, "then", "transaction_failed is pushed")
		status, perr := p.notifier.post(ctx, client.NotificationEndpoint, req.NotificationToken,
			pushError{Error: oauth.ErrTransactionFailed, ErrorDescription: "the tokens could not be issued", AuthReqID: req.ID})
		if perr == nil {
			perr = errTransactionFailed
		}
		return status, nil, perr
	}
	status, err := p.notifier.post(ctx, client.NotificationEndpoint, req.NotificationToken, pushTokens{AuthReqID: req.ID, TokenResponse: resp})
	return status, &m, err
}

// cleanupTimeout bounds the bookkeeping after a delivery attempt.
const cleanupTimeout = 2 * time.Second

// cleanupContext is ctx without its cancellation, bounded by
// cleanupTimeout: the bookkeeping after a delivery (recording it, revoking
// tokens nobody received) must run even when Close cancelled the delivery.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}

// recordAttempt counts a call to the notification endpoint on the request.
func (p *Provider) recordAttempt(ctx context.Context, id string, ok bool) {
	if err := p.life.RecordNotification(ctx, id, ok); err != nil && !errors.Is(err, context.Canceled) {
		p.log.Error("notify.record_failed", oauth.LogAttrReq, oauth.ReqRef(id), "err", err)
	}
}

// recordPushed records a delivered push: an approved request is then
// consumed, as a redeemed one (CIBA Core 1.0 §10.3.1).
func (p *Provider) recordPushed(ctx context.Context, req *store.Request) {
	if _, err := p.life.RecordPushed(ctx, req.ID); err != nil {
		p.log.Error("notify.record_failed", oauth.LogAttrReq, oauth.ReqRef(req.ID), "err", err)
	}
}
