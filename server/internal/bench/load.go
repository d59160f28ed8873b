package bench

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cibalab/cibalab/shared/oauth"
)

// newClient is the load generator's HTTP client: HTTP/1.1 over mutual TLS,
// a keep-alive pool of conns connections, or a new connection (a full
// handshake) for every request when fresh is set.
func newClient(cfg *tls.Config, conns int, fresh bool) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:     cfg,
			TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1 only
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			DisableKeepAlives:   fresh,
			IdleConnTimeout:     30 * time.Second,
		},
	}
}

func getJSON(ctx context.Context, hc *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

// answer is what the generator reads of an OP's answer.
type answer struct {
	status int
	body   map[string]any
	tls    *tls.ConnectionState
}

func (a answer) str(k string) string { s, _ := a.body[k].(string); return s }

func postForm(ctx context.Context, hc *http.Client, u string, form url.Values) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, tls: resp.TLS}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&a.body); err != nil {
		return a, fmt.Errorf("HTTP %d, body is not JSON: %w", resp.StatusCode, err)
	}
	return a, nil
}

// startForm is a backchannel authentication request of clientID for user.
func startForm(clientID, user, expiry string) url.Values {
	f := url.Values{"client_id": {clientID}, "scope": {"openid"}, "login_hint": {user}, "binding_message": {"bench"}}
	if expiry != "" {
		f.Set("requested_expiry", expiry)
	}
	return f
}

func tokenForm(clientID, id string) url.Values {
	return url.Values{"client_id": {clientID}, "grant_type": {oauth.GrantTypeCIBA}, "auth_req_id": {id}}
}

// flowOpts are the settings of one flows measurement.
type flowOpts struct {
	client string
	conns  int  // C: requests in flight, and the keep-alive pool
	fresh  bool // a new mutual-TLS connection per request
	// maxInFlight bounds the flows started and not finished; a flow
	// waiting for its next poll holds no connection.
	maxInFlight int
	warmup      time.Duration
	window      time.Duration
	maxFlows    int // bound on the flows started
}

// flowResult is what one flows measurement found.
type flowResult struct {
	flows     int           // flows finished (tokens received) inside the window
	perSecond float64       // flows / window
	tokenReqs float64       // token requests per finished flow
	cpu       time.Duration // OP CPU time inside the window
	unexpected
	slowDown  int // slow_down answers, anywhere
	tls       string
	started   int // flows started, warm-up and window
	abandoned int // flows without tokens when the measurement ended
	// atBound is the share of the window during which maxInFlight flows
	// were in flight, so that no new one could start: near 1, the figure
	// is the bound divided by the flow's duration, not the OP's limit.
	atBound float64
}

// flow is one CIBA flow in poll mode.
type flow struct {
	id       string
	interval time.Duration
	polls    int
}

