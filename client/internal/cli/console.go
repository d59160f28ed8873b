package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode"
)

// console writes step lines to stderr and, on a terminal, keeps a live
// status line (the countdown) below them, redrawn in place with \r.
type console struct {
	mu     sync.Mutex
	w      io.Writer
	tty    bool
	status string // current status line, "" when none is shown
}

// step prints one line, above the status line on a terminal.
func (c *console) step(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	line := fmt.Sprintf(format, args...)
	if c.tty && c.status != "" {
		fmt.Fprintf(c.w, "\r\x1b[K%s\n%s", line, c.status)
		return
	}
	fmt.Fprintln(c.w, line)
}

// Write writes log output like a step: above the status line.
func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tty && c.status != "" {
		if _, err := io.WriteString(c.w, "\r\x1b[K"); err != nil {
			return 0, err
		}
		defer io.WriteString(c.w, c.status)
	}
	return c.w.Write(p)
}

// setStatus redraws the status line; it does nothing off a terminal.
func (c *console) setStatus(s string) {
	if !c.tty {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status = s
	fmt.Fprintf(c.w, "\r%s\x1b[K", s)
}

// clearStatus removes the status line.
func (c *console) clearStatus() {
	if !c.tty {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status != "" {
		io.WriteString(c.w, "\r\x1b[K")
		c.status = ""
	}
}

// countdown is the state the status line shows while polling.
type countdown struct {
	mu       sync.Mutex
	deadline time.Time
	polls    int
	interval time.Duration
	last     string
}

func (d *countdown) update(polls int, interval time.Duration, last string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.polls, d.interval, d.last = polls, interval, last
}

func (d *countdown) line(now time.Time) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	left := max(0, int((d.deadline.Sub(now)+time.Second-1)/time.Second))
	s := fmt.Sprintf("⏳ %s left · %d poll(s) · every %s", clock(left), d.polls, d.interval)
	if d.last != "" {
		s += " · " + d.last
	}
	return s
}

// clock formats seconds as m:ss.
func clock(s int) string { return fmt.Sprintf("%d:%02d", s/60, s%60) }

// sanitize makes text from the network safe for one terminal line:
// control characters become '?', and it is cut to 200 characters.
func sanitize(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == 200 {
			b.WriteString("…")
			break
		}
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
