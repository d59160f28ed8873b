package op

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/shared/logfmt"
	"github.com/cibalab/cibalab/shared/oauth"
)

// withLevelLog rebuilds the fixture's provider with a JSON log from level
// on, into the returned buffer.
func (f *fixture) withLevelLog(t testing.TB, level slog.Level) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	cfg := f.p.cfg
	cfg.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level}))
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	f.p = p
	return &buf
}

// logLines parses a JSON log: every line is an object whose msg is an
// event name.
func logLines(t testing.TB, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, l)
		}
		if msg, _ := m["msg"].(string); !logfmt.ValidEvent(msg) {
			t.Fatalf("log line's msg %q is not an event name: %s", msg, l)
		}
		out = append(out, m)
	}
	return out
}

// TestPollsLogAtDebugOnly: a poll answered authorization_pending or
// slow_down is logged once, as authreq.polled at debug level with the
// request's reference; at info level nothing is logged for it.
func TestPollsLogAtDebugOnly(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		t.Run(level.String(), func(t *testing.T) {
			f := newFixture(t)
			buf := f.withLevelLog(t, level)
			id := f.start(t, nil)
			before := len(logLines(t, buf))
			wantError(t, f.poll(t, "client1", id), http.StatusBadRequest, oauth.ErrAuthorizationPending)
			wantError(t, f.poll(t, "client1", id), http.StatusBadRequest, oauth.ErrSlowDown)
			f.clock.Advance(time.Minute)
			wantError(t, f.poll(t, "client1", id), http.StatusBadRequest, oauth.ErrAuthorizationPending)
			polls := logLines(t, buf)[before:]
			if level == slog.LevelInfo {
				if len(polls) != 0 {
					t.Fatalf("polls logged at info level: %v", polls)
				}
				return
			}
			if len(polls) != 3 {
				t.Fatalf("%d lines for 3 polls, want one each: %v", len(polls), polls)
			}
			for i, detail := range []string{"authorization_pending", "slow_down", "authorization_pending"} {
				l := polls[i]
				if l["msg"] != "authreq.polled" || l["level"] != "DEBUG" || l[oauth.LogAttrReq] != oauth.ReqRef(id) || l["detail"] != detail {
					t.Errorf("poll %d logged as %v", i, l)
				}
			}
		})
	}
}

// TestOneLinePerEvent: an approved and redeemed request logs each of its
// events once, with its reference; a refused redemption names the request
// too.
func TestOneLinePerEvent(t *testing.T) {
	f := newFixture(t)
	buf := f.withLevelLog(t, slog.LevelInfo)
	id := f.start(t, nil)
	if err := f.p.Decide(context.Background(), "user", id, authreq.Verdict{Approve: true, ACR: "urn:cibalab:acr:pwd", AMR: []string{"pwd"}, Device: "dev-1"}); err != nil {
		t.Fatal(err)
	}
	if r := f.poll(t, "client1", id); r.status != http.StatusOK {
		t.Fatalf("poll: %d %s", r.status, r.raw)
	}
	wantError(t, f.poll(t, "client1", id), http.StatusBadRequest, oauth.ErrInvalidGrant)
	var msgs []string
	for _, l := range logLines(t, buf) {
		msgs = append(msgs, l["msg"].(string))
		if l[oauth.LogAttrReq] != oauth.ReqRef(id) || l["client_id"] != "client1" {
			t.Errorf("line without the request's reference or client: %v", l)
		}
		if l["msg"] == "authreq.approved" && l["device"] != "dev-1" {
			t.Errorf("the decision's line does not name the device: %v", l)
		}
	}
	want := []string{"authreq.created", "authreq.approved", "authreq.redeemed", "endpoint.refused"}
	if strings.Join(msgs, " ") != strings.Join(want, " ") {
		t.Fatalf("events %v, want %v", msgs, want)
	}
}
