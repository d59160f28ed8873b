package phone

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/cibalab/cibalab/shared/channel"
)

// Sizes of the frame: it fits a 40×20 terminal and grows up to
// maxFrameW×maxFrameH on a larger one.
const (
	MinWidth, MinHeight = 40, 20
	maxFrameW           = 48
	maxFrameH           = 30
	labelW              = 8
)

// body is the part of the screen between the status bar and the hints:
// lines of at most the inner width, and clickable zones by line.
type body struct {
	lines []string
	zones []zone // row is the body line, x relative to the inner left
}

func (b *body) add(lines ...string) { b.lines = append(b.lines, lines...) }

func (b *body) click(action string, x0, x1 int) {
	b.zones = append(b.zones, zone{row: len(b.lines), x0: x0, x1: x1, action: action})
}

// View draws the phone centred in the terminal.
func (m *Model) View() string {
	w, h := m.width, m.height
	if w <= 0 {
		w = MinWidth
	}
	if h <= 0 {
		h = MinHeight
	}
	fw, fh := min(w, maxFrameW), min(h, maxFrameH)
	innerW, innerH := fw-4, fh-2
	m.zones = nil
	if innerW < 16 || innerH < 8 {
		return fit("Enlarge the terminal to 40×20", w)
	}
	now := m.cfg.Now()
	header := []string{m.statusBar(innerW, now), m.st.faint.Render(strings.Repeat("─", innerW))}
	if m.banner.text != "" && now.Before(m.banner.until) {
		header = append(header, m.st.banner.Render(fit(" "+m.banner.text+" ", innerW)))
	}
	var footer []string
	if m.toast.text != "" && now.Before(m.toast.until) {
		for i, l := range wrap(m.toast.text, innerW) {
			if i == 2 {
				break
			}
			footer = append(footer, m.st.toast.Render(l))
		}
	}
	footer = append(footer, m.st.faint.Render(fit(m.hints(), innerW)))
	bodyH := innerH - len(header) - len(footer)
	var b body
	switch m.screen {
	case screenLock:
		m.lockBody(&b, innerW, now)
	case screenPIN:
		m.pinBody(&b, innerW, now)
	case screenInbox:
		m.inboxBody(&b, innerW, bodyH, now)
	case screenRequest:
		m.requestBody(&b, innerW, bodyH, now)
	case screenHistory:
		m.historyBody(&b, innerW, bodyH)
	}
	lines := b.lines
	if len(lines) > bodyH {
		lines = lines[:bodyH]
	}
	for len(lines) < bodyH {
		lines = append(lines, "")
	}
	all := make([]string, 0, innerH)
	all = append(all, header...)
	for _, l := range lines {
		all = append(all, fit(l, innerW))
	}
	all = append(all, footer...)
	framed := m.st.frame.Width(innerW + 2).Render(strings.Join(all, "\n"))
	offX, offY := (w-fw)/2, (h-fh)/2
	for _, z := range b.zones {
		if z.row < bodyH {
			m.zones = append(m.zones, zone{row: offY + 1 + len(header) + z.row, x0: offX + 2 + z.x0, x1: offX + 2 + z.x1, action: z.action})
		}
	}
	var out strings.Builder
	out.WriteString(strings.Repeat("\n", offY))
	for i, l := range strings.Split(framed, "\n") {
		if i > 0 {
			out.WriteString("\n")
		}
		out.WriteString(spaces(offX) + l)
	}
	return out.String()
}

// statusBar shows the device, the user, the connection and the clock.
func (m *Model) statusBar(width int, now time.Time) string {
	conn := m.st.good.Render("● online")
	if !m.connected {
		conn = m.st.warn.Render("◌ reconnecting…")
	}
	right := conn + " " + m.st.key.Render(now.Format("15:04"))
	return spread(clean(m.cfg.User)+" · "+clean(m.cfg.Device), right, width)
}

