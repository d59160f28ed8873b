package op

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/oauth"
)

// syncBuffer is a bytes.Buffer safe for the provider's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestUserCodeLockout: after five wrong user_codes within 15 minutes for
// one client and user, that client's requests for that user are refused
// with access_denied (403, CIBA Core 1.0 §13) for 15 minutes, even with
// the right code; other clients, other users, and failures spread over a
// longer time are unaffected.
func TestUserCodeLockout(t *testing.T) {
	const right, wrong = "4711", "4712"
	type step struct {
		client, user, code string
		advance            time.Duration // before the request
		status             int
		errCode            string
	}
	wrongs := func(n int, client string, every time.Duration) []step {
		var out []step
		for range n {
			out = append(out, step{client, "user", wrong, every, 400, oauth.ErrInvalidUserCode})
		}
		return out
	}
	cat := func(parts ...[]step) []step {
		var out []step
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"four failures, then the right code", cat(wrongs(4, "client1", 0),
			[]step{{"client1", "user", right, 0, 200, ""}})},
		{"five failures lock the client and user out", cat(wrongs(5, "client1", 0), []step{
			{"client1", "user", right, 0, 403, oauth.ErrAccessDenied},
			{"client1", "user", wrong, 0, 403, oauth.ErrAccessDenied},
			{"client2", "user", right, 0, 200, ""},
			{"client1", "alice", right, 0, 200, ""},
			{"client1", "user", right, 14 * time.Minute, 403, oauth.ErrAccessDenied},
			{"client1", "user", right, time.Minute, 200, ""},
		})},
		{"failures spread over more than 15 minutes", cat(wrongs(4, "client1", 0),
			wrongs(4, "client1", 16*time.Minute),
			[]step{{"client1", "user", right, 0, 200, ""}})},
		{"a success resets the count", cat(wrongs(4, "client1", 0),
			[]step{{"client1", "user", right, 0, 200, ""}},
			wrongs(4, "client1", 0),
			[]step{{"client1", "user", right, 0, 200, ""}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			logs := &syncBuffer{}
			f.p.log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{} // its digits could spell a user_code
				}
				return a
			}}))
			f.p.cfg.UserCodeSupported = true
			hash, err := registry.HashUserCode(right, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []string{"client1", "client2"} {
				f.reg.clients[c].BackchannelUserCodeParameter = true
			}
			for _, u := range []string{"user", "alice"} {
				f.reg.users[u].UserCodeHash = hash
			}
			for i, s := range tt.steps {
				f.clock.Advance(s.advance)
				form := with(func(v url.Values) {
					v.Set("client_id", s.client)
					v.Set("login_hint", s.user)
					v.Set("user_code", s.code)
				})
				r := f.post(t, pathBCAuthorize, form, f.certs[s.client])
				if s.status == http.StatusOK {
					if r.status != http.StatusOK {
						t.Fatalf("step %d (%s %s %s): %d %s", i, s.client, s.user, s.code, r.status, r.raw)
					}
					continue
				}
				wantError(t, r, s.status, s.errCode)
			}
			locked := strings.Contains(tt.name, "lock")
			if got := strings.Contains(logs.String(), "level=WARN msg=usercode.locked_out"); got != locked {
				t.Errorf("lockout logged at Warn: %v, want %v", got, locked)
			}
			if strings.Contains(logs.String(), wrong) || strings.Contains(logs.String(), right) {
				t.Error("a user_code reached the log")
			}
		})
	}
}

// TestFailureLimiterBounded: the counters never exceed their bound; stale
// entries go first, then the oldest window.
func TestFailureLimiterBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newFailureLimiter(2, time.Minute, time.Minute, 3)
	for i := range 10 {
		l.fail(fmt.Sprint("k", i), now.Add(time.Duration(i)*time.Second))
	}
	if l.len() != 3 {
		t.Fatalf("len %d, want 3", l.len())
	}
	l.fail("locked", now.Add(10*time.Second))
	if !l.fail("locked", now.Add(11*time.Second)) || !l.locked("locked", now.Add(12*time.Second)) {
		t.Fatal("two failures did not lock")
	}
	// A full limiter of live entries drops the oldest window, not the
	// newest.
	l.fail("new", now.Add(13*time.Second))
	if !l.locked("locked", now.Add(14*time.Second)) {
		t.Fatal("the newest lockout was evicted")
	}
	if l.locked("locked", now.Add(71*time.Second)) {
		t.Fatal("still locked after the cooling-off period")
	}
}
