package termtext

import "testing"

func TestSafe(t *testing.T) {
	for in, want := range map[string]string{
		"Order 42":             "Order 42",
		"Zahlung an Müller €5": "Zahlung an Müller €5",
		"\x1b[2Jwiped":         `\x1b[2Jwiped`,
		"pay \u202eevil":       `pay \u202eevil`,
		"bad \xff byte":        `bad \xff byte`,
		"tab\tand\nnewline":    `tab\tand\nnewline`,
	} {
		if got := Safe(in); got != want {
			t.Errorf("Safe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCut(t *testing.T) {
	if got := Cut("abcdef", 3); got != "abc…" {
		t.Errorf("Cut = %q", got)
	}
	if got := Cut("äöü", 3); got != "äöü" {
		t.Errorf("Cut of a short string = %q", got)
	}
}
