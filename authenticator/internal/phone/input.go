package phone

import (
	tea "github.com/charmbracelet/bubbletea"

	"github.com/cibalab/cibalab/shared/channel"
)

// key applies a key press.
func (m *Model) key(k string) (tea.Model, tea.Cmd) {
	if k == "ctrl+c" {
		m.Interrupted = true
		return m, tea.Quit
	}
	switch m.screen {
	case screenLock, screenPIN:
		switch {
		case len(k) == 1 && k[0] >= '0' && k[0] <= '9':
			return m.act("digit:" + k)
		case k == "backspace":
			return m.act("erase")
		case k == "enter":
			return m.act("ok")
		case k == "esc":
			return m.act("back")
		case k == "q" && m.screen == screenLock:
			return m, tea.Quit
		}
	case screenInbox:
		switch k {
		case "up", "k":
			m.move(-1)
		case "down", "j":
			m.move(1)
		case "enter", "right", "l":
			return m.act("open:" + m.current())
		case "h":
			return m.act("history")
		case "q":
			return m, tea.Quit
		}
	case screenRequest:
		if len(k) == 1 && k[0] >= '1' && k[0] <= '9' {
			return m.act("toggle:" + k)
		}
		switch k {
		case "a", "y":
			return m.act("approve")
		case "d", "n":
			return m.act("deny")
		case "left", "right", "tab", "shift+tab":
			m.focus = 1 - m.focus
		case "enter", " ":
			if m.focus == 0 {
				return m.act("approve")
			}
			return m.act("deny")
		case "up", "k":
			if m.scroll > 0 {
				m.scroll--
			}
		case "down", "j":
			m.scroll++
		case "esc", "backspace", "q":
			return m.act("back")
		}
	case screenHistory:
		switch k {
		case "esc", "backspace", "h", "q":
			return m.act("back")
		}
	}
	return m, nil // other keys do nothing, and say nothing
}

// current is the selected request of the inbox ("" when empty).
func (m *Model) current() string {
	list := m.sorted()
	for _, r := range list {
		if r.AuthReqID == m.selected {
			return r.AuthReqID
		}
	}
	if len(list) > 0 {
		return list[0].AuthReqID
	}
	return ""
}

func (m *Model) move(d int) {
	list := m.sorted()
	if len(list) == 0 {
		return
	}
	i := 0
	cur := m.current()
	for j, r := range list {
		if r.AuthReqID == cur {
			i = j
		}
	}
	i = min(max(i+d, 0), len(list)-1)
	m.selected = list[i].AuthReqID
}

// act performs an action of a key or a click.
func (m *Model) act(a string) (tea.Model, tea.Cmd) {
	now := m.cfg.Now()
	switch {
	case len(a) > 6 && a[:6] == "digit:":
		if now.Before(m.lockedUntil) || len(m.pin) >= 12 {
			return m, nil
		}
		m.pin += a[6:]
		m.pinErr = ""
	case a == "erase":
		if m.pin != "" {
			m.pin = m.pin[:len(m.pin)-1]
		}
	case a == "ok":
		return m.submitPIN()
	case len(a) > 5 && a[:5] == "open:":
		if _, ok := m.find(a[5:]); ok {
			m.viewing, m.focus, m.scroll, m.left = a[5:], 0, 0, nil
			m.selected = a[5:]
			m.screen = screenRequest
		}
	case len(a) > 7 && a[:7] == "toggle:":
		// With several authorization_details entries, a number leaves
		// that entry out of the approval, or takes it back.
		r, ok := m.find(m.viewing)
		i := int(a[7] - '1')
		if !ok || len(r.Details) < 2 || i >= len(r.Details) {
			return m, nil
		}
		if m.left == nil {
			m.left = map[int]bool{}
		}
		m.left[i] = !m.left[i]
	case a == "history":
		m.screen = screenHistory
	case a == "inbox":
		m.screen = screenInbox
	case a == "back":
		switch m.screen {
		case screenPIN:
			m.pin, m.pinErr = "", ""
			m.screen = screenRequest
		case screenRequest, screenHistory:
			m.screen, m.viewing = screenInbox, ""
		}
	case a == "approve", a == "deny":
		r, ok := m.find(m.viewing)
		if !ok || m.sending[r.AuthReqID] != "" {
			return m, nil
		}
		if a == "deny" || m.approvedNone(r) {
			// Approving none of the entries is a denial.
			return m, m.send(r, channel.VerdictDeny, false)
		}
		if !m.cfg.HasPIN {
			return m, m.send(r, channel.VerdictApprove, false)
		}
		if m.cfg.KnownPIN != "" {
			if m.cfg.CheckPIN != nil && m.cfg.CheckPIN(m.cfg.KnownPIN) {
				return m, m.send(r, channel.VerdictApprove, true)
			}
			m.say("The PIN given beforehand is wrong: nothing sent")
			return m, nil
		}
		m.focus = 0
		m.pin, m.pinErr = "", ""
		m.screen = screenPIN
	}
	return m, nil
}

