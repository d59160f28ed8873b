package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/server/op"
	"github.com/cibalab/cibalab/server/store"
)

// namespace prefixes every metric name.
const namespace = "cibalab"

// Config configures Metrics. Zero values are the documented defaults.
type Config struct {
	// NATS is the OP's own NATS connection, reported as
	// cibalab_nats_connected and cibalab_nats_reconnects_total; nil
	// reports neither.
	NATS *nats.Conn
	// Devices counts the authentication devices connected to NATS,
	// reported as cibalab_devices_connected; nil reports nothing (an
	// external NATS server, whose connections the OP does not see).
	Devices func() int
	// Checks are what /readyz asks; each must answer within
	// CheckTimeout.
	Checks []Check
	// CheckTimeout bounds each readiness check; 0 means 2 s.
	CheckTimeout time.Duration
	// Now is the clock of the pending count (expired requests are not
	// pending); nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Check is one readiness condition: Check returns nil when Name is ready.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// Metrics collects the OP's metrics into a registry of its own. Create it
// with New; it is safe for concurrent use.
type Metrics struct {
	cfg Config
	reg *prometheus.Registry
	log *slog.Logger

	requests       *prometheus.CounterVec   // endpoint, outcome
	requestSeconds *prometheus.HistogramVec // endpoint
	tokens         *prometheus.CounterVec   // grant, via
	transitions    *prometheus.CounterVec   // event
	decision       *prometheus.HistogramVec // decision
	approveToToken *prometheus.HistogramVec // via
	notified       *prometheus.CounterVec   // mode, kind
	notifyFailed   *prometheus.CounterVec   // mode, kind
	storeOps       *prometheus.CounterVec   // operation
	storeErrors    *prometheus.CounterVec   // operation

	// pending counts the pending requests of the store wrapped by Store.
	pending *pendingCollector
}

// New returns Metrics with every metric registered, plus the Go runtime
// and process collectors.
func New(cfg Config) *Metrics {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CheckTimeout <= 0 {
		cfg.CheckTimeout = 2 * time.Second
	}
	m := &Metrics{cfg: cfg, reg: prometheus.NewRegistry(), log: cfg.Logger}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "http_requests_total",
		Help: "HTTP requests answered, by endpoint and outcome: ok, the OAuth error code (RFC 6749 §5.2, CIBA Core 1.0 §11, §13), or status_NNN for an error without one."},
		[]string{"endpoint", "outcome"})
	m.requestSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by endpoint.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}},
		[]string{"endpoint"})
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "tokens_issued_total",
		Help: "Token responses issued, by grant (ciba, refresh_token) and how they reached the client: token_endpoint (poll and ping, CIBA Core 1.0 §10.1) or push (§10.3.1)."},
		[]string{"grant", "via"})
	m.transitions = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "authreq_transitions_total",
		Help: "Transitions of authentication requests, by event (authreq.created, authreq.approved, authreq.polled, ...)."},
		[]string{"event"})
	m.decision = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "decision_latency_seconds",
		Help:    "Time from a request's acceptance at bc-authorize (CIBA Core 1.0 §7.3) to the user's decision on a device (§8), by decision.",
		Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600}},
		[]string{"decision"})
	m.approveToToken = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "approve_to_token_seconds",
		Help:    "Time from a request's approval to the issue of its tokens, by delivery: poll (token endpoint, poll and ping clients) or push.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}},
		[]string{"via"})
	m.notified = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "notifications_delivered_total",
		Help: "Calls to client notification endpoints the client acknowledged (200 or 204), by mode (ping, push) and kind (ping, tokens, error); CIBA Core 1.0 §10.2, §10.3, §12."},
		[]string{"mode", "kind"})
	m.notifyFailed = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "notifications_failed_total",
		Help: "Calls to client notification endpoints that failed (no answer, or a status other than 200 and 204), by mode and kind."},
		[]string{"mode", "kind"})
	m.storeOps = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "store_operations_total",
		Help: "Operations on the request store, by operation."},
		[]string{"operation"})
	m.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "store_errors_total",
		Help: "Operations on the request store that failed, by operation (not found, already exists and refused updates are outcomes, not errors)."},
		[]string{"operation"})
	m.pending = &pendingCollector{m: m, desc: prometheus.NewDesc(namespace+"_auth_requests_pending",
		"Authentication requests pending (undecided and unexpired), by client.", []string{"client_id"}, nil)}
	m.reg.MustRegister(m.requests, m.requestSeconds, m.tokens, m.transitions, m.decision, m.approveToToken,
		m.notified, m.notifyFailed, m.storeOps, m.storeErrors, m.pending,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if nc := cfg.NATS; nc != nil {
		m.reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "nats_connected",
				Help: "1 while the OP's NATS connection is connected, else 0."},
				func() float64 { return boolValue(nc.IsConnected()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: namespace, Name: "nats_reconnects_total",
				Help: "Reconnections of the OP's NATS connection."},
				func() float64 { return float64(nc.Stats().Reconnects) }))
	}
	if cfg.Devices != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "devices_connected",
			Help: "Authentication devices connected to the embedded NATS server."},
			func() float64 { return float64(cfg.Devices()) }))
	}
	return m
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Registry returns the registry the metrics are in.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves /metrics (the Prometheus text format), /healthz (200
// while the process answers) and /readyz (200 when every Check passes,
// else 503 naming those that failed).
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog: slogPrinter{m.log}, Registry: m.reg, Timeout: 10 * time.Second,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeText(w, http.StatusOK, "ok\n")
	})
	mux.HandleFunc("GET /readyz", m.serveReady)
	return mux
}

