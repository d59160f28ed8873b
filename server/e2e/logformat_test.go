package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/cibalab/cibalab/shared/logfmt"
)

// jsonLogs parses the lines of out that are JSON objects (all of them when
// all is set: a stream of nothing but logs), failing on a line that is
// not JSON or whose msg is not an event name.
func jsonLogs(t *testing.T, who, out string, all bool) []map[string]any {
	t.Helper()
	var logs []map[string]any
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l == "" || (!all && !strings.HasPrefix(l, "{")) {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%s: log line is not JSON: %v: %s", who, err, l)
		}
		if msg, _ := m["msg"].(string); !logfmt.ValidEvent(msg) {
			t.Fatalf("%s: msg %q is not an event name: %s", who, msg, l)
		}
		logs = append(logs, m)
	}
	return logs
}

// events returns the lines of logs named msg.
func events(logs []map[string]any, msg string) []map[string]any {
	var out []map[string]any
	for _, l := range logs {
		if l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

// TestJSONLogsOfOneFlow: with --log-format json the three programs log
// JSON Lines whose msg is an event name; one approve flow with a poll
// before the decision logs each of its OP events once with the request's
// reference, the polls at debug level.
func TestJSONLogsOfOneFlow(t *testing.T) {
	o := startOP(t, "--log-format", "json", "--log-level", "debug")
	auth := o.authenticator(t, "user", "password", "--auto", "approve", "--delay", "2500ms", "--log-format", "json", "--log-level", "info")
	res := o.client(t, "--binding-message", "E2E json logs", "--log-format", "json", "--log-level", "debug")
	if res.code != 0 {
		t.Fatalf("ciba-client exit %d:\n%s\n%s", res.code, res.stdout, res.stderr)
	}

	clientLogs := jsonLogs(t, "ciba-client", res.stderr, false)
	ack := events(clientLogs, "ciba.acknowledged")
	if len(ack) != 1 {
		t.Fatalf("ciba-client logged %d ciba.acknowledged:\n%s", len(ack), res.stderr)
	}
	ref, _ := ack[0]["req"].(string)
	polls := events(clientLogs, "ciba.poll")
	if len(polls) == 0 || polls[0]["level"] != "DEBUG" || polls[0]["req"] != ref {
		t.Fatalf("ciba-client's polls not logged at debug with req %s:\n%s", ref, res.stderr)
	}

	opLogs := jsonLogs(t, "ciba-op", o.stderr.String(), true)
	if len(events(opLogs, "op.ready")) != 1 {
		t.Errorf("ciba-op did not log op.ready once:\n%s", o.stderr)
	}
	for msg, level := range map[string]string{"authreq.created": "INFO", "authreq.approved": "INFO", "authreq.redeemed": "INFO"} {
		got := events(opLogs, msg)
		if len(got) != 1 || got[0]["level"] != level || got[0]["req"] != ref {
			t.Errorf("ciba-op logged %s %d times (%v), want once at %s with req %s", msg, len(got), got, level, ref)
		}
	}
	polled := events(opLogs, "authreq.polled")
	if len(polled) == 0 || len(events(opLogs, "endpoint.refused")) != 0 {
		t.Errorf("want the pending polls as authreq.polled only, got %d polled and %d refusals:\n%s",
			len(polled), len(events(opLogs, "endpoint.refused")), o.stderr)
	}
	for _, p := range polled {
		if p["level"] != "DEBUG" || p["req"] != ref {
			t.Errorf("poll logged as %v", p)
		}
	}

	authLogs := jsonLogs(t, "ciba-authenticator", auth.stderr.String(), false)
	if got := events(authLogs, "decision.accepted"); len(got) != 1 || got[0]["req"] != ref {
		t.Errorf("ciba-authenticator logged decision.accepted %d times (%v), want once with req %s", len(got), got, ref)
	}
}

// TestLogFormatUsage: an unknown --log-format is a usage error of each
// program, the admin commands included.
func TestLogFormatUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"ciba-op", "serve", "--state-dir", dir, "--log-format", "xml"},
		{"ciba-op", "user", "list", "--state-dir", dir, "--log-format", "xml"},
		{"ciba-client", "--issuer", "https://127.0.0.1:1/master", "--client-id", "c", "--login-hint", "user", "--log-format", "xml"},
		{"ciba-authenticator", "--log-format", "xml"},
	} {
		cmd := exec.Command(bin(args[0]), args[1:]...)
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), "xml") {
			t.Errorf("%s: exit %d, want 2:\n%s", strings.Join(args, " "), code, out)
		}
	}
}