// hints are the keys of the screen.
func (m *Model) hints() string {
	switch m.screen {
	case screenLock:
		return "0-9 PIN  ⏎ unlock  q quit"
	case screenPIN:
		return "0-9 PIN  ⏎ approve  esc back"
	case screenRequest:
		if r, ok := m.find(m.viewing); ok && len(r.Details) > 1 {
			return "1-9 entry  a approve  d deny  esc"
		}
		return "a approve  d deny  esc back  ↑↓ more"
	case screenHistory:
		return "esc back"
	}
	return "↑↓ select  ⏎ open  h history  q quit"
}

// title is a screen's title line with the count badge at the right.
func (m *Model) title(text string, width int) string {
	badge := ""
	if n := len(m.reqs); n > 0 {
		badge = m.st.badge.Render(" " + strconv.Itoa(n) + " ")
		if m.cfg.Renderer.ColorProfile() == termenv.Ascii {
			badge = "(" + strconv.Itoa(n) + ")" // no colour: brackets make the badge
		}
	}
	return spread(m.st.title.Render(text), badge, width)
}

// lockBody is the lock screen: the clock, the waiting requests and the
// PIN pad.
func (m *Model) lockBody(b *body, width int, now time.Time) {
	b.add(m.title("Locked", width), "")
	b.add(center(m.st.title.Render(now.Format("15:04")), width))
	b.add(center(m.st.faint.Render(now.Format("Monday 2 January")), width))
	waiting := "No requests waiting"
	if n := len(m.reqs); n > 0 {
		waiting = plural(n, "request", "requests") + " waiting"
	}
	b.add(center(waiting, width), "")
	m.pad(b, width, now, "Enter PIN to unlock")
}

// pinBody asks for the PIN before approving the request on screen.
func (m *Model) pinBody(b *body, width int, now time.Time) {
	r, _ := m.find(m.viewing)
	b.add(m.title("Approve with PIN", width))
	b.add(fit(clientName(r.AuthRequest)+quoteOr(r.BindingMessage, ""), width), "")
	m.pad(b, width, now, "Enter PIN")
}

// pad draws the PIN entry and the keypad, or the time left of a lock-out.
func (m *Model) pad(b *body, width int, now time.Time, prompt string) {
	if now.Before(m.lockedUntil) {
		b.add(center(m.st.warn.Render("Too many wrong PINs"), width))
		left := int(m.lockedUntil.Sub(now).Round(time.Second) / time.Second)
		b.add(center("Try again in "+clock(left), width))
		return
	}
	dots := strings.Repeat("● ", len(m.pin)) + "_"
	b.add(center(prompt+": "+dots, width))
	if m.pinErr != "" {
		b.add(center(m.st.warn.Render(m.pinErr), width))
	} else {
		b.add("")
	}
	rows := [][]string{{"1", "2", "3"}, {"4", "5", "6"}, {"7", "8", "9"}, {"⌫", "0", "OK"}}
	const cell, gap = 6, 2
	left := (width - (3*cell + 2*gap)) / 2
	for _, row := range rows {
		var line strings.Builder
		line.WriteString(spaces(left))
		for i, k := range row {
			action := "digit:" + k
			switch k {
			case "⌫":
				action = "erase"
			case "OK":
				action = "ok"
			}
			x := left + i*(cell+gap)
			b.click(action, x, x+cell)
			label := "[" + center(k, cell-2)
			label += spaces(cell-1-lipgloss.Width(label)) + "]"
			line.WriteString(m.st.button.Render(label))
			if i < 2 {
				line.WriteString(spaces(gap))
			}
		}
		b.add(line.String())
	}
}

