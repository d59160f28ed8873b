package watch

import (
	"fmt"
	"io"
	"strings"
)

// Transcript writes flows as Markdown, ready for slides and docs: per
// flow, a Mermaid sequenceDiagram of its messages and a table of them
// with their relative times and spec sections. Like every output of this
// package it shows request references, never an auth_req_id, a token or a
// secret.
func Transcript(w io.Writer, title string, flows []*Flow) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", title)
	b.WriteString("Recorded by `ciba-op watch --record` from the OP's event stream. Each flow is one backchannel\n" +
		"authentication request, named by its reference (`req`: the first 8 hex digits of the SHA-256 of its\n" +
		"auth_req_id, which is never shown); times are seconds since the flow's first message.\n")
	if len(flows) == 0 {
		b.WriteString("\nNo flow was seen.\n")
	}
	for _, f := range flows {
		writeFlow(&b, f)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// FlowTitle is a flow's one-line summary.
func FlowTitle(f *Flow) string {
	s := fmt.Sprintf("`%s`: %s mode, client `%s`, user `%s`", refOrDash(f.Req), f.Mode, orDash(f.ClientID), orDash(f.User))
	if f.Outcome != "" {
		s += ", " + f.Outcome
	}
	return s
}

// mermaidID is a party's participant id in a sequenceDiagram.
func mermaidID(p Party) string {
	switch p {
	case Client:
		return "CD"
	case Device:
		return "AD"
	}
	return "OP"
}

func writeFlow(b *strings.Builder, f *Flow) {
	fmt.Fprintf(b, "\n## Flow %s\n\n", FlowTitle(f))
	b.WriteString("```mermaid\nsequenceDiagram\n    autonumber\n")
	for _, p := range []Party{Client, OP, Device} {
		fmt.Fprintf(b, "    participant %s as %s\n", mermaidID(p), p.Title())
	}
	for _, m := range f.Messages {
		text := mermaidText(m.Label() + " (" + m.Spec + ")")
		switch {
		case m.Note():
			fmt.Fprintf(b, "    Note over %s: %s\n", mermaidID(m.From), text)
		case m.Reply:
			fmt.Fprintf(b, "    %s-->>%s: %s\n", mermaidID(m.From), mermaidID(m.To), text)
		default:
			fmt.Fprintf(b, "    %s->>%s: %s\n", mermaidID(m.From), mermaidID(m.To), text)
		}
	}
	b.WriteString("```\n\n")
	b.WriteString("| # | t (s) | from | to | message | outcome | spec |\n|---:|---:|---|---|---|---|---|\n")
	for i, m := range f.Messages {
		to := m.To.Title()
		if m.Note() {
			to = "(note)"
		}
		fmt.Fprintf(b, "| %d | %.3f | %s | %s | %s | %s | %s |\n", i+1, f.Since(m).Seconds(), m.From.Title(), to,
			cell(m.Name), cell(m.Outcome), cell(m.Spec))
	}
	if f.Dropped > 0 {
		fmt.Fprintf(b, "\n%d later messages are not shown.\n", f.Dropped)
	}
}

// mermaidText makes s safe as a sequenceDiagram message: no line break,
// and none of the characters Mermaid reads as syntax (";" ends a
// statement, "#" starts an entity code, "<" and ">" are HTML).
func mermaidText(s string) string {
	return strings.NewReplacer("\n", " ", "\r", " ", ";", ",", "#", "no. ", "<", "‹", ">", "›", "%%", "%").Replace(s)
}

// cell makes s safe in a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ").Replace(s)
}
