package phone

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/cibalab/cibalab/shared/channel"
)

// decider records the decisions a phone sends and answers them.
type decider struct {
	got []Decision
	out Outcome
}

func (d *decider) decide(_ context.Context, x Decision) Outcome {
	d.got = append(d.got, x)
	return d.out
}

// run executes a command as the program would and feeds its message back.
func run(m *Model, cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	if msg := cmd(); msg != nil {
		m.Update(msg)
	}
}

func TestApproveWithoutPIN(t *testing.T) {
	c := &clockAt{t0}
	d := &decider{out: Outcome{Applied: true, Text: "the OP accepted"}}
	m := newPhone(t, c, false, d.decide)
	send(m, RequestMsg{request("r1", "Shop", "Order 42", 0, time.Minute)})
	// A key typed on the inbox answers nothing: a request is decided on
	// its own screen, after it was seen (CIBA Core 1.0 §8).
	if cmd := keys(m, "a", "y", "n", "d", "x"); cmd != nil || len(m.sending) != 0 {
		t.Fatal("a key on the inbox sent a decision")
	}
	keys(m, "enter")
	run(m, keys(m, "a"))
	if len(d.got) != 1 || d.got[0].Verdict != channel.VerdictApprove || d.got[0].PINChecked || d.got[0].Request.AuthReqID != "r1" {
		t.Fatalf("decisions %+v, want one approval of r1 without PIN", d.got)
	}
	s := render(m, 40, 20)
	if len(m.Pending()) != 0 || !strings.Contains(s, "Approved: the OP accepted") || !strings.Contains(s, "No pending requests") {
		t.Fatalf("after the approval:\n%s", s)
	}
	keys(m, "h")
	if s := render(m, 40, 20); !strings.Contains(s, "✔ Approved · Shop") || !strings.Contains(s, "the OP accepted “Order 42”") {
		t.Fatalf("history:\n%s", s)
	}
}

func TestRefusedDecisionInHistory(t *testing.T) {
	c := &clockAt{t0}
	d := &decider{out: Outcome{Text: "too late: already decided, redeemed or expired"}}
	m := newPhone(t, c, false, d.decide)
	send(m, RequestMsg{request("r1", "Shop", "Order 42", 0, time.Minute)})
	keys(m, "enter")
	cmd := keys(m, "d")
	// The OP's own closed notice for a decision on its way changes nothing:
	// the answer to the decision tells.
	send(m, ClosedMsg{AuthReqID: "r1", Reason: channel.ClosedDenied, DeviceID: "dev-1"})
	if !strings.Contains(render(m, 40, 20), "Sending denial…") {
		t.Fatalf("no sending state:\n%s", render(m, 40, 20))
	}
	run(m, cmd)
	keys(m, "h")
	if s := render(m, 40, 20); !strings.Contains(s, "! Not sent · Shop") || !strings.Contains(s, "too late") {
		t.Fatalf("history:\n%s", s)
	}
}

func TestPINLockOut(t *testing.T) {
	c := &clockAt{t0}
	d := &decider{out: Outcome{Applied: true, Text: "the OP accepted"}}
	m := newPhone(t, c, true, d.decide)
	send(m, RequestMsg{request("r1", "Shop", "Order 42", 0, 5*time.Minute)})
	if s := render(m, 40, 20); !strings.Contains(s, "Locked") || strings.Contains(s, "Order 42") {
		t.Fatalf("a device with a PIN starts locked, showing no request:\n%s", s)
	}
	for i := 0; i < MaxPINTries-1; i++ {
		keys(m, "1", "1", "1", "1", "enter")
	}
	if s := render(m, 40, 20); !strings.Contains(s, "Wrong PIN: 1 try left") {
		t.Fatalf("after two wrong PINs:\n%s", s)
	}
	keys(m, "1", "1", "1", "1", "enter")
	if s := render(m, 40, 20); !strings.Contains(s, "Too many wrong PINs") || !strings.Contains(s, "Try again in 0:30") {
		t.Fatalf("after three wrong PINs:\n%s", s)
	}
	keys(m, strings.Split(testPIN, "")...)
	keys(m, "enter")
	if m.screen != screenLock {
		t.Fatal("the right PIN unlocked during the lock-out")
	}
	c.now = c.now.Add(LockOut + time.Second)
	// Typed faster than read, the PIN comes as one message.
	keys(m, testPIN, "enter")
	if m.screen != screenInbox {
		t.Fatalf("the right PIN after the lock-out did not unlock:\n%s", render(m, 40, 20))
	}
	// Approving asks the PIN again, and carries it.
	keys(m, "enter", "a")
	if m.screen != screenPIN || len(d.got) != 0 {
		t.Fatalf("approving on a device with a PIN did not ask for it:\n%s", render(m, 40, 20))
	}
	keys(m, strings.Split(testPIN, "")...)
	run(m, keys(m, "enter"))
	if len(d.got) != 1 || !d.got[0].PINChecked || d.got[0].Verdict != channel.VerdictApprove {
		t.Fatalf("decisions %+v, want one approval with the PIN checked", d.got)
	}
}