// inboxBody lists the pending requests, newest first, each with its
// client, binding message and a countdown bar.
func (m *Model) inboxBody(b *body, width, height int, now time.Time) {
	b.add(m.title("Inbox", width))
	list := m.sorted()
	if len(list) == 0 {
		b.add("", "", center("No pending requests", width))
		b.add(center(m.st.faint.Render("Requests for "+clean(m.cfg.User)+" appear here"), width))
		return
	}
	cur := m.current()
	at := slices.IndexFunc(list, func(r Request) bool { return r.AuthReqID == cur })
	const itemH = 4
	fits := max((height-1)/itemH, 1)
	first := 0
	if at >= fits {
		first = at - fits + 1
	}
	for i := first; i < len(list) && i < first+fits; i++ {
		r := list[i]
		marker, name := "  ", clientName(r.AuthRequest)
		if r.AuthReqID == cur {
			marker, name = m.st.title.Render("▸ "), m.st.title.Render(name)
		}
		left := r.SecondsLeft(now)
		state := clock(left)
		if v := m.sending[r.AuthReqID]; v != "" {
			state = "sending…"
		}
		for j := 0; j < 3; j++ {
			b.click("open:"+r.AuthReqID, 0, width)
			switch j {
			case 0:
				b.add(spread(marker+name, m.st.faint.Render(state), width))
			case 1:
				msg := m.st.faint.Render("(no binding message)")
				if r.BindingMessage != "" {
					msg = m.st.message.Render(fit("“"+clean(r.BindingMessage)+"”", width-2))
				}
				b.add("  " + msg)
			case 2:
				b.add("  " + m.bar(r.AuthRequest, now, width-2))
			}
		}
		b.add("")
	}
	if more := len(list) - first - fits; more > 0 {
		b.lines = b.lines[:len(b.lines)-1]
		b.add(m.st.faint.Render("  ↓ " + strconv.Itoa(more) + " more"))
	}
}

// requestBody is the request screen: who asks, what for, the binding
// message, the time left, what an approval carries, and the buttons,
// which stay at the bottom while the rest scrolls.
func (m *Model) requestBody(b *body, width, height int, now time.Time) {
	r, ok := m.find(m.viewing)
	if !ok {
		return
	}
	var s body
	row := func(label string, value string, st lipgloss.Style) {
		for i, l := range wrap(value, width-labelW) {
			if i == 0 {
				s.add(m.st.faint.Render(padRight(label, labelW)) + st.Render(l))
			} else {
				s.add(spaces(labelW) + st.Render(l))
			}
		}
	}
	plain := lipgloss.NewStyle()
	row("From", clientName(r.AuthRequest), m.st.title)
	if r.ClientName != "" {
		row("", clean(r.ClientID), m.st.faint)
	}
	if r.BindingMessage != "" {
		box := m.st.frame.UnsetPadding().Padding(0, 1)
		lines := wrap(clean(r.BindingMessage), width-4)
		for i, l := range lines {
			lines[i] = m.st.message.Render(l)
		}
		for _, l := range strings.Split(box.Width(width-2).Render(strings.Join(lines, "\n")), "\n") {
			s.add(l)
		}
	} else {
		s.add(m.st.faint.Render("(no binding message)"))
	}
	row("Wants", scopesInWords(r.Scope), plain)
	if len(r.ACRValues) > 0 {
		row("Asks", "acr "+clean(strings.Join(r.ACRValues, " ")), plain)
	}
	for i, d := range r.Details {
		label := ""
		if i == 0 {
			label = "Details"
		}
		mark := "• "
		if len(r.Details) > 1 {
			// Several entries: each can be left out of the approval
			// with its number (RFC 9396: approve exactly what is asked).
			mark = fmt.Sprintf("☑ %d ", i+1)
			if m.left[i] {
				mark = fmt.Sprintf("☐ %d ", i+1)
			}
		}
		row(label, mark+clean(d), plain)
	}
	// The time left, what an approval carries and the buttons stay at
	// the bottom, so the warning is always seen before approving.
	var fixed body
	frow := func(label, value string, st lipgloss.Style) {
		for i, l := range wrap(value, width-labelW) {
			if i == 0 {
				fixed.add(m.st.faint.Render(padRight(label, labelW)) + st.Render(l))
			} else {
				fixed.add(spaces(labelW) + st.Render(l))
			}
		}
	}
	left := r.SecondsLeft(now)
	fixed.add(m.st.faint.Render(padRight("Left", labelW)) + m.bar(r.AuthRequest, now, width-labelW-6) + " " + padLeft(clock(left), 5))
	carries, warning := m.carries(r.AuthRequest)
	frow("Sends", carries, plain)
	if warning != "" {
		for _, l := range wrap("⚠ "+warning, width) {
			fixed.add(m.st.warn.Render(l))
		}
	}
	if v := m.sending[r.AuthReqID]; v != "" {
		fixed.add(center(m.st.faint.Render("Sending "+map[string]string{channel.VerdictApprove: "approval", channel.VerdictDeny: "denial"}[v]+"…"), width))
	} else {
		approve, deny := "[ Approve ]", "[ Deny ]"
		aw, dw := lipgloss.Width(approve), lipgloss.Width(deny)
		x := (width - aw - 3 - dw) / 2
		as, ds := m.st.button, m.st.button
		if m.focus == 0 {
			as = m.st.focused
		} else {
			ds = m.st.focused
		}
		fixed.click("approve", x, x+aw)
		fixed.click("deny", x+aw+3, x+aw+3+dw)
		fixed.add(spaces(x) + as.Render(approve) + "   " + ds.Render(deny))
	}
	b.add(m.title("Request", width))
	room := max(height-len(b.lines)-len(fixed.lines), 0)
	maxScroll := max(len(s.lines)-room, 0)
	m.scroll = min(m.scroll, maxScroll)
	shown := s.lines[m.scroll:]
	if len(shown) > room {
		shown = shown[:max(room-1, 0)]
		shown = append(shown, m.st.faint.Render("↓ more"))
	}
	b.add(shown...)
	for len(b.lines) < height-len(fixed.lines) {
		b.add("")
	}
	for _, z := range fixed.zones {
		z.row += len(b.lines)
		b.zones = append(b.zones, z)
	}
	b.add(fixed.lines...)
}

