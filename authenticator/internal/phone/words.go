package phone

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/termtext"
)

// maxText bounds the runes of an untrusted text shown.
const maxText = 400

// clean makes an untrusted string safe to draw: control, format (bidi
// overrides) and other non-graphic characters are escaped Go style, so a
// request cannot move the cursor, recolour the terminal or hide text;
// long values are cut.
func clean(s string) string { return termtext.Safe(termtext.Cut(s, maxText)) }

// clientName is the client as the person knows it.
func clientName(r channel.AuthRequest) string {
	if r.ClientName != "" {
		return clean(r.ClientName)
	}
	return clean(r.ClientID)
}

// subject names a request in a toast: its binding message, else its
// client.
func subject(r channel.AuthRequest) string {
	if r.BindingMessage != "" {
		return "“" + clean(r.BindingMessage) + "”"
	}
	return clientName(r)
}

// quoteOr is " “s”" or alt when s is empty.
func quoteOr(s, alt string) string {
	if s == "" {
		return alt
	}
	return " “" + clean(s) + "”"
}

// scopeWords says what each scope value gives the client (OpenID Connect
// Core 1.0 §5.4 for the standard claims scopes).
var scopeWords = map[string]string{
	"openid":         "sign you in",
	"profile":        "your name and profile",
	"email":          "your email address",
	"address":        "your postal address",
	"phone":          "your phone number",
	"offline_access": "access while you are away",
}

// scopesInWords lists the scope in words, unknown values as they are.
func scopesInWords(scope []string) string {
	if len(scope) == 0 {
		return "nothing named"
	}
	out := make([]string, 0, len(scope))
	for _, s := range scope {
		if w, ok := scopeWords[s]; ok {
			out = append(out, w)
		} else {
			out = append(out, clean(s))
		}
	}
	return strings.Join(out, ", ")
}

// clock shows seconds as m:ss.
func clock(secs int) string { return fmt.Sprintf("%d:%02d", secs/60, secs%60) }

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// spaces is n blanks, none when n is not positive.
func spaces(n int) string { return strings.Repeat(" ", max(n, 0)) }

// bar is a time-left bar of width cells.
func (m *Model) bar(r channel.AuthRequest, now time.Time, width int) string {
	width = max(width, 0)
	total := r.ExpiresAt - r.CreatedAt
	left := int64(r.SecondsLeft(now))
	full := width
	if total > 0 {
		full = int((left*int64(width) + total - 1) / total)
	}
	full = min(max(full, 0), width)
	st := m.st.bar
	if left <= 15 {
		st = m.st.warn
	}
	return st.Render(strings.Repeat("█", full)) + m.st.barEmpty.Render(strings.Repeat("░", width-full))
}

// fit cuts s (which may hold styles) to width cells.
func fit(s string, width int) string {
	if lipgloss.Width(s) <= width {
		return s
	}
	return ansi.Truncate(s, width, "…")
}

// wrap breaks plain text into lines of at most width cells, breaking
// words longer than a line.
func wrap(s string, width int) []string {
	if width < 1 {
		return nil
	}
	w := ansi.Wrap(s, width, " -/")
	var out []string
	for _, l := range strings.Split(w, "\n") {
		out = append(out, fit(strings.TrimRight(l, " "), width))
	}
	return out
}

// center pads s (which may hold styles) to sit in the middle of width.
func center(s string, width int) string {
	s = fit(s, width)
	pad := (width - lipgloss.Width(s)) / 2
	return spaces(pad) + s
}

// spread puts left and right on one line of width cells, cutting left.
func spread(left, right string, width int) string {
	rw := lipgloss.Width(right)
	left = fit(left, max(width-rw-1, 0))
	gap := width - lipgloss.Width(left) - rw
	if gap < 1 {
		return fit(left+" "+right, width)
	}
	return left + spaces(gap) + right
}
