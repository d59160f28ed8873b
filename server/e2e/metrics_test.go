package e2e

import (
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var metricsRE = regexp.MustCompile(`(?m)^metrics http://(\S+)/metrics$`)

// scrape fetches url and returns its status and body.
func scrape(t *testing.T, url string) (int, string) {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// sample returns the value of the metric family name's sample whose
// labels include want, as a counter, gauge or histogram count; ok is
// false when there is none.
func sample(families map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := families[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// TestMetricsAfterOneApproveFlow: with --metrics-addr, one approve flow of
// the real programs shows on /metrics as one token issued, one decision
// latency observation and one approve to token observation; /healthz and
// /readyz answer 200 while the OP runs.
func TestMetricsAfterOneApproveFlow(t *testing.T) {
	o := startOP(t, "--metrics-addr", "127.0.0.1:0")
	addr := metricsRE.FindStringSubmatch(o.stdout.String())
	if addr == nil {
		t.Fatalf("serve did not print the metrics address:\n%s", o.stdout)
	}
	base := "http://" + addr[1]
	for _, path := range []string{"/healthz", "/readyz"} {
		if status, body := scrape(t, base+path); status != http.StatusOK {
			t.Fatalf("%s: %d %s", path, status, body)
		}
	}

	o.authenticator(t, "user", "password", "--auto", "approve")
	if res := o.client(t, "--binding-message", "E2E metrics"); res.code != 0 {
		t.Fatalf("ciba-client exit %d:\n%s\n%s", res.code, res.stdout, res.stderr)
	}

	status, body := scrape(t, base+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d %s", status, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics is not the Prometheus text format: %v\n%s", err, body)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"cibalab_tokens_issued_total", map[string]string{"grant": "ciba", "via": "token_endpoint"}, 1},
		{"cibalab_decision_latency_seconds", map[string]string{"decision": "approved"}, 1},
		{"cibalab_approve_to_token_seconds", map[string]string{"via": "poll"}, 1},
		{"cibalab_http_requests_total", map[string]string{"endpoint": "bc-authorize", "outcome": "ok"}, 1},
		{"cibalab_http_requests_total", map[string]string{"endpoint": "token", "outcome": "ok"}, 1},
		{"cibalab_authreq_transitions_total", map[string]string{"event": "authreq.created"}, 1},
		{"cibalab_authreq_transitions_total", map[string]string{"event": "authreq.redeemed"}, 1},
		{"cibalab_devices_connected", nil, 1},
		{"cibalab_nats_connected", nil, 1},
	} {
		got, ok := sample(families, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if got, ok := sample(families, "cibalab_store_operations_total", map[string]string{"operation": "create"}); !ok || got != 1 {
		t.Errorf("store creates = %v (present %v), want 1", got, ok)
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

// TestMetricsAddrMustBeLoopback: a non-loopback --metrics-addr is refused
// with one line and the usage exit code, unless --metrics-allow-remote.
func TestMetricsAddrMustBeLoopback(t *testing.T) {
	cmd := exec.Command(bin("ciba-op"), "serve", "--state-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--nats-addr", "127.0.0.1:0",
		"--metrics-addr", "0.0.0.0:0")
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(lines[0], "not a loopback address") || !strings.Contains(lines[0], "--metrics-allow-remote") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}
