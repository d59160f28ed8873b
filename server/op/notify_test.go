package op

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/server/ca"
	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

// notifyCall is one request a notification endpoint received.
type notifyCall struct {
	method, path, auth, contentType string
	body                            []byte
}

// notifyEndpoint is a client notification endpoint (CIBA Core 1.0 §10.2,
// §10.3) served over TLS by the test. answer writes the n-th answer
// (from 0); nil answers 204.
type notifyEndpoint struct {
	srv    *httptest.Server
	mu     sync.Mutex
	calls  []notifyCall
	answer func(n int, w http.ResponseWriter)
}

func newNotifyEndpoint(t testing.TB, answer func(n int, w http.ResponseWriter)) *notifyEndpoint {
	t.Helper()
	e := &notifyEndpoint{answer: answer}
	e.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		n := len(e.calls)
		e.calls = append(e.calls, notifyCall{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), body})
		e.mu.Unlock()
		if e.answer == nil || r.URL.Path != "/cb" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		e.answer(n, w)
	}))
	e.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)
	return e
}

func (e *notifyEndpoint) URL() string { return e.srv.URL + "/cb" }

func (e *notifyEndpoint) Calls() []notifyCall {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]notifyCall(nil), e.calls...)
}

func status(code int) func(int, http.ResponseWriter) {
	return func(_ int, w http.ResponseWriter) { w.WriteHeader(code) }
}

// withNotifications rebuilds the fixture's provider so that notifications
// go through hc (the endpoint's TLS client when nil), retries do not wait,
// and adds the ping client "pinger", the push client "pusher" and the
// refresh-enabled push client "pushrt", all notified at e.
func (f *fixture) withNotifications(t testing.TB, e *notifyEndpoint, hc *http.Client) {
	t.Helper()
	if hc == nil {
		hc = e.srv.Client()
	}
	cfg := f.p.cfg
	cfg.NotificationClient = hc
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.notifier.backoff = func(int) time.Duration { return 0 }
	t.Cleanup(func() { p.Close() })
	f.p = p
	for id, mode := range map[string]oauth.DeliveryMode{"pinger": oauth.ModePing, "pusher": oauth.ModePush, "pushrt": oauth.ModePush} {
		c := &registry.Client{ID: id, TokenEndpointAuthMethod: oauth.AuthTLSClient, SubjectDN: "CN=" + id,
			DeliveryMode: mode, NotificationEndpoint: e.URL(), GrantTypes: []string{oauth.GrantTypeCIBA}}
		if id == "pushrt" {
			c.GrantTypes = append(c.GrantTypes, oauth.GrantTypeRefreshToken)
			c.IDTokenSignedResponseAlg = "ES256"
		}
		f.reg.clients[id] = c
		f.certs[id] = issueCert(t, f.ca, id)
	}
}

