package op

import (
	"context"
	"net/http"
	"time"

	"github.com/cibalab/cibalab/shared/oauth"
)

// Observer sees, after the fact, every exchange the OP answers and every
// notification it sends: metrics and the live flow view are built on it.
// Its methods are called on the request's goroutine (or the delivery's)
// and must not block. Config.Observer; nil observes nothing and costs
// nothing.
type Observer interface {
	Exchange(ctx context.Context, x Exchange)
	Notification(ctx context.Context, n Notification)
}

// Endpoint names of Exchange.Endpoint.
const (
	EndpointBCAuthorize = "bc-authorize" // CIBA Core 1.0 §7.1
	EndpointToken       = "token"        // CIBA Core 1.0 §10.1, RFC 6749 §3.2
	EndpointIntrospect  = "introspect"   // RFC 7662
	EndpointRevoke      = "revoke"       // RFC 7009
	EndpointUserinfo    = "userinfo"     // OpenID Connect Core 1.0 §5.3
	EndpointJWKS        = "jwks"         // RFC 7517
	EndpointDiscovery   = "discovery"    // OpenID Connect Discovery 1.0 §4
	EndpointNotFound    = "not-found"    // any other path
)

// Exchange is one HTTP request the OP answered.
type Exchange struct {
	// Endpoint is one of the Endpoint... names.
	Endpoint string
	// GrantType is the grant_type of a token request, "" elsewhere.
	GrantType string
	// ClientID is the authenticated client, "" when unknown (before or
	// without client authentication).
	ClientID string
	// Req is the oauth.ReqRef of the auth_req_id the exchange concerns:
	// the new one of a bc-authorize acknowledgement, the redeemed one of a
	// CIBA token request; "" otherwise.
	Req string
	// Status is the HTTP status answered.
	Status int
	// Error is the OAuth error code answered (RFC 6749 §5.2, CIBA Core
	// 1.0 §11, §13, RFC 6750 §3.1), "" on success.
	Error string
	// Start is when the request reached the handler (Config.Now);
	// Duration how long it took to answer.
	Start    time.Time
	Duration time.Duration
}

// Notification modes and kinds of Notification.
const (
	NotifyPing = "ping" // CIBA Core 1.0 §10.2
	NotifyPush = "push" // CIBA Core 1.0 §10.3

	KindPing   = "ping"   // {"auth_req_id"} (§10.2)
	KindTokens = "tokens" // the token response (§10.3.1)
	KindError  = "error"  // access_denied, expired_token, transaction_failed (§12)
)

// Notification is one delivery attempt to a client's notification
// endpoint (CIBA Core 1.0 §10.2, §10.3, §12).
type Notification struct {
	// Mode is NotifyPing or NotifyPush; Kind is KindPing, KindTokens or
	// KindError.
	Mode, Kind string
	ClientID   string
	// Req is the oauth.ReqRef of the request notified about.
	Req string
	// Status is the client's HTTP status, 0 when it did not answer.
	Status int
	// Err is why the delivery failed, nil when the client acknowledged it
	// (200 or 204).
	Err error
	// Start is when the attempt began (Config.Now); Duration how long it
	// took.
	Start    time.Time
	Duration time.Duration
}

// Observers returns an Observer that passes everything to each of obs in
// turn, skipping nils; it returns nil when none is left, so that nobody is
// called.
func Observers(obs ...Observer) Observer {
	var all multiObserver
	for _, o := range obs {
		if o != nil {
			all = append(all, o)
		}
	}
	switch len(all) {
	case 0:
		return nil
	case 1:
		return all[0]
	}
	return all
}

type multiObserver []Observer

func (m multiObserver) Exchange(ctx context.Context, x Exchange) {
	for _, o := range m {
		o.Exchange(ctx, x)
	}
}

func (m multiObserver) Notification(ctx context.Context, n Notification) {
	for _, o := range m {
		o.Notification(ctx, n)
	}
}

// observed wraps an endpoint so that Config.Observer sees each exchange
// when it ends. Without an observer it returns h itself: nothing is
// measured or allocated.
func (p *Provider) observed(endpoint string, h http.Handler) http.Handler {
	obs := p.cfg.Observer
	if obs == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ow := &observedWriter{ResponseWriter: w, x: Exchange{Endpoint: endpoint, Start: p.cfg.Now()}}
		h.ServeHTTP(ow, r)
		ow.x.Duration = p.cfg.Now().Sub(ow.x.Start)
		if ow.x.Status == 0 {
			ow.x.Status = http.StatusOK // the handler wrote nothing: net/http answers 200
		}
		obs.Exchange(r.Context(), ow.x)
	})
}

// observedWriter records the status and what the handlers note about the
// exchange (noteClient, noteReq, noteGrant, noteError).
type observedWriter struct {
	http.ResponseWriter
	x Exchange
}

func (w *observedWriter) WriteHeader(status int) {
	if w.x.Status == 0 {
		w.x.Status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *observedWriter) Write(b []byte) (int, error) {
	if w.x.Status == 0 {
		w.x.Status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *observedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// exchangeOf returns the exchange being observed through w, or nil when
// nobody observes.
func exchangeOf(w http.ResponseWriter) *Exchange {
	if ow, ok := w.(*observedWriter); ok {
		return &ow.x
	}
	return nil
}

// noteClient records the authenticated client of the exchange.
func noteClient(w http.ResponseWriter, clientID string) {
	if x := exchangeOf(w); x != nil {
		x.ClientID = clientID
	}
}

// noteGrant records the grant_type of a token request.
func noteGrant(w http.ResponseWriter, grantType string) {
	if x := exchangeOf(w); x != nil {
		x.GrantType = grantType
	}
}

// noteReq records the auth_req_id the exchange concerns, as its reference
// (computed only when somebody observes).
func noteReq(w http.ResponseWriter, authReqID string) {
	if x := exchangeOf(w); x != nil && authReqID != "" {
		x.Req = oauth.ReqRef(authReqID)
	}
}

// noteError records the OAuth error code answered.
func noteError(w http.ResponseWriter, code string) {
	if x := exchangeOf(w); x != nil {
		x.Error = code
	}
}

// observeNotification passes a delivery attempt to Config.Observer.
func (p *Provider) observeNotification(ctx context.Context, n Notification) {
	if p.cfg.Observer == nil {
		return
	}
	n.Duration = p.cfg.Now().Sub(n.Start)
	p.cfg.Observer.Notification(ctx, n)
}
