package bench

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// notifier is the client's notification endpoint (CIBA Core 1.0 §10.2,
// §10.3) on loopback, recording when each notification arrived.
type notifier struct {
	srv *http.Server
	url string
	mu  sync.Mutex
	got map[string]notification // by auth_req_id
	// arrived is closed, and replaced, when a notification arrives: wait
	// wakes at once rather than at its next look (a sleep shorter than a
	// millisecond can take one, and the latency rows would measure it).
	arrived chan struct{}
}

type notification struct {
	at    time.Time
	token bool // a push carrying an access token
}

// startNotifier listens on 127.0.0.1 with cert, which the OPs trust.
func startNotifier(cert tls.Certificate) (*notifier, error) {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, err
	}
	n := &notifier{got: map[string]notification{}, arrived: make(chan struct{}), url: "https://" + ln.Addr().String() + "/cb"}
	n.srv = &http.Server{Handler: http.HandlerFunc(n.serve), ReadHeaderTimeout: 5 * time.Second}
	go n.srv.Serve(ln)
	return n, nil
}

func (n *notifier) serve(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&body)
	at := time.Now()
	if err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	id, _ := body["auth_req_id"].(string)
	_, tok := body["access_token"].(string)
	n.mu.Lock()
	n.got[id] = notification{at: at, token: tok}
	close(n.arrived)
	n.arrived = make(chan struct{})
	n.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// wait returns and forgets the notification for id, waiting up to timeout.
func (n *notifier) wait(ctx context.Context, id string, timeout time.Duration) (notification, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		n.mu.Lock()
		got, ok := n.got[id]
		delete(n.got, id)
		arrived := n.arrived
		n.mu.Unlock()
		if ok {
			return got, nil
		}
		select {
		case <-arrived:
		case <-t.C:
			return got, errors.New("no notification")
		case <-ctx.Done():
			return got, errors.New("no notification")
		}
	}
}

func (n *notifier) close() { n.srv.Close() }

// latencyResult are approve→notification and approve→token latencies.
type latencyResult struct {
	notify []time.Duration // decision sent → notification received
	token  []time.Duration // decision sent → tokens received
	errors int
	first  string
}

// runLatency runs count flows (after 3 uncounted ones) one after the other for clientID (ping or
// push) and measures, for each, the time from the moment the deciding
// process said it sent the decision to the notification's arrival, and to
// the tokens' (after the ping, one token request). Bounded by count and
// limit.
func runLatency(ctx context.Context, t *target, n *notifier, clientID string, push bool, count int, limit time.Duration) latencyResult {
	var res latencyResult
	fail := func(format string, args ...any) {
		res.errors++
		if res.first == "" {
			res.first = fmt.Sprintf(format, args...)
		}
	}
	hc := newClient(t.tlsConfig(clientID), 1, false)
	defer hc.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	t.decisions.enabled.Store(true)
	defer t.decisions.enabled.Store(false)
	// The first flows open the connections (the client's, the OP's to the
	// notification endpoint) and are not counted.
	const warmup = 3
	for i := range count + warmup {
		if ctx.Err() != nil {
			break
		}
		if i == warmup {
			res = latencyResult{}
		}
		form := startForm(clientID, userLat, "")
		form.Set("client_notification_token", randomToken())
		a, err := postForm(ctx, hc, t.bcURL, form)
		if err != nil || a.status != http.StatusOK {
			fail("bc-authorize: %d %v %v", a.status, a.body, err)
			continue
		}
		id := a.str("auth_req_id")
		var decided time.Time
		if t.approve != nil {
			decided = time.Now()
			if err := t.approve(ctx, id); err != nil {
				fail("approve: %v", err)
				continue
			}
		}
		got, err := n.wait(ctx, id, 10*time.Second)
		if err != nil {
			fail("%s: %v", clientID, err)
			continue
		}
		tokenAt := got.at
		if !push {
			a, err := postForm(ctx, hc, t.tokenURL, tokenForm(clientID, id))
			if err != nil || a.str("access_token") == "" {
				fail("token after ping: %d %v %v", a.status, a.body, err)
				continue
			}
			tokenAt = time.Now()
		} else if !got.token {
			fail("push without tokens")
			continue
		}
		if t.approve == nil {
			var ok bool
			if decided, ok = t.decisions.take(t.decisionKey(id), 2*time.Second); !ok {
				fail("no decision_sent event for a request")
				continue
			}
		}
		res.notify = append(res.notify, got.at.Sub(decided))
		res.token = append(res.token, tokenAt.Sub(decided))
	}
	return res
}

func randomToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// percentile is the p-th percentile (0 < p ≤ 100) of ds by the
// nearest-rank method; 0 for none.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(p/100*float64(len(s)) + 0.999999)
	rank = max(1, min(rank, len(s)))
	return s[rank-1]
}
