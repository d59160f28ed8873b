package cli

import (
	"bytes"
	"testing"
	"time"
)

func TestConsoleOnATerminal(t *testing.T) {
	var buf bytes.Buffer
	c := &console{w: &buf, tty: true}
	c.step("one")
	c.setStatus("⏳ 1:00 left")
	c.step("two")
	c.Write([]byte("level=WARN msg=x\n"))
	c.setStatus("⏳ 0:59 left")
	c.clearStatus()
	c.step("three")
	want := "one\n" +
		"\r⏳ 1:00 left\x1b[K" +
		"\r\x1b[Ktwo\n⏳ 1:00 left" +
		"\r\x1b[Klevel=WARN msg=x\n⏳ 1:00 left" +
		"\r⏳ 0:59 left\x1b[K" +
		"\r\x1b[K" +
		"three\n"
	if got := buf.String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestConsoleOffATerminalHasNoCountdown(t *testing.T) {
	var buf bytes.Buffer
	c := &console{w: &buf}
	c.step("one")
	c.setStatus("⏳ 1:00 left")
	c.clearStatus()
	c.step("two")
	if got := buf.String(); got != "one\ntwo\n" {
		t.Errorf("got %q", got)
	}
}

func TestCountdownLine(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := &countdown{deadline: now.Add(125 * time.Second), interval: 5 * time.Second}
	if got, want := d.line(now.Add(500*time.Millisecond)), "⏳ 2:05 left · 0 poll(s) · every 5s"; got != want {
		t.Errorf("line %q, want %q", got, want)
	}
	d.update(3, 10*time.Second, "slow_down")
	if got, want := d.line(now.Add(200*time.Second)), "⏳ 0:00 left · 3 poll(s) · every 10s · slow_down"; got != want {
		t.Errorf("line %q, want %q", got, want)
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"evil\x1b[2Jclear", "evil?[2Jclear"},
		{"two\nlines\r", "two?lines?"},
		{"é ok", "é ok"},
		{"bad \xff byte", "bad ? byte"},
	}
	for _, tt := range tests {
		if got := sanitize(tt.in); got != tt.want {
			t.Errorf("sanitize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := []rune(sanitize(string(bytes.Repeat([]byte("a"), 500)))); len(got) != 201 {
		t.Errorf("long text kept %d runes", len(got))
	}
}