// runFlows runs CIBA flows (bc-authorize for "user", whose device approves
// at once; a token request at once after the acknowledgement, then one
// each interval until tokens) with conns requests in flight, and measures
// the flows finished and the OP's CPU time inside the window that follows
// the warm-up. It starts no flow after the window, waits at most 3
// intervals plus 10 s for the last ones and then abandons them.
func runFlows(ctx context.Context, t *target, o flowOpts) (flowResult, error) {
	hc := newClient(t.tlsConfig(o.client), o.conns, o.fresh)
	defer hc.CloseIdleConnections()
	begin := time.Now()
	from, to := begin.Add(o.warmup), begin.Add(o.warmup+o.window)
	hardStop := to.Add(3*t.interval + 10*time.Second)
	ctx, cancel := context.WithDeadline(ctx, hardStop)
	defer cancel()

	var (
		res       flowResult
		mu        sync.Mutex
		pollSum   int
		started   atomic.Int64
		inFlight  atomic.Int64
		ready     = make(chan *flow, o.maxInFlight)
		slots     = make(chan struct{}, o.maxInFlight)
		tlsOnce   sync.Once
		stopStart atomic.Bool
	)
	fail := res.failer()
	release := func() { <-slots; inFlight.Add(-1) }
	start := func() {
		inFlight.Add(1)
		started.Add(1)
		a, err := postForm(ctx, hc, t.bcURL, startForm(o.client, userApprove, "30"))
		if err != nil || a.status != http.StatusOK || a.str("auth_req_id") == "" {
			if ctx.Err() == nil {
				fail("bc-authorize: %d %v %v", a.status, a.body, err)
			}
			release()
			return
		}
		tlsOnce.Do(func() { res.tls = describeTLS(a.tls) })
		f := &flow{id: a.str("auth_req_id"), interval: t.interval}
		if n, ok := a.body["interval"].(float64); ok && n > 0 {
			f.interval = time.Duration(n) * time.Second
		}
		ready <- f // the first token request at once (CIBA Core 1.0 §7.3)
	}
	poll := func(f *flow) {
		a, err := postForm(ctx, hc, t.tokenURL, tokenForm(o.client, f.id))
		f.polls++
		switch {
		case err != nil:
			if ctx.Err() == nil {
				fail("token: %v", err)
			}
		case a.status == http.StatusOK && a.str("access_token") != "":
			if now := time.Now(); !now.Before(from) && !now.After(to) {
				mu.Lock()
				res.flows++
				pollSum += f.polls
				mu.Unlock()
			}
		case a.str("error") == oauth.ErrAuthorizationPending || a.str("error") == oauth.ErrSlowDown:
			if a.str("error") == oauth.ErrSlowDown {
				mu.Lock()
				res.slowDown++
				mu.Unlock()
				f.interval += oauth.SlowDownIncrement * time.Second
			}
			time.AfterFunc(f.interval, func() { ready <- f })
			return
		default:
			fail("token: %d %v", a.status, a.body)
		}
		release()
	}
	var wg sync.WaitGroup
	for range o.conns {
		wg.Go(func() {
			for ctx.Err() == nil {
				select { // polls first: they finish flows
				case f := <-ready:
					poll(f)
					continue
				default:
				}
				if stopStart.Load() || started.Load() >= int64(o.maxFlows) {
					if inFlight.Load() == 0 {
						return
					}
					select {
					case f := <-ready:
						poll(f)
					case <-time.After(20 * time.Millisecond):
					case <-ctx.Done():
					}
					continue
				}
				select {
				case f := <-ready:
					poll(f)
				case slots <- struct{}{}:
					start()
				case <-ctx.Done():
				}
			}
		})
	}
	var cpu0, cpu1 time.Duration
	var cpuErr error
	sleepUntil(ctx, from)
	cpu0, cpuErr = cpuTime(t.pid)
	res.atBound = sampleUntil(ctx, to, func() bool { return inFlight.Load() >= int64(o.maxInFlight) })
	cpu1, err := cpuTime(t.pid)
	stopStart.Store(true)
	wg.Wait()
	if err := errors.Join(cpuErr, err, ctxErrBeforeStop(ctx, to)); err != nil {
		return res, err
	}
	res.cpu = cpu1 - cpu0
	res.started, res.abandoned = int(started.Load()), int(inFlight.Load())
	res.perSecond = float64(res.flows) / o.window.Seconds()
	if res.flows > 0 {
		res.tokenReqs = float64(pollSum) / float64(res.flows)
	}
	return res, nil
}

// ctxErrBeforeStop is ctx's error when it ended before the window did (an
// interrupt), nil otherwise.
func ctxErrBeforeStop(ctx context.Context, to time.Time) error {
	if err := context.Cause(ctx); err != nil && time.Now().Before(to) {
		return err
	}
	return nil
}

// sampleUntil looks at cond every 10 ms until t (or ctx's end) and
// returns the share of looks that found it true.
func sampleUntil(ctx context.Context, t time.Time, cond func() bool) float64 {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	end := time.NewTimer(time.Until(t))
	defer end.Stop()
	var looks, held int
	for {
		select {
		case <-tick.C:
			looks++
			if cond() {
				held++
			}
			continue
		case <-end.C:
		case <-ctx.Done():
		}
		if looks == 0 {
			return 0
		}
		return float64(held) / float64(looks)
	}
}

func sleepUntil(ctx context.Context, t time.Time) {
	select {
	case <-time.After(time.Until(t)):
	case <-ctx.Done():
	}
}