// submitPIN checks the PIN typed on the pad: it unlocks the phone or
// approves the request on screen. MaxPINTries wrong PINs in a row lock the
// pad for LockOut.
func (m *Model) submitPIN() (tea.Model, tea.Cmd) {
	now := m.cfg.Now()
	if now.Before(m.lockedUntil) || m.pin == "" {
		return m, nil
	}
	pin := m.pin
	m.pin = ""
	if m.cfg.CheckPIN == nil || !m.cfg.CheckPIN(pin) {
		m.pinFails++
		if m.pinFails >= MaxPINTries {
			m.pinFails = 0
			m.lockedUntil = now.Add(LockOut)
			m.pinErr = "Too many wrong PINs"
			if m.screen == screenPIN {
				m.screen, m.viewing, m.unlocked = screenLock, "", false
			}
			return m, nil
		}
		m.pinErr = "Wrong PIN: " + plural(MaxPINTries-m.pinFails, "try", "tries") + " left"
		return m, nil
	}
	m.pinFails, m.pinErr = 0, ""
	if m.screen == screenLock {
		m.unlocked = true
		m.screen = screenInbox
		return m, nil
	}
	r, ok := m.find(m.viewing)
	m.screen = screenRequest
	if !ok {
		m.screen = screenInbox
		return m, nil
	}
	return m, m.send(r, channel.VerdictApprove, true)
}

// send marks r as being decided and sends the decision beside the loop.
func (m *Model) send(r Request, verdict string, pinChecked bool) tea.Cmd {
	m.sending[r.AuthReqID] = verdict
	d := Decision{Request: r.AuthRequest, Verdict: verdict, PINChecked: pinChecked}
	if verdict == channel.VerdictApprove && r.AuthReqID == m.viewing {
		d.ApprovedDetails = m.approvedDetails(r)
	}
	ctx, decide := m.cfg.Context, m.cfg.Decide
	return func() tea.Msg {
		out := Outcome{Text: "nothing sent"}
		if decide != nil {
			out = decide(ctx, d)
		}
		return decidedMsg{id: d.Request.AuthReqID, verdict: verdict, out: out}
	}
}

// approvedDetails are the indexes of r's authorization_details entries
// the person kept in the approval, or nil when they kept all of them.
func (m *Model) approvedDetails(r Request) []int {
	some := false
	out := []int{}
	for i := range r.Details {
		if m.left[i] {
			some = true
			continue
		}
		out = append(out, i)
	}
	if !some {
		return nil
	}
	return out
}

// approvedNone reports whether the person left out every entry of r's
// authorization_details.
func (m *Model) approvedNone(r Request) bool {
	a := m.approvedDetails(r)
	return a != nil && len(a) == 0 && len(r.Details) > 0
}
