package op

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// logBuffer collects a provider's log lines; safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the lines containing every one of parts.
func (l *logBuffer) lines(parts ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
next:
	for _, line := range strings.Split(l.b.String(), "\n") {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue next
			}
		}
		out = append(out, line)
	}
	return out
}

func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// withLog rebuilds the fixture's provider with its log in a buffer; hc is
// the notification client (nil: the default client with roots).
func (f *fixture) withLog(t testing.TB, hc *http.Client) *logBuffer {
	t.Helper()
	buf := &logBuffer{}
	cfg := f.p.cfg
	cfg.NotificationClient = hc
	cfg.Logger = slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.notifier.backoff = func(int) time.Duration { return 0 }
	t.Cleanup(func() { p.Close() })
	f.p = p
	return buf
}

// TestNotificationFailuresAreLoggedWithTheirReason: a ping or push that
// does not reach the client is logged at WARN with a reason an operator
// can act on, and a 4xx answer is final (CIBA Core 1.0 §10.2, §10.3;
// checklist §4.2: no retry after a 401).
func TestNotificationFailuresAreLoggedWithTheirReason(t *testing.T) {
	tests := []struct {
		name    string
		client  string
		approve bool
		answer  func(int, http.ResponseWriter)
		trusted bool
		calls   int
		want    []string
	}{
		{"ping to an untrusted certificate", "pinger", true, nil, false, 0,
			[]string{"level=WARN", "msg=notify.failed", "mode=ping", `then="the client can still poll"`, "certificate signed by unknown authority", "does not trust the notification endpoint's certificate"}},
		{"push to an untrusted certificate", "pusher", true, nil, false, 0,
			[]string{"level=WARN", "msg=notify.failed", "mode=push", `then="not retried"`, "does not trust the notification endpoint's certificate"}},
		{"pushed denial refused with 401", "pusher", false, status(http.StatusUnauthorized), true, 1,
			[]string{"level=WARN", "msg=notify.failed", "mode=push", `then="not retried"`, "status=401", "no longer waits for this request"}},
		{"pushed tokens refused with 400", "pusher", true, status(http.StatusBadRequest), true, 1,
			[]string{"level=WARN", "msg=notify.failed", "mode=push", `then="not retried"`, "status=400", "not sent again"}},
		{"ping refused with 401", "pinger", true, status(http.StatusUnauthorized), true, 1,
			[]string{"level=WARN", "msg=notify.failed", "mode=ping", `then="the client can still poll"`, "status=401"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			e := newNotifyEndpoint(t, tt.answer)
			f.withNotifications(t, e, nil)
			var hc *http.Client
			if tt.trusted {
				hc = e.srv.Client()
			}
			logs := f.withLog(t, hc)
			id := f.startAs(t, tt.client, nil)
			f.decide(t, id, tt.approve)
			f.settle()
			if n := len(e.Calls()); n != tt.calls {
				t.Errorf("%d calls reached the endpoint, want %d", n, tt.calls)
			}
			if got := logs.lines(tt.want...); len(got) != 1 {
				t.Errorf("want one log line with %q, got:\n%s", tt.want, logs)
			}
			if got := logs.lines("then=retried"); len(got) != 0 && tt.trusted {
				t.Errorf("a 4xx was retried:\n%s", logs)
			}
		})
	}
}
