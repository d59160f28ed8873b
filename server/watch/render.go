package watch

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Printer shows released messages as they come.
type Printer interface {
	Print(r Released) error
}

// Lines prints one line per message, for logs and pipes:
//
//	1a2b3c4d  +0.012s  client → op      POST /bc-authorize  [CIBA §7.1, RFC 8705 §2]
type Lines struct{ W io.Writer }

// Print implements Printer.
func (p Lines) Print(r Released) error {
	m := r.Message
	who := string(m.From) + " → " + string(m.To)
	if m.Note() {
		who = string(m.From) + " (note)"
	}
	label := m.Name
	if m.Outcome != "" {
		label += ": " + m.Outcome
	}
	_, err := fmt.Fprintf(p.W, "%-8s  %8s  %-16s  %s  [%s]\n", refOrDash(m.Req), seconds(r.Flow.Since(m)), who, label, m.Spec)
	return err
}

// JSONMessage is one line of the JSON Lines output.
type JSONMessage struct {
	// Type is "message" for an arrow, "note" for a note on one lifeline.
	Type     string `json:"type"`
	Req      string `json:"req"`
	ClientID string `json:"client_id,omitempty"`
	User     string `json:"user,omitempty"`
	From     Party  `json:"from"`
	To       Party  `json:"to"`
	Name     string `json:"name"`
	Outcome  string `json:"outcome,omitempty"`
	Spec     string `json:"spec"`
	Reply    bool   `json:"reply,omitempty"`
	Failed   bool   `json:"failed,omitempty"`
	// At is when it was sent (RFC 3339); T is the seconds since the
	// flow's first message; N its number in the flow, from 1.
	At string  `json:"at"`
	T  float64 `json:"t"`
	N  int     `json:"n"`
}

// JSONLines prints one JSON document per message.
type JSONLines struct{ W io.Writer }

// Print implements Printer.
func (p JSONLines) Print(r Released) error {
	m := r.Message
	typ := "message"
	if m.Note() {
		typ = "note"
	}
	b, err := json.Marshal(JSONMessage{Type: typ, Req: m.Req, ClientID: m.ClientID, User: m.User, From: m.From, To: m.To,
		Name: m.Name, Outcome: m.Outcome, Spec: m.Spec, Reply: m.Reply, Failed: m.Failed,
		At: m.At.UTC().Format(time.RFC3339Nano), T: r.Flow.Since(m).Seconds(), N: r.N})
	if err != nil {
		return err
	}
	_, err = p.W.Write(append(b, '\n'))
	return err
}

// Diagram draws a live sequence diagram on a terminal: above each flow the
// three lifelines' names and the flow's reference, client and user, then
// one row per message, the spec section at the right, the flow's
// reference and relative time at the left.
type Diagram struct {
	W io.Writer
	// Width is the terminal's width in columns; 0 means 120.
	Width int
	// Color turns on ANSI colours.
	Color bool
}

const (
	diagramMargin = 20 // "1a2b3c4d  +12.345s  "
	minLane       = 26
	maxLane       = 46
)

// lane is the width between two lifelines.
func (p *Diagram) lane() int {
	w := p.Width
	if w <= 0 {
		w = 120
	}
	l := (w - diagramMargin - 3 - 28) / 2
	return min(max(l, minLane), maxLane)
}

// Print implements Printer.
func (p *Diagram) Print(r Released) error {
	var b strings.Builder
	lane := p.lane()
	cols := [3]int{0, lane + 1, 2*lane + 2}
	f, m := r.Flow, r.Message
	if r.First {
		// The lifelines' names above each flow, so that they are in
		// sight however long the view has run.
		title := make([]rune, 2*lane+3+10)
		for i := range title {
			title[i] = ' '
		}
		place := func(col int, s string) {
			start := max(col-utf8.RuneCountInString(s)/2, 0)
			for i, c := range []rune(s) {
				if start+i < len(title) {
					title[start+i] = c
				}
			}
		}
		place(cols[0]+6, Client.Title())
		place(cols[1], OP.Title())
		place(cols[2]-6, Device.Title())
		fmt.Fprintf(&b, "%s%s\n", strings.Repeat(" ", diagramMargin), p.style(bold, strings.TrimRight(string(title), " ")))
		head := fmt.Sprintf("── %s · client %s · user %s ", refOrDash(f.Req), orDash(f.ClientID), orDash(f.User))
		head += strings.Repeat("─", max(diagramMargin+2*lane+3-utf8.RuneCountInString(head), 3))
		fmt.Fprintln(&b, p.style(cyan, head))
	}
	row := []rune(strings.Repeat(" ", 2*lane+3))
	for _, c := range cols {
		row[c] = '│'
	}
	col := map[Party]int{Client: cols[0], OP: cols[1], Device: cols[2]}
	from, to := col[m.From], col[m.To]
	text := " " + m.Label() + " "
	switch {
	case m.Note():
		note := clip([]rune("● "+m.Label()), lane-2)
		row[from] = note[0]
		copy(row[from+1:], note[1:])
		if from+len(note) <= cols[2] {
			row[cols[2]] = '│'
		}
	default:
		lo, hi := min(from, to), max(from, to)
		fill := '─'
		if m.Reply {
			fill = '╌'
		}
		for i := lo + 1; i < hi; i++ {
			row[i] = fill
		}
		if to > from {
			row[hi-1] = '▶'
		} else {
			row[lo+1] = '◀'
		}
		label := clip([]rune(text), hi-lo-4)
		copy(row[lo+2:], label)
	}
	line := string(row)
	if m.Failed {
		line = p.style(red, line)
	}
	fmt.Fprintf(&b, "%-8s  %8s  %s  %s\n", refOrDash(m.Req), seconds(f.Since(m)), line, p.style(dim, m.Spec))
	_, err := io.WriteString(p.W, b.String())
	return err
}

// ANSI styles.
const (
	bold = "\x1b[1m"
	dim  = "\x1b[2m"
	red  = "\x1b[31m"
	cyan = "\x1b[36m"
)

func (p *Diagram) style(code, s string) string {
	if !p.Color {
		return s
	}
	return code + s + "\x1b[0m"
}

// clip shortens r to n runes, marking the cut with an ellipsis.
func clip(r []rune, n int) []rune {
	if n < 1 {
		return nil
	}
	if len(r) <= n {
		return r
	}
	out := append([]rune(nil), r[:n-1]...)
	return append(out, '…')
}

func seconds(d time.Duration) string { return fmt.Sprintf("+%.3fs", d.Seconds()) }

func refOrDash(ref string) string {
	if ref == "" {
		return "--------"
	}
	return ref
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
