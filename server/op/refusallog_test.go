package op

import (
	"bytes"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/cibalab/cibalab/shared/oauth"
)

// TestRefusalLogsOnceWithCause: a refused client authentication is logged
// in one line that names the endpoint, the error and its internal cause,
// while the response keeps the cause to itself (RFC 6749 §5.2).
func TestRefusalLogsOnceWithCause(t *testing.T) {
	f := newFixture(t)
	var logs bytes.Buffer
	cfg := f.p.cfg
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.p = p
	r := f.post(t, pathBCAuthorize, url.Values{"client_id": {"client1"}, "scope": {"openid"}, "login_hint": {"user"}}, f.certs["wrongDN"])
	wantError(t, r, 401, oauth.ErrInvalidClient)
	if strings.Contains(r.raw, "subject") || strings.Contains(r.raw, "client1") {
		t.Fatalf("the response discloses the cause: %s", r.raw)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d log lines, want one:\n%s", len(lines), logs.String())
	}
	for _, want := range []string{"msg=endpoint.refused", "endpoint=bc-authorize", "error=invalid_client", "status=401",
		`cause="client client1 (tls_client_auth): certificate does not carry the registered subject"`} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("log line lacks %s:\n%s", want, lines[0])
		}
	}
}
