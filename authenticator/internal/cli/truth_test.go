package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/shared/channel"
)

// TestCardClosedElsewhere: a card whose request another device decides
// leaves the screen with one plain line; a key typed afterwards answers
// nothing and sends nothing; a card closed before it was shown is never
// shown, and a request is shown once even when announced again and
// listed after a reconnect.
func TestCardClosedElsewhere(t *testing.T) {
	for _, tty := range []bool{false, true} {
		t.Run(map[bool]string{false: "lines", true: "terminal"}[tty], func(t *testing.T) {
			op := startOP(t)
			stdin, w := pipe(t)
			p := startTTY(t, tty, stdin, envFor(t, op), "--plain")
			p.ready(t, "user")
			first := op.NewRequest("user", "first")
			op.Announce(t, first)
			p.stdout.waitFor(t, `"first"`, 1)
			// Waiting behind the first card, then closed: never shown.
			hidden := op.NewRequest("user", "hidden")
			op.Announce(t, hidden)
			op.CloseRequest(t, hidden.AuthReqID, channel.ClosedExpired)
			op.CloseRequest(t, first.AuthReqID, channel.ClosedApproved)
			p.stdout.waitFor(t, "  — approved on another device: card closed, nothing to answer\n", 1)
			op.Announce(t, first) // again
			op.KickClients(t)     // the pending list after the reconnect
			last := op.NewRequest("user", "last")
			op.Announce(t, last)
			p.stdout.waitFor(t, `"last"`, 1)
			op.CloseRequest(t, last.AuthReqID, channel.ClosedRedeemed)
			p.stdout.waitFor(t, "  — the client already has its tokens: card closed, nothing to answer\n", 1)
			write(t, w, "y\n")
			p.stdout.waitFor(t, "no request is waiting for an answer", 1)
			out := p.stdout.String()
			if strings.Contains(out, `"hidden"`) || strings.Count(out, `"first"`) != 1 || strings.Count(out, "┌ Authentication request") != 2 {
				t.Fatalf("a card shown twice or after it closed:\n%s", out)
			}
			if n := len(op.Decisions()); n != 0 {
				t.Fatalf("%d decisions sent for closed cards", n)
			}
			// Logs go to stderr only when it does not share the cards' terminal.
			if strings.Contains(out, "level=") || tty && strings.Contains(p.stderr.String(), "level=") {
				t.Fatalf("a log line reached the screen:\nstdout:\n%s\nstderr:\n%s", out, p.stderr)
			}
		})
	}
}

// TestTooLatePlainLine: answering a request that was decided elsewhere
// (the OP says not_pending) prints one plain line on the card, never a
// raw log line.
func TestTooLatePlainLine(t *testing.T) {
	op := startOP(t)
	stdin, w := pipe(t)
	p := start(t, stdin, envFor(t, op), "--once")
	p.ready(t, "user")
	r := op.NewRequest("user", "raced")
	op.Announce(t, r)
	p.stdout.waitFor(t, `"raced"`, 1)
	op.Forget(r.AuthReqID) // decided elsewhere, the news not there yet
	write(t, w, "y\n")
	if code := p.wait(t); code != ExitRefused {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, ExitRefused, p.stderr)
	}
	if want := "  ! too late: this request was already decided, redeemed or expired\n"; !strings.HasSuffix(p.stdout.String(), want) {
		t.Fatalf("stdout does not end with %q:\n%s", want, p.stdout)
	}
	if strings.Contains(p.stderr.String(), "level=") {
		t.Fatalf("a log line on stderr:\n%s", p.stderr)
	}
}

// TestLogDestination: on the cards' terminal (stdout and stdin terminals,
// stderr the same screen) logs are dropped unless --log-file names a
// file, which receives them (mode 0600); off a terminal they go to stderr.
func TestLogDestination(t *testing.T) {
	for _, tt := range []struct {
		name    string
		tty     bool
		logFile bool
	}{
		{"terminal", true, false},
		{"terminal with --log-file", true, true},
		{"pipes", false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			op := startOP(t)
			stdin, _ := pipe(t)
			args := []string{"--log-level", "info", "--plain"}
			logFile := filepath.Join(t.TempDir(), "device.log")
			if tt.logFile {
				args = append(args, "--log-file", logFile)
			}
			p := startTTY(t, tt.tty, stdin, envFor(t, op), args...)
			p.ready(t, "user")
			op.Announce(t, op.NewRequest("user", "logged"))
			p.stdout.waitFor(t, `"logged"`, 1)
			onStderr := func() bool { return strings.Contains(p.stderr.String(), "msg=device.request_received") }
			switch {
			case tt.logFile:
				deadline := time.Now().Add(waitLimit)
				for {
					b, _ := os.ReadFile(logFile)
					if strings.Contains(string(b), "msg=device.request_received") {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("log file:\n%s", b)
					}
					time.Sleep(10 * time.Millisecond)
				}
				if fi, err := os.Stat(logFile); err != nil || fi.Mode().Perm() != 0o600 {
					t.Fatalf("log file mode: %v %v", fi.Mode(), err)
				}
				if onStderr() {
					t.Fatalf("logs on stderr too:\n%s", p.stderr)
				}
			case tt.tty:
				if onStderr() || strings.Contains(p.stdout.String(), "level=") {
					t.Fatalf("a log line on the cards' terminal:\nstdout:\n%s\nstderr:\n%s", p.stdout, p.stderr)
				}
			default:
				p.stderr.waitFor(t, "msg=device.request_received", 1)
			}
		})
	}
}

// TestHookClosesTheCard: a card on screen that the approval hook decided
// leaves the screen, saying it was decided on this device.
func TestHookClosesTheCard(t *testing.T) {
	op := startOP(t)
	stdin, _ := pipe(t)
	p := start(t, stdin, envFor(t, op), "--approval-hook-listen", "127.0.0.1:0")
	p.ready(t, "user")
	base := hookURL(t, p)
	r := op.NewRequest("user", "hooked on screen")
	op.Announce(t, r)
	p.stdout.waitFor(t, `"hooked on screen"`, 1)
	if status, reply := callHook(t, "POST", base+"?token="+r.AuthReqID+"&type=allow"); status != 200 || !reply.Accepted {
		t.Fatalf("hook: %d %+v", status, reply)
	}
	p.stdout.waitFor(t, "  — approved on this device (approval hook): card closed, nothing to answer\n", 1)
}
