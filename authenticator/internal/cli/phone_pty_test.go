package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/creack/pty"

	"github.com/cibalab/cibalab/shared/channel"
)

// screenLog is what a program drew on a pseudo-terminal, without escape
// sequences.
type screenLog struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func (s *screenLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.changed)
	s.changed = make(chan struct{})
	return s.buf.Write(p)
}

func (s *screenLog) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ansi.Strip(s.buf.String())
}

// mark is the length of what was drawn so far.
func (s *screenLog) mark() int { return len(s.text()) }

// waitFor returns once the screen drew want.
func (s *screenLog) waitFor(tb testing.TB, want string) { tb.Helper(); s.waitAfter(tb, 0, want) }

// waitAfter returns once the screen drew want after mark.
func (s *screenLog) waitAfter(tb testing.TB, mark int, want string) {
	tb.Helper()
	deadline := time.After(waitLimit)
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if strings.Contains(s.text()[mark:], want) {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			tb.Fatalf("the screen never showed %q; it drew:\n%s", want, s.text())
		}
	}
}

// buildAuthenticator builds the ciba-authenticator binary into a
// temporary directory.
func buildAuthenticator(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), Name)
	out, err := exec.Command("go", "build", "-o", bin, "github.com/cibalab/cibalab/authenticator/cmd/ciba-authenticator").CombinedOutput()
	if err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestPhoneInPseudoTerminal runs the real program on a 40×20
// pseudo-terminal against an OP: the phone shows the request in its
// inbox, Enter opens it, the a key approves it, the OP receives the
// signed approval, the request leaves the inbox with a toast; a request
// denied on another device leaves it too, with a toast; q quits with exit
// code 0.
func TestPhoneInPseudoTerminal(t *testing.T) {
	bin := buildAuthenticator(t)
	op := startOP(t)
	cmd := exec.Command(bin, "--user", "user")
	cmd.Env = append([]string{}, "PATH="+os.Getenv("PATH"), "HOME="+t.TempDir(), "TERM=xterm-256color", "NO_COLOR=1",
		"CIBA_AUTH_NATS_URL="+op.URL, EnvPassword+"=secret", "CIBA_AUTH_DEVICE_DIR="+filepath.Join(t.TempDir(), "device"),
		"CIBA_AUTH_LOG_FILE="+filepath.Join(t.TempDir(), "device.log"))
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 20, Cols: 40})
	if err != nil {
		t.Fatal(err)
	}
	screen := &screenLog{changed: make(chan struct{})}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			screen.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		tty.Close()
		<-copied
	})
	key := func(s string) {
		t.Helper()
		if _, err := tty.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}

	screen.waitFor(t, "No pending requests")
	req := op.NewRequest("user", "Order 42")
	op.Announce(t, req)
	screen.waitFor(t, "“Order 42”")
	screen.waitFor(t, "(1)")
	key("\r")
	screen.waitFor(t, "[ Approve ]")
	key("a")
	d := op.WaitDecision(t)
	if d.Claims.AuthReqID != req.AuthReqID || d.Claims.Verdict != channel.VerdictApprove {
		t.Fatalf("the OP got %+v, want an approval of %s", d.Claims, req.AuthReqID)
	}
	if d.Claims.ACR != "" || strings.Join(d.Claims.AMR, " ") != "swk" {
		t.Fatalf("approval without a PIN carries acr %q amr %v, want none and [swk]", d.Claims.ACR, d.Claims.AMR)
	}
	screen.waitFor(t, "Approved: the OP accepted")
	// A request decided on another device leaves the inbox with a toast.
	other := op.NewRequest("user", "Other")
	op.Announce(t, other)
	screen.waitFor(t, "“Other”")
	mark := screen.mark()
	op.CloseRequest(t, other.AuthReqID, channel.ClosedDenied)
	screen.waitAfter(t, mark, "denied on another")
	screen.waitAfter(t, mark, "No pending requests")
	key("q")
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v; screen:\n%s", err, screen.text())
		}
	case <-time.After(waitLimit):
		t.Fatalf("q did not quit; screen:\n%s", screen.text())
	}
	if strings.Contains(screen.text(), "level=") {
		t.Fatalf("a log line reached the screen:\n%s", screen.text())
	}
}
