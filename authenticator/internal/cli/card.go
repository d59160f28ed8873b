package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/termtext"
)

// maxField bounds the runes of a field shown on a card.
const maxField = 200

// display makes an untrusted string safe to print on a terminal: control,
// format (bidi overrides) and other non-graphic characters are escaped Go
// style, so a request cannot move the cursor, recolour the terminal or
// hide text; long values are cut.
func display(s string) string { return termtext.Safe(termtext.Cut(s, maxField)) }

// quoted shows a binding message in quotes, escaped like display.
func quoted(s string) string {
	return `"` + display(s) + `"`
}

// writeCard shows a request like a phone notification (CIBA Core 1.0 §8:
// the client, the scope and the binding message the user compares with the
// consumption device; RFC 9396: each authorization_details entry, numbered
// and in words, so the person knows what each approval grants), ending
// with footer. The acr the request asks for is shown as asked, with a
// warning when this device (with a PIN or not, hasPIN) cannot give it.
func writeCard(w io.Writer, r channel.AuthRequest, now time.Time, footer string, hasPIN bool) {
	client := display(r.ClientID)
	if r.ClientName != "" {
		client = display(r.ClientName) + " (" + client + ")"
	}
	message := "(none)"
	if r.BindingMessage != "" {
		message = quoted(r.BindingMessage)
	}
	var b strings.Builder
	b.WriteString("┌ Authentication request ─────────────────────\n")
	row := func(label, value string) { fmt.Fprintf(&b, "│ %-8s %s\n", label, value) }
	row("client", client)
	row("user", display(r.User))
	row("scope", display(strings.Join(r.Scope, " ")))
	row("message", message)
	if len(r.ACRValues) > 0 {
		row("asks", "acr "+display(strings.Join(r.ACRValues, " ")))
		if w := acrWarning(r.ACRValues, hasPIN); w != "" {
			row("⚠", w)
		}
	}
	for i, line := range r.AuthorizationDetails.Lines() {
		label := ""
		if i == 0 {
			label = "details"
		}
		row(label, fmt.Sprintf("%d. %s", i+1, display(line)))
	}
	row("expires", fmt.Sprintf("in %d s", r.SecondsLeft(now)))
	b.WriteString("└ " + footer + "\n")
	io.WriteString(w, b.String())
}

// acrWarning says, before the person approves, that an approval will not
// carry any of the acr values asked for; "" when it will (the device PIN
// is checked before approving, and the approval then carries acrPIN).
func acrWarning(asked []string, hasPIN bool) string {
	if hasPIN && slices.Contains(asked, acrPIN) {
		return ""
	}
	if !hasPIN && slices.Contains(asked, acrPIN) {
		return "this device has no PIN: an approval carries no acr"
	}
	if hasPIN {
		return "this device cannot give it: an approval carries acr " + acrPIN
	}
	return "this device cannot give it: an approval carries no acr"
}
