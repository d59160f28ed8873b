// Package termtext makes untrusted text safe to show on a terminal. A
// request's binding message, client name or authorization_details come
// from a client the person has not vetted: shown raw, control and format
// characters (ANSI escapes, bidi overrides) could move the cursor,
// recolour the terminal or hide part of what the person approves.
package termtext

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Safe returns s unchanged when it is valid UTF-8 made of graphic
// characters only; otherwise every invalid byte and every non-graphic
// character is escaped Go style (\x1b, \u202e), so it shows as text.
func Safe(s string) string {
	ok := utf8.ValidString(s)
	for _, r := range s {
		if !unicode.IsGraphic(r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	q := strconv.QuoteToGraphic(s)
	return q[1 : len(q)-1]
}

// Cut shortens s to max characters, ending it with "…" when it was
// longer.
func Cut(s string, max int) string {
	if utf8.RuneCountInString(s) > max {
		return string([]rune(s)[:max]) + "…"
	}
	return s
}