func describeTLS(cs *tls.ConnectionState) string {
	if cs == nil {
		return "no TLS"
	}
	return fmt.Sprintf("%s %s %s", tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite), cs.CurveID)
}

// pendingResult is what the pending-requests phase found.
type pendingResult struct {
	created  []int   // requests pending at each RSS sample
	rss      []int64 // RSS after creating created[i] requests
	rss0     int64   // RSS before
	pollRate float64 // token requests/s on pending requests
	pollCPU  float64 // OP CPU µs per token request on a pending request
	polled   int
	unexpected
}

// unexpected counts the unexpected answers of a measurement and keeps the
// first one's description.
type unexpected struct {
	errors   int
	firstErr string
}

// failer returns the function that records an unexpected answer in u,
// safe for the measurement's goroutines.
func (u *unexpected) failer() func(format string, args ...any) {
	var mu sync.Mutex
	return func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		u.errors++
		if u.firstErr == "" {
			u.firstErr = fmt.Sprintf(format, args...)
		}
	}
}

// runPending creates requests for "idle", whose device never answers,
// sampling the OP's RSS at each count of counts; after the first count it
// polls each request once (the first poll may come at once, so every
// answer is authorization_pending) and measures the rate. Each step is
// bounded by its count and by limit.
func runPending(ctx context.Context, t *target, conns int, counts []int, limit time.Duration) (pendingResult, error) {
	var res pendingResult
	hc := newClient(t.tlsConfig(clientES), conns, false)
	defer hc.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var err error
	if res.rss0, err = settledRSS(ctx, t.pid); err != nil {
		return res, err
	}
	fail := res.failer()
	var mu sync.Mutex // guards got
	var ids []string
	for i, n := range counts {
		todo := n - len(ids)
		var next atomic.Int64
		var got []string
		parallel(conns, func() {
			for next.Add(1) <= int64(todo) && ctx.Err() == nil {
				a, err := postForm(ctx, hc, t.bcURL, startForm(clientES, userIdle, "600"))
				if err != nil || a.status != http.StatusOK {
					fail("bc-authorize: %d %v %v", a.status, a.body, err)
					continue
				}
				mu.Lock()
				got = append(got, a.str("auth_req_id"))
				mu.Unlock()
			}
		})
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("creating %d pending requests: %w", n, err)
		}
		ids = append(ids, got...)
		r, err := settledRSS(ctx, t.pid)
		if err != nil {
			return res, err
		}
		res.created, res.rss = append(res.created, len(ids)), append(res.rss, r)
		if i == 0 {
			if err := pollAll(ctx, t, hc, conns, ids, &res, fail); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// pollAll sends one token request for each of ids.
func pollAll(ctx context.Context, t *target, hc *http.Client, conns int, ids []string, res *pendingResult, fail func(string, ...any)) error {
	var next atomic.Int64
	var polled atomic.Int64
	cpu0, err := cpuTime(t.pid)
	if err != nil {
		return err
	}
	begin := time.Now()
	parallel(conns, func() {
		for ctx.Err() == nil {
			i := next.Add(1) - 1
			if i >= int64(len(ids)) {
				return
			}
			a, err := postForm(ctx, hc, t.tokenURL, tokenForm(clientES, ids[i]))
			if err != nil || a.str("error") != oauth.ErrAuthorizationPending {
				fail("token on a pending request: %d %v %v", a.status, a.body, err)
				continue
			}
			polled.Add(1)
		}
	})
	elapsed := time.Since(begin)
	cpu1, err := cpuTime(t.pid)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("polling pending requests: %w", err)
	}
	res.polled = int(polled.Load())
	res.pollRate = float64(res.polled) / elapsed.Seconds()
	if res.polled > 0 {
		res.pollCPU = float64((cpu1 - cpu0).Microseconds()) / float64(res.polled)
	}
	return nil
}

// settledRSS reads RSS after a short pause, so that the requests just
// answered are no longer in flight.
func settledRSS(ctx context.Context, pid int) (int64, error) {
	sleepUntil(ctx, time.Now().Add(time.Second))
	return rss(pid)
}

func parallel(n int, f func()) {
	var wg sync.WaitGroup
	for range n {
		wg.Go(f)
	}
	wg.Wait()
}