// carries says which acr an approval of r carries, and warns when r asks
// for an acr this device cannot give.
func (m *Model) carries(r channel.AuthRequest) (string, string) {
	pinACR := m.cfg.PINACR
	carries := "no acr (device key only)"
	if m.cfg.HasPIN && pinACR != "" {
		carries = "acr " + pinACR + " after your PIN"
	}
	if len(r.ACRValues) == 0 {
		return carries, ""
	}
	if m.cfg.HasPIN && slices.Contains(r.ACRValues, pinACR) {
		return carries, ""
	}
	if slices.Contains(r.ACRValues, pinACR) {
		return carries, "It asks for a PIN, but this device has none: an approval will not carry acr " + pinACR + "."
	}
	return carries, "It asks for an acr this device cannot give: an approval will carry " + strings.TrimPrefix(carries, "acr ") + "."
}

// historyBody lists past decisions and closures, newest first.
func (m *Model) historyBody(b *body, width, height int) {
	b.add(m.title("History", width))
	if len(m.history) == 0 {
		b.add("", center("No decisions yet", width))
		return
	}
	for _, e := range m.history {
		if len(b.lines)+2 > height {
			break
		}
		head := "— " + e.client
		st := m.st.faint
		switch {
		case e.verdict == channel.VerdictApprove && e.ok:
			head, st = "✔ Approved · "+e.client, m.st.good
		case e.verdict == channel.VerdictDeny && e.ok:
			head, st = "✘ Denied · "+e.client, m.st.bad
		case e.verdict != "":
			head, st = "! Not sent · "+e.client, m.st.warn
		}
		b.add(spread(st.Render(fit(head, width-6)), m.st.faint.Render(e.at.Format("15:04")), width))
		b.add(m.st.faint.Render(fit("  "+e.text+quoteOr(e.message, ""), width)))
	}
}

func padRight(s string, w int) string {
	return s + spaces(max(w-lipgloss.Width(s), 0))
}

func padLeft(s string, w int) string {
	return spaces(max(w-lipgloss.Width(s), 0)) + s
}