func issueCert(t testing.TB, c *ca.CA, cn string, o ...string) *x509.Certificate {
	t.Helper()
	cert, _, err := c.IssueClient(pkix.Name{CommonName: cn, Organization: o}, ca.ClientCertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// startAs starts a request for client through the backchannel
// authentication endpoint, with a client_notification_token for ping and
// push clients.
func (f *fixture) startAs(t testing.TB, client string, extra url.Values) string {
	t.Helper()
	form := url.Values{"client_id": {client}, "scope": {"openid profile"}, "login_hint": {"user"}}
	if c := f.reg.clients[client]; c.DeliveryMode != oauth.ModePoll {
		form.Set("client_notification_token", "notify-"+client)
	}
	for k, v := range extra {
		form[k] = v
	}
	r := f.post(t, pathBCAuthorize, form, f.certs[client])
	if r.status != http.StatusOK {
		t.Fatalf("bc-authorize for %s: %d %s", client, r.status, r.raw)
	}
	return r.str("auth_req_id")
}

// settle waits until every background delivery has ended.
func (f *fixture) settle() { f.p.notifier.wg.Wait() }

func (f *fixture) decide(t testing.TB, id string, approve bool) {
	t.Helper()
	if err := f.p.Decide(context.Background(), "user", id, authreq.Verdict{Approve: approve, ACR: "urn:cibalab:acr:pwd", AMR: []string{"pwd"}}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) request(t testing.TB, id string) *store.Request {
	t.Helper()
	r, err := f.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// faultTransport fails every request without reaching the network, and
// counts them.
type faultTransport struct {
	mu sync.Mutex
	n  int
	fn func()
}

func (ft *faultTransport) RoundTrip(*http.Request) (*http.Response, error) {
	ft.mu.Lock()
	ft.n++
	ft.mu.Unlock()
	if ft.fn != nil {
		ft.fn()
	}
	return nil, errors.New("connection refused")
}

func (ft *faultTransport) count() int { ft.mu.Lock(); defer ft.mu.Unlock(); return ft.n }

// TestPing covers ping mode (CIBA Core 1.0 §10.2, checklist §4.2 and the
// fapi-ciba-id1-ping-* modules): the ping's exact shape, the answers that
// count as delivered, no redirect followed and no retry whatever the
// answer, and the request redeemable at the token endpoint afterwards.
func TestPing(t *testing.T) {
	tests := []struct {
		name      string
		answer    func(int, http.ResponseWriter)
		approve   bool
		delivered bool
		poll      int    // status of the poll after the ping
		code      string // its error, if any
	}{
		{"204 after approval", nil, true, true, 200, ""},
		{"200 with a body", func(_ int, w http.ResponseWriter) { w.Write([]byte(`{"ok":true}`)) }, true, true, 200, ""},
		{"401 is not retried; tokens still redeemable", status(401), true, false, 200, ""},
		{"403 is not retried; tokens still redeemable", status(403), true, false, 200, ""},
		{"500 is not retried", status(500), true, false, 200, ""},
		{"redirect is not followed", func(_ int, w http.ResponseWriter) {
			w.Header().Set("Location", "/elsewhere")
			w.WriteHeader(http.StatusMovedPermanently)
		}, true, false, 200, ""},
		{"denial is pinged, then access_denied", nil, false, true, 400, oauth.ErrAccessDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			e := newNotifyEndpoint(t, tt.answer)
			f.withNotifications(t, e, nil)
			id := f.startAs(t, "pinger", nil)

			// A ping client may poll before the decision (checklist §3.1).
			f.clock.Advance(5 * time.Second)
			wantError(t, f.poll(t, "pinger", id), 400, oauth.ErrAuthorizationPending)
			if n := len(e.Calls()); n != 0 {
				t.Fatalf("%d notifications before the decision", n)
			}

			f.decide(t, id, tt.approve)
			f.settle()
			calls := e.Calls()
			if len(calls) != 1 {
				t.Fatalf("%d calls to the endpoint, want exactly 1 (no retry, no redirect): %+v", len(calls), calls)
			}
			c := calls[0]
			if c.method != http.MethodPost || c.path != "/cb" || c.auth != "Bearer notify-pinger" || c.contentType != "application/json" {
				t.Errorf("ping %s %s, Authorization %q, Content-Type %q", c.method, c.path, c.auth, c.contentType)
			}
			var body map[string]any
			if err := json.Unmarshal(c.body, &body); err != nil || len(body) != 1 || body["auth_req_id"] != id {
				t.Errorf("ping body %s, want exactly {\"auth_req_id\":...}", c.body)
			}
			req := f.request(t, id)
			if req.NotifyAttempts != 1 || req.NotifiedAt.IsZero() != !tt.delivered {
				t.Errorf("attempts %d, notified at %v; want 1, delivered=%v", req.NotifyAttempts, req.NotifiedAt, tt.delivered)
			}

			// The interval does not apply to a decided request.
			r := f.poll(t, "pinger", id)
			if tt.code != "" {
				wantError(t, r, tt.poll, tt.code)
				return
			}
			if r.status != tt.poll || r.str("access_token") == "" {
				t.Fatalf("poll after ping: %d %s", r.status, r.raw)
			}
			wantError(t, f.poll(t, "pinger", id), 400, oauth.ErrInvalidGrant)
		})
	}
}

// TestPingFaults: network errors, a non-https endpoint and a closed
// provider leave the request redeemable, and the endpoint is called at
// most once.
func TestPingFaults(t *testing.T) {
	t.Run("network error", func(t *testing.T) {
		f := newFixture(t)
		ft := &faultTransport{}
		f.withNotifications(t, newNotifyEndpoint(t, nil), &http.Client{Transport: ft})
		id := f.startAs(t, "pinger", nil)
		f.decide(t, id, true)
		f.settle()
		if ft.count() != 1 {
			t.Fatalf("%d attempts, want 1", ft.count())
		}
		if req := f.request(t, id); req.NotifyAttempts != 1 || !req.NotifiedAt.IsZero() {
			t.Fatalf("recorded %+v", req)
		}
		if r := f.poll(t, "pinger", id); r.status != 200 {
			t.Fatalf("poll: %d %s", r.status, r.raw)
		}
	})
	t.Run("plain http endpoint is never called", func(t *testing.T) {
		f := newFixture(t)
		e := newNotifyEndpoint(t, nil)
		plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("plain http endpoint called") }))
		t.Cleanup(plain.Close)
		f.withNotifications(t, e, nil)
		f.reg.clients["pinger"].NotificationEndpoint = plain.URL + "/cb"
		id := f.startAs(t, "pinger", nil)
		f.decide(t, id, true)
		f.settle()
		if req := f.request(t, id); req.NotifyAttempts != 1 || !req.NotifiedAt.IsZero() {
			t.Fatalf("recorded %+v", req)
		}
		if r := f.poll(t, "pinger", id); r.status != 200 {
			t.Fatalf("poll: %d %s", r.status, r.raw)
		}
	})
	t.Run("poll clients are never notified", func(t *testing.T) {
		f := newFixture(t)
		e := newNotifyEndpoint(t, nil)
		f.withNotifications(t, e, nil)
		id := f.start(t, nil)
		f.decide(t, id, true)
		f.settle()
		if len(e.Calls()) != 0 {
			t.Fatal("a poll client was notified")
		}
	})
	t.Run("decide does not wait for the endpoint", func(t *testing.T) {
		f := newFixture(t)
		release := make(chan struct{})
		e := newNotifyEndpoint(t, func(int, http.ResponseWriter) { <-release })
		f.withNotifications(t, e, nil)
		id := f.startAs(t, "pinger", nil)
		f.decide(t, id, true) // returns while the endpoint still holds the ping
		if r := f.poll(t, "pinger", id); r.status != 200 {
			t.Fatalf("poll while the ping is in flight: %d %s", r.status, r.raw)
		}
		close(release)
		f.settle()
	})
	t.Run("closed provider sends nothing", func(t *testing.T) {
		f := newFixture(t)
		e := newNotifyEndpoint(t, nil)
		f.withNotifications(t, e, nil)
		id := f.startAs(t, "pinger", nil)
		f.p.Close()
		f.decide(t, id, true)
		f.settle()
		if len(e.Calls()) != 0 {
			t.Fatal("notified after Close")
		}
		if r := f.poll(t, "pinger", id); r.status != 200 {
			t.Fatalf("poll: %d %s", r.status, r.raw)
		}
	})
	t.Run("the default client trusts NotificationRoots", func(t *testing.T) {
		f := newFixture(t)
		e := newNotifyEndpoint(t, nil)
		f.withNotifications(t, e, nil)
		cfg := f.p.cfg
		cfg.NotificationClient = nil
		cfg.NotificationRoots = e.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
		p, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		f.p = p
		id := f.startAs(t, "pinger", nil)
		f.decide(t, id, true)
		f.settle()
		if req := f.request(t, id); len(e.Calls()) != 1 || req.NotifiedAt.IsZero() {
			t.Fatalf("%d calls, notified at %v", len(e.Calls()), req.NotifiedAt)
		}
	})
	t.Run("the default client refuses an unknown CA", func(t *testing.T) {
		f := newFixture(t)
		e := newNotifyEndpoint(t, nil)
		f.withNotifications(t, e, nil)
		cfg := f.p.cfg
		cfg.NotificationClient = nil
		p, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		f.p = p
		id := f.startAs(t, "pinger", nil)
		f.decide(t, id, true)
		f.settle()
		if req := f.request(t, id); len(e.Calls()) != 0 || req.NotifyAttempts != 1 || !req.NotifiedAt.IsZero() {
			t.Fatalf("%d calls reached the endpoint; recorded %+v", len(e.Calls()), req)
		}
	})
}