// serveReady runs every check, each bounded by CheckTimeout, and answers
// one line per check.
func (m *Metrics) serveReady(w http.ResponseWriter, r *http.Request) {
	status, body := http.StatusOK, ""
	for _, c := range m.cfg.Checks {
		ctx, cancel := context.WithTimeout(r.Context(), m.cfg.CheckTimeout)
		err := c.Check(ctx)
		cancel()
		if err != nil {
			status = http.StatusServiceUnavailable
			body += c.Name + ": " + err.Error() + "\n"
			m.log.Warn("metrics.not_ready", "check", c.Name, "err", err.Error())
			continue
		}
		body += c.Name + ": ok\n"
	}
	writeText(w, status, body)
}

func writeText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write([]byte(body))
}

// slogPrinter sends promhttp's errors to the logger.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Println(v ...any) {
	p.l.Error("metrics.scrape_failed", "err", strings.TrimSpace(fmt.Sprintln(v...)))
}

// outcome is the outcome label of an exchange.
func outcome(x op.Exchange) string {
	switch {
	case x.Error != "":
		return x.Error
	case x.Status >= 400:
		return "status_" + strconv.Itoa(x.Status)
	}
	return "ok"
}

// grantLabel shortens a grant_type for the grant label.
func grantLabel(grantType string) string {
	switch grantType {
	case "urn:openid:params:grant-type:ciba":
		return "ciba"
	case "refresh_token":
		return "refresh_token"
	}
	return "other"
}

// Exchange counts an exchange and its duration, and a token response
// (op.Observer).
func (m *Metrics) Exchange(_ context.Context, x op.Exchange) {
	m.requests.WithLabelValues(x.Endpoint, outcome(x)).Inc()
	m.requestSeconds.WithLabelValues(x.Endpoint).Observe(x.Duration.Seconds())
	if x.Endpoint == op.EndpointToken && x.Error == "" && x.Status == http.StatusOK {
		m.tokens.WithLabelValues(grantLabel(x.GrantType), "token_endpoint").Inc()
	}
}

// Notification counts a delivery attempt, and the tokens a delivered push
// carried (op.Observer).
func (m *Metrics) Notification(_ context.Context, n op.Notification) {
	if n.Err != nil {
		m.notifyFailed.WithLabelValues(n.Mode, n.Kind).Inc()
		return
	}
	m.notified.WithLabelValues(n.Mode, n.Kind).Inc()
	if n.Kind == op.KindTokens {
		m.tokens.WithLabelValues("ciba", "push").Inc()
	}
}

// Transition counts a transition and observes the decision and approve to
// token latencies (authreq.Sink).
func (m *Metrics) Transition(_ context.Context, e authreq.Event) {
	m.transitions.WithLabelValues(string(e.Type)).Inc()
	r := e.Request
	switch e.Type {
	case authreq.EventApproved, authreq.EventDenied:
		decision := "approved"
		if e.Type == authreq.EventDenied {
			decision = "denied"
		}
		if !r.CreatedAt.IsZero() {
			m.decision.WithLabelValues(decision).Observe(nonNegative(e.Time.Sub(r.CreatedAt)))
		}
	case authreq.EventRedeemed:
		if !r.DecidedAt.IsZero() {
			via := "poll"
			if e.Detail == "push" {
				via = "push"
			}
			m.approveToToken.WithLabelValues(via).Observe(nonNegative(e.Time.Sub(r.DecidedAt)))
		}
	}
}

func nonNegative(d time.Duration) float64 {
	return max(d, 0).Seconds()
}

// pendingCollector reports cibalab_auth_requests_pending from the store
// when scraped, so that the count is right whatever happened meanwhile
// (expiry, a restart with a persistent store, another OP sharing it).
type pendingCollector struct {
	m    *Metrics
	desc *prometheus.Desc
	// store is the unwrapped store (see Metrics.Store); nil reports
	// nothing.
	store store.Store
}

func (c *pendingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *pendingCollector) Collect(ch chan<- prometheus.Metric) {
	if c.store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.m.cfg.CheckTimeout)
	defer cancel()
	reqs, err := c.store.List(ctx, "", store.StatusPending)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	now := c.m.cfg.Now()
	byClient := map[string]int{}
	for _, r := range reqs {
		if !r.Expired(now) {
			byClient[r.ClientID]++
		}
	}
	for client, n := range byClient {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), client)
	}
}