func TestMouseClicksApprove(t *testing.T) {
	c := &clockAt{t0}
	d := &decider{out: Outcome{Applied: true, Text: "the OP accepted"}}
	m := newPhone(t, c, false, d.decide)
	send(m, RequestMsg{request("r1", "Shop", "Order 42", 0, time.Minute)})
	for _, sz := range sizes {
		s := render(m, sz[0], sz[1])
		y, x := locate(t, s, "Order 42")
		send(m, tea.MouseMsg{X: x, Y: y, Action: tea.MouseActionPress, Button: tea.MouseButtonLeft})
		if m.screen != screenRequest {
			t.Fatalf("%v: a click on the request did not open it:\n%s", sz, s)
		}
		s = render(m, sz[0], sz[1])
		y, x = locate(t, s, "[ Deny ]")
		send(m, tea.MouseMsg{X: x + 2, Y: y, Action: tea.MouseActionMotion})
		if len(m.sending) != 0 {
			t.Fatal("a mouse motion decided")
		}
		if sz == sizes[1] {
			y, x = locate(t, s, "[ Approve ]")
			run(m, m.clickCmd(x+3, y))
			break
		}
		keys(m, "esc")
	}
	if len(d.got) != 1 || d.got[0].Verdict != channel.VerdictApprove {
		t.Fatalf("decisions %+v, want one approval by click", d.got)
	}
}

func (m *Model) clickCmd(x, y int) tea.Cmd {
	_, cmd := m.Update(tea.MouseMsg{X: x, Y: y, Action: tea.MouseActionPress, Button: tea.MouseButtonLeft})
	return cmd
}

// locate finds the row and cell column of text on a plain screen.
func locate(tb testing.TB, s, text string) (int, int) {
	tb.Helper()
	for y, l := range strings.Split(s, "\n") {
		if i := strings.Index(l, text); i >= 0 {
			return y, len([]rune(l[:i]))
		}
	}
	tb.Fatalf("%q not on screen:\n%s", text, s)
	return 0, 0
}

func TestBannerAndExpiry(t *testing.T) {
	c := &clockAt{t0}
	m := newPhone(t, c, false, nil)
	send(m, RequestMsg{request("r1", "Shop", "Order 42", 0, time.Minute)})
	keys(m, "enter")
	send(m, RequestMsg{request("r2", "Bank", "Transfer", 0, 30*time.Second)})
	if s := render(m, 40, 20); !strings.Contains(s, "New: Bank “Transfer”") || !strings.Contains(s, "Order 42") {
		t.Fatalf("no banner for a new request while viewing another:\n%s", s)
	}
	c.now = c.now.Add(31 * time.Second)
	send(m, tickMsg(c.now))
	if s := render(m, 40, 20); len(m.Pending()) != 1 || !strings.Contains(s, "“Transfer”: expired") || strings.Contains(s, "New: Bank") {
		t.Fatalf("after r2 expired:\n%s", s)
	}
	c.now = c.now.Add(30 * time.Second)
	send(m, tickMsg(c.now))
	if m.screen != screenInbox || len(m.Pending()) != 0 {
		t.Fatalf("the request on screen expired but stayed:\n%s", render(m, 40, 20))
	}
}

// TestApproveSomeDetails: with several authorization_details entries, a
// number leaves that entry out of the approval (☐) or takes it back (☑);
// the approval names the entries kept; leaving all out denies.
func TestApproveSomeDetails(t *testing.T) {
	c := &clockAt{t0}
	d := &decider{out: Outcome{Applied: true, Text: "the OP accepted"}}
	m := newPhone(t, c, false, d.decide)
	r := request("r1", "Agent", "Invoice 4711", 0, time.Minute)
	r.Details = []string{"Pay €120.00 to ACME GmbH", "Read balances at bank.example", "Send an e-mail"}
	send(m, RequestMsg{r})
	keys(m, "enter")
	if s := render(m, 40, 20); !strings.Contains(s, "☑ 1 Pay €120.00") || !strings.Contains(s, "1-9 entry") {
		t.Fatalf("request screen:\n%s", s)
	}
	keys(m, "1", "3", "3", "3", "9")
	s := render(m, 40, 20)
	if !strings.Contains(s, "☐ 1 Pay €120.00") || !strings.Contains(s, "☑ 2 Read balances") || !strings.Contains(s, "☐ 3 Send an e-mail") {
		t.Fatalf("after leaving out 1 and 3:\n%s", s)
	}
	run(m, keys(m, "a"))
	if len(d.got) != 1 || d.got[0].Verdict != channel.VerdictApprove || fmt.Sprint(d.got[0].ApprovedDetails) != "[1]" {
		t.Fatalf("decisions %+v, want an approval of entry index 1 only", d.got)
	}

	r2 := request("r2", "Agent", "Invoice 4712", 0, time.Minute)
	r2.Details = []string{"Pay €1.00", "Pay €2.00"}
	send(m, RequestMsg{r2})
	keys(m, "enter", "1", "2")
	run(m, keys(m, "a"))
	if len(d.got) != 2 || d.got[1].Verdict != channel.VerdictDeny || d.got[1].ApprovedDetails != nil {
		t.Fatalf("decisions %+v, want r2 denied when every entry was left out", d.got)
	}

	r3 := request("r3", "Agent", "Invoice 4713", 0, time.Minute)
	r3.Details = []string{"Pay €3.00", "Pay €4.00"}
	send(m, RequestMsg{r3})
	keys(m, "enter")
	run(m, keys(m, "a"))
	if len(d.got) != 3 || d.got[2].Verdict != channel.VerdictApprove || d.got[2].ApprovedDetails != nil {
		t.Fatalf("decisions %+v, want r3 approved whole (nil: all entries)", d.got)
	}
}