// pushBody decodes a push delivery.
func pushBody(t testing.TB, c notifyCall) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(c.body, &m); err != nil {
		t.Fatalf("push body %s: %v", c.body, err)
	}
	return m
}

// verifyJWT checks raw against the provider's JWKS and returns its claims
// and header.
func (f *fixture) verifyJWT(t testing.TB, raw string, algs ...string) (jwt.MapClaims, map[string]any) {
	t.Helper()
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		k, ok := f.p.keys.jwks.Lookup(kid)
		if !ok {
			return nil, errors.New("kid not in the JWKS")
		}
		if k.Alg != "" && k.Alg != tok.Method.Alg() {
			return nil, errors.New("the JWK is for another algorithm")
		}
		return k.PublicKey()
	}, jwt.WithValidMethods(algs), jwt.WithTimeFunc(f.clock.Now))
	if err != nil {
		t.Fatalf("token does not verify with the JWKS: %v", err)
	}
	return claims, tok.Header
}

// TestPush covers push mode (CIBA Core 1.0 §10.3, §10.3.1, §12).
func TestPush(t *testing.T) {
	t.Run("approval delivers tokens and consumes the request", func(t *testing.T) {
		for _, client := range []string{"pusher", "pushrt"} {
			t.Run(client, func(t *testing.T) {
				f := newFixture(t)
				e := newNotifyEndpoint(t, nil)
				f.withNotifications(t, e, nil)
				id := f.startAs(t, client, nil)
				f.decide(t, id, true)
				f.settle()
				calls := e.Calls()
				if len(calls) != 1 || calls[0].auth != "Bearer notify-"+client || calls[0].contentType != "application/json" {
					t.Fatalf("calls %+v", calls)
				}
				b := pushBody(t, calls[0])
				at, _ := b["access_token"].(string)
				rt, _ := b["refresh_token"].(string)
				if b["auth_req_id"] != id || b["token_type"] != "Bearer" || at == "" {
					t.Fatalf("push body %v", b)
				}
				alg := "RS256"
				if client == "pushrt" {
					alg = "ES256"
					if rt == "" {
						t.Fatal("no refresh token for a client registered for the refresh_token grant")
					}
				} else if rt != "" {
					t.Fatal("a refresh token for a client without the refresh_token grant")
				}
				idt, hdr := f.verifyJWT(t, b["id_token"].(string), alg)
				if hdr["alg"] != alg || hdr["kid"] == nil {
					t.Errorf("id token header %v", hdr)
				}
				if idt["at_hash"] != halfHash(alg, at) || idt[oauth.ClaimAuthReqID] != id {
					t.Errorf("id token claims %v: at_hash and auth_req_id are required in push (§10.3.1)", idt)
				}
				if rt != "" && idt[oauth.ClaimRTHash] != halfHash(alg, rt) {
					t.Errorf("rt_hash %v is wrong or missing", idt[oauth.ClaimRTHash])
				}
				if rt == "" && idt[oauth.ClaimRTHash] != nil {
					t.Errorf("rt_hash without a refresh token")
				}
				atc, _ := f.verifyJWT(t, at, "ES256")
				if cnf, _ := atc["cnf"].(map[string]any); cnf["x5t#S256"] != pki.ThumbprintS256(f.certs[client]) {
					t.Errorf("push access token cnf %v, want the certificate of the backchannel request", atc["cnf"])
				}
				req := f.request(t, id)
				if req.Status != store.StatusRedeemed || req.NotifiedAt.IsZero() || req.NotifyAttempts != 1 {
					t.Errorf("request after push: %s, notified %v, attempts %d", req.Status, req.NotifiedAt, req.NotifyAttempts)
				}
				// Push clients may not poll (CIBA Core 1.0 §10.3).
				wantError(t, f.poll(t, client, id), 400, oauth.ErrUnauthorizedClient)
			})
		}
	})
	t.Run("denial pushes access_denied", func(t *testing.T) {
		f := newFixture(t)
		e := newNotifyEndpoint(t, nil)
		f.withNotifications(t, e, nil)
		id := f.startAs(t, "pusher", nil)
		f.decide(t, id, false)
		f.settle()
		calls := e.Calls()
		if len(calls) != 1 {
			t.Fatalf("%d calls", len(calls))
		}
		b := pushBody(t, calls[0])
		if b["error"] != oauth.ErrAccessDenied || b["auth_req_id"] != id || b["access_token"] != nil {
			t.Fatalf("push error payload %v (§12)", b)
		}
		for k := range b {
			if k != "error" && k != "error_description" && k != "auth_req_id" {
				t.Errorf("extra member %q in the push error payload", k)
			}
		}
		if req := f.request(t, id); req.Status != store.StatusDenied {
			t.Errorf("status %s", req.Status)
		}
	})
	t.Run("5xx is retried with fresh tokens, the undelivered ones revoked", func(t *testing.T) {
		f := newFixture(t)
		e := newNotifyEndpoint(t, func(n int, w http.ResponseWriter) {
			if n == 0 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		f.withNotifications(t, e, nil)
		id := f.startAs(t, "pushrt", nil)
		f.decide(t, id, true)
		f.settle()
		calls := e.Calls()
		if len(calls) != 2 {
			t.Fatalf("%d calls, want 2", len(calls))
		}
		first, second := pushBody(t, calls[0]), pushBody(t, calls[1])
		if first["access_token"] == second["access_token"] || first["refresh_token"] == second["refresh_token"] {
			t.Fatal("the retry reused the tokens of the failed attempt")
		}
		ctx := context.Background()
		for i, b := range []map[string]any{first, second} {
			info, err := f.p.lookupToken(ctx, "pushrt", b["access_token"].(string))
			if err != nil {
				t.Fatal(err)
			}
			rtInfo, err := f.p.lookupToken(ctx, "pushrt", b["refresh_token"].(string))
			if err != nil {
				t.Fatal(err)
			}
			if want := i == 1; info.Active != want || rtInfo.Active != want {
				t.Errorf("attempt %d: access token active %v, refresh token active %v; want %v", i+1, info.Active, rtInfo.Active, want)
			}
		}
		if req := f.request(t, id); req.Status != store.StatusRedeemed || req.NotifyAttempts != 2 {
			t.Errorf("request %s after %d attempts", req.Status, req.NotifyAttempts)
		}
	})
	t.Run("4xx is final; the grant stays approved", func(t *testing.T) {
		f := newFixture(t)
		e := newNotifyEndpoint(t, status(http.StatusUnauthorized))
		f.withNotifications(t, e, nil)
		id := f.startAs(t, "pusher", nil)
		f.decide(t, id, true)
		f.settle()
		if n := len(e.Calls()); n != 1 {
			t.Fatalf("%d calls, want 1", n)
		}
		if req := f.request(t, id); req.Status != store.StatusApproved || !req.NotifiedAt.IsZero() {
			t.Errorf("request %s, notified %v", req.Status, req.NotifiedAt)
		}
	})
	t.Run("network errors are retried a bounded number of times", func(t *testing.T) {
		f := newFixture(t)
		ft := &faultTransport{}
		f.withNotifications(t, newNotifyEndpoint(t, nil), &http.Client{Transport: ft})
		id := f.startAs(t, "pusher", nil)
		f.decide(t, id, true)
		f.settle()
		if ft.count() != maxPushAttempts {
			t.Fatalf("%d attempts, want %d", ft.count(), maxPushAttempts)
		}
		if req := f.request(t, id); req.Status != store.StatusApproved || req.NotifyAttempts != maxPushAttempts {
			t.Errorf("request %s after %d attempts", req.Status, req.NotifyAttempts)
		}
	})
	t.Run("retries stop at expiry", func(t *testing.T) {
		f := newFixture(t)
		ft := &faultTransport{}
		ft.fn = func() { f.clock.Advance(time.Minute) } // each attempt takes a minute
		f.withNotifications(t, newNotifyEndpoint(t, nil), &http.Client{Transport: ft})
		id := f.startAs(t, "pusher", url.Values{"requested_expiry": {"150"}})
		f.decide(t, id, true)
		f.settle()
		if ft.count() != 3 {
			t.Fatalf("%d attempts in a 150 s lifetime of 60 s attempts, want 3", ft.count())
		}
	})
	t.Run("minting failure pushes transaction_failed", func(t *testing.T) {
		f := newFixture(t)
		e := newNotifyEndpoint(t, nil)
		f.withNotifications(t, e, nil)
		f.reg.clients["pushrt"].IDTokenSignedResponseAlg = "none"
		id := f.startAs(t, "pushrt", nil)
		f.decide(t, id, true)
		f.settle()
		calls := e.Calls()
		if len(calls) != 1 {
			t.Fatalf("%d calls", len(calls))
		}
		if b := pushBody(t, calls[0]); b["error"] != oauth.ErrTransactionFailed || b["auth_req_id"] != id {
			t.Fatalf("payload %v", b)
		}
	})
}

// blockingTransport hands each request's body to seen and holds the
// request until its context ends, like an endpoint that never answers.
type blockingTransport struct{ seen chan []byte }

func (bt *blockingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(r.Body)
	bt.seen <- body
	<-r.Context().Done()
	return nil, r.Context().Err()
}

// TestPushCleanupAfterClose: a push cut short by Close still records the
// attempt and revokes the tokens it minted, which nobody received.
func TestPushCleanupAfterClose(t *testing.T) {
	f := newFixture(t)
	bt := &blockingTransport{seen: make(chan []byte, 1)}
	f.withNotifications(t, newNotifyEndpoint(t, nil), &http.Client{Transport: bt})
	id := f.startAs(t, "pushrt", nil)
	f.decide(t, id, true)
	var b map[string]any
	if err := json.Unmarshal(<-bt.seen, &b); err != nil {
		t.Fatal(err)
	}
	f.p.Close()
	ctx := context.Background()
	for _, name := range []string{"access_token", "refresh_token"} {
		tok, _ := b[name].(string)
		info, err := f.p.lookupToken(ctx, "pushrt", tok)
		if err != nil || tok == "" || info.Active {
			t.Errorf("%s of the interrupted push: active %v, %v", name, info.Active, err)
		}
	}
	if req := f.request(t, id); req.Status != store.StatusApproved || req.NotifyAttempts != 1 {
		t.Errorf("request %s after %d recorded attempts, want approved after 1", req.Status, req.NotifyAttempts)
	}
}
