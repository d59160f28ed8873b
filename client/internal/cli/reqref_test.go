package cli_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"cibalab/client/internal/cli"
	"cibalab/client/internal/fakeop"
	"cibalab/shared/oauth"
)

// TestOneReferenceToARequest: the console line, every log line about the
// request and --trace name it by the reference the OP and the
// authentication device show, oauth.ReqRef (the first 8 hex digits of the
// SHA-256 of the auth_req_id), as req=<ref>; neither stdout nor stderr
// shows the auth_req_id, a piece of it, or another hash of it.
func TestOneReferenceToARequest(t *testing.T) {
	id := fakeop.DefaultAuthReqID
	sum := sha256.Sum256([]byte(id))
	ref := hex.EncodeToString(sum[:4])
	if got := oauth.ReqRef(id); got != ref {
		t.Fatalf("oauth.ReqRef = %q, want %q", got, ref)
	}
	req := oauth.LogAttrReq + "=" + ref
	tests := []struct {
		name string
		run  func(t *testing.T) result
		want int
		// logs are the events that must carry req=<ref>.
		logs []string
	}{
		{"poll", func(t *testing.T) result {
			h := newHarness(t, fakeop.Config{Token: tokens(fakeop.Pending(), fakeop.TokenReply("at-1"))})
			return h.run(t, context.Background(), h.args("--log-level", "debug", "--trace")...)
		}, cli.ExitOK, []string{"ciba.acknowledged", "ciba.poll", "ciba.token"}},
		{"push", func(t *testing.T) result {
			url := "https://127.0.0.1:" + freePort(t) + "/ciba/notify"
			var h *harness
			h = newHarness(t, fakeop.Config{Ack: func(r fakeop.Request) fakeop.Reply {
				go fakeop.Notify(url, h.op.CA.Pool, r.Form.Get(oauth.ParamClientNotificationToken), "application/json",
					[]byte(`{"auth_req_id":"`+id+`","error":"access_denied"}`))
				return fakeop.AckReply(id, 120, 5)
			}})
			writeNotifyCert(t, h)
			h.sleep = blockUntilDone
			return h.run(t, context.Background(), h.args("--delivery-mode", "push", "--notify-url", url, "--log-level", "debug", "--trace")...)
		}, cli.ExitDenied, []string{"ciba.acknowledged", "ciba.notification", "ciba.push_error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.run(t)
			if res.code != tt.want {
				t.Fatalf("exit %d, want %d\n%s", res.code, tt.want, res.stderr)
			}
			if !strings.Contains(res.stderr, "← auth_req_id "+req+", expires in 120 s") {
				t.Errorf("no console line with %s:\n%s", req, res.stderr)
			}
			for _, event := range tt.logs {
				if line := lineWith(res.stderr, "msg="+event+" "); !strings.Contains(line, " "+req) {
					t.Errorf("log event %s lacks %s: %q", event, req, line)
				}
			}
			if want := "<redacted, " + req + ">"; !strings.Contains(res.stderr, want) {
				t.Errorf("--trace lacks %q:\n%s", want, res.stderr)
			}
			old := hex.EncodeToString(sum[:6]) // the former 12-digit log hash
			for _, leak := range []string{id, id[:8], old} {
				if strings.Contains(res.stderr, leak) || strings.Contains(res.stdout, leak) {
					t.Errorf("the output shows %q:\n%s", leak, res.stderr)
				}
			}
		})
	}
}

// TestShowSecretsShowsTheAuthReqID: --show-secrets, asked for explicitly,
// lets --trace print the auth_req_id itself; the console line keeps the
// reference.
func TestShowSecretsShowsTheAuthReqID(t *testing.T) {
	h := newHarness(t, fakeop.Config{})
	res := h.run(t, context.Background(), h.args("--trace", "--show-secrets")...)
	if res.code != cli.ExitOK {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, "auth_req_id="+fakeop.DefaultAuthReqID) {
		t.Errorf("--show-secrets hides the auth_req_id:\n%s", res.stderr)
	}
	if !strings.Contains(res.stderr, "← auth_req_id "+oauth.LogAttrReq+"="+oauth.ReqRef(fakeop.DefaultAuthReqID)) {
		t.Errorf("the console line lost the reference:\n%s", res.stderr)
	}
}

// blockUntilDone is a Sleep that only the context ends.
func blockUntilDone(ctx context.Context, _ time.Duration) error {
	<-ctx.Done()
	return ctx.Err()
}

// lineWith returns the first line of s that contains sub, or "".
func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}
