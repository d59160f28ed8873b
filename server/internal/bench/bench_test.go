package bench

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// These tests cover the bench's own arithmetic and parsing; they start no
// OP and measure nothing.

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     time.Duration
		wantErr  bool
	}{
		{"plain", "1234 (ciba-op) S 1 1234 1234 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 8 0 100 1000 100", 2 * time.Second, false},
		{"name with spaces and parens", "99 (node (x) y) R 1 2 3 4 5 6 7 8 9 10 7 3 0 0", 100 * time.Millisecond, false},
		{"no name", "99 node R", 0, true},
		{"short", "99 (node) R 1 2", 0, true},
		{"not a number", "1 (a) S 1 1 1 0 -1 0 0 0 0 0 x 1", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("parseStat = %v, %v; want %v (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParseVmRSS(t *testing.T) {
	got, err := parseVmRSS("Name:\tciba-op\nVmPeak:\t  9 kB\nVmRSS:\t   43912 kB\nThreads: 8\n")
	if err != nil || got != 43912*1024 {
		t.Fatalf("parseVmRSS = %d, %v", got, err)
	}
	for _, bad := range []string{"Name: x\n", "VmRSS: 12 MB\n", "VmRSS: x kB\n"} {
		if _, err := parseVmRSS(bad); err == nil {
			t.Errorf("parseVmRSS(%q): no error", bad)
		}
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0.1, time.Millisecond}} {
		if got := percentile(ds, tc.p); got != tc.want {
			t.Errorf("p%g = %v, want %v", tc.p, got, tc.want)
		}
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("percentile sorted its argument")
	}
	if percentile(nil, 50) != 0 {
		t.Error("percentile of nothing is not 0")
	}
}

func TestParseCounts(t *testing.T) {
	if got, err := parseCounts("20000, 100000"); err != nil || len(got) != 2 || got[1] != 100000 {
		t.Fatalf("parseCounts = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "10,5", "x", "2000000"} {
		if _, err := parseCounts(bad); err == nil {
			t.Errorf("parseCounts(%q): no error", bad)
		}
	}
}

func TestDecisionLog(t *testing.T) {
	d := newDecisionLog()
	at := time.Unix(100, 0)
	d.line(`{"type":"decision_sent","auth_req_id":"a"}`, at, "auth_req_id")
	if _, ok := d.take("a", 0); ok {
		t.Fatal("recorded while disabled")
	}
	d.enabled.Store(true)
	d.line(`{"type":"decision_sent","auth_req_id":"a"}`, at, "auth_req_id")
	d.line(`{"type":"decision_sent","auth_req_id":"b","unix_us":5000000}`, at, "auth_req_id")
	d.line(`{"type":"request","auth_req_id":"c"}`, at, "auth_req_id")
	if got, ok := d.take("a", 0); !ok || !got.Equal(at) {
		t.Errorf("a: %v %v, want the time the line was read", got, ok)
	}
	if got, ok := d.take("b", 0); !ok || !got.Equal(time.Unix(5, 0)) {
		t.Errorf("b: %v %v, want the sender's clock reading", got, ok)
	}
	if _, ok := d.take("c", 0); ok {
		t.Error("c is not a decision")
	}
	if _, ok := d.take("a", 0); ok {
		t.Error("a taken twice")
	}
}

// TestReport checks the table's shape and ratios on made-up figures.
func TestReport(t *testing.T) {
	s := settings{conns: 16, interval: time.Second, warmup: time.Second, window: 10 * time.Second, maxInFlight: 1000, latencyFlows: 3, pending: []int{20000, 100000}}
	m := machine{cpus: "2", model: "test CPU", goVersion: "go1.26", nodeVersion: "v20", providerVersion: "9.13.3", rsaSig: time.Millisecond}
	lat := latencyResult{notify: []time.Duration{time.Millisecond}, token: []time.Duration{time.Millisecond, 3 * time.Millisecond}}
	op := &results{name: "ciba-op", c16: flowResult{flows: 5000, perSecond: 500, cpu: 5 * time.Second, tokenReqs: 2, atBound: 0.9},
		c16RS:   flowResult{flows: 1000, perSecond: 100, cpu: time.Second},
		pending: pendingResult{rss0: 10 << 20, created: []int{20000, 100000}, rss: []int64{10<<20 + 20000*500, 10<<20 + 100000*500}, pollRate: 5000},
		ping:    lat, push: lat, tlsKeepAlive: "TLS 1.3"}
	other := &results{name: "oidc-provider", c16: flowResult{flows: 1000, perSecond: 100, cpu: 3 * time.Second}, pushNA: true,
		pending: pendingResult{pollRate: 500}, ping: lat}
	var buf bytes.Buffer
	printReport(&buf, m, s, []*results{op, other})
	out := strings.Join(strings.Fields(buf.String()), " ") // column widths vary
	for _, want := range []string{
		"flows/s, C=16 keep-alive, ES256 ID token 500.0 100.0 5.00× ≥ 5× yes",
		"OP CPU ms per flow (C=16, RS256) 1.00 n/a n/a ≤ 1.3 × RSA sig = 1.30 ms yes (1.0 sigs)",
		"token requests/s on pending requests, C=16 5000 500 10.00× ≥ 5× yes",
		"RSS bytes per pending request, 100000 pending 500 n/a n/a ≤ 1024 yes",
		"RSS MiB in total, 100000 pending 57.7 n/a n/a < 150 MB yes",
		"ping: decision sent → tokens received, ms p50 / p99 1.00 / 3.00 1.00 / 3.00 1.00× p99 ≤ 2 ms no",
		"push: decision sent → tokens received, ms p50 / p99 1.00 / 3.00 n/a n/a p99 ≤ 2 ms no",
		"machine: 2 CPUs, test CPU; Go 1.26, Node 20",
		"ciba-bench (full run): ciba-op against oidc-provider 9.13.3",
		"limited by the bench: ciba-op, C=16 keep-alive, ES256 had 1000 flows in flight during 90% of the window; raise -max-in-flight",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "limited by the bench"); n != 1 {
		t.Errorf("%d rows said to be limited by the bench, want 1:\n%s", n, out)
	}
}

// TestSampleUntil: the share of looks at which the condition held.
func TestSampleUntil(t *testing.T) {
	var looks atomic.Int64
	share := sampleUntil(context.Background(), time.Now().Add(200*time.Millisecond), func() bool { return looks.Add(1)%2 == 0 })
	if looks.Load() == 0 || share < 0.4 || share > 0.6 {
		t.Fatalf("share %v after %d looks, want about a half", share, looks.Load())
	}
	if got := sampleUntil(context.Background(), time.Now(), func() bool { return true }); got != 0 {
		t.Fatalf("no time to look: share %v, want 0", got)
	}
}

// TestReportLongPoll: a run with ciba-op's long polling says so.
func TestReportLongPoll(t *testing.T) {
	s := settings{conns: 16, interval: time.Second, window: time.Second, pending: []int{20000, 100000}, longPoll: 10 * time.Second}
	var buf bytes.Buffer
	printReport(&buf, machine{}, s, nil)
	if !strings.Contains(buf.String(), "ciba-op:   serve --long-poll 10s") {
		t.Fatalf("report does not say ciba-op held polls:\n%s", buf.String())
	}
	s.longPoll = 0
	buf.Reset()
	printReport(&buf, machine{}, s, nil)
	if strings.Contains(buf.String(), "long-poll") {
		t.Fatalf("report names long polling that was off:\n%s", buf.String())
	}
}

// TestReportPhases checks that a run of some phases says so.
func TestReportPhases(t *testing.T) {
	s := settings{conns: 16, interval: time.Second, window: time.Second, pending: []int{20000, 100000}, phases: map[string]bool{"pending": true}}
	var buf bytes.Buffer
	printReport(&buf, machine{}, s, []*results{{name: "ciba-op"}})
	if first, _, _ := strings.Cut(buf.String(), "\n"); !strings.Contains(first, "(full run, phases pending)") {
		t.Errorf("header = %q", first)
	}
}

func TestMainUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "EXIT CODES") {
		t.Fatalf("--help: exit %d\n%s%s", code, out.String(), errb.String())
	}
	for _, args := range [][]string{{"--bogus"}, {"--pending", "5,1"}, {"--only", "keycloak"}, {"--interval", "100ms"}, {"--phases", "flows,warp"}, {"--long-poll", "-1s"}, {"extra"}} {
		out.Reset()
		errb.Reset()
		if code := Main(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// TestNotifierWait: a waiter gets the notification recorded for its id
// (and only that one), once; without one it gives up at its timeout.
func TestNotifierWait(t *testing.T) {
	n := &notifier{got: map[string]notification{}, arrived: make(chan struct{})}
	record := func(id string) {
		r := httptest.NewRequest(http.MethodPost, "/cb", strings.NewReader(`{"auth_req_id":"`+id+`","access_token":"x"}`))
		w := httptest.NewRecorder()
		n.serve(w, r)
		if w.Code != http.StatusNoContent {
			t.Errorf("notification for %s answered %d", id, w.Code)
		}
	}
	done := make(chan notification, 1)
	go func() {
		got, err := n.wait(context.Background(), "b", 10*time.Second)
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	record("a")
	record("b")
	if got := <-done; !got.token || got.at.IsZero() {
		t.Fatalf("wait(b) = %+v, want b's push with a token", got)
	}
	if _, err := n.wait(context.Background(), "b", 50*time.Millisecond); err == nil {
		t.Fatal("a notification was returned twice")
	}
	if _, err := n.wait(context.Background(), "a", time.Second); err != nil {
		t.Fatalf("wait(a) after it arrived: %v", err)
	}
}
