package cli

import (
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/cibalab/cibalab/shared/channel"
)

func TestCard(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	r := channel.AuthRequest{Version: 1, AuthReqID: "secret-id", ClientID: "cibaConformance", User: "user",
		Scope: []string{"openid", "profile"}, BindingMessage: "Message", ExpiresAt: now.Unix() + 118}
	var b strings.Builder
	writeCard(&b, r, now, prompt, false)
	want := `┌ Authentication request ─────────────────────
│ client   cibaConformance
│ user     user
│ scope    openid profile
│ message  "Message"
│ expires  in 118 s
└ approve? [y]es / [n]o
`
	if b.String() != want {
		t.Fatalf("card:\n%s\nwant:\n%s", b.String(), want)
	}

	r.ClientName, r.BindingMessage, r.ACRValues = "Bank", "", []string{"urn:acr:1"}
	b.Reset()
	writeCard(&b, r, now.Add(time.Hour), "auto approve", false)
	for _, line := range []string{"│ client   Bank (cibaConformance)\n", "│ message  (none)\n", "│ asks     acr urn:acr:1\n", "│ ⚠        this device cannot give it: an approval carries no acr\n", "│ expires  in 0 s\n", "└ auto approve\n"} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("card lacks %q:\n%s", line, b.String())
		}
	}
}

func TestDisplay(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"Überweisung 42 €", "Überweisung 42 €"},
		{"\x1b[2Jgone", `\x1b[2Jgone`},
		{"line\nbreak", `line\nbreak`},
		{"abc\u202edcba", `abc\u202edcba`},
		{"bad \xff byte", `bad \xff byte`},
		{strings.Repeat("x", 300), strings.Repeat("x", maxField) + "…"},
	}
	for _, tt := range tests {
		if got := display(tt.in); got != tt.want {
			t.Errorf("display(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzDisplay(f *testing.F) {
	for _, s := range []string{"Message", "\x1b]0;title\a", "\u202e", "a\r\nb", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, r := range display(s) {
			if !unicode.IsGraphic(r) {
				t.Fatalf("display(%q) keeps %U", s, r)
			}
		}
	})
}

func TestAnswer(t *testing.T) {
	tests := map[string]string{
		"y": "approve", "YES": "approve", " a ": "approve", "approve": "approve",
		"n": "deny", "No": "deny", "d": "deny", "deny": "deny",
		"": "", "maybe": "", "yy": "",
	}
	for in, want := range tests {
		if got := answer(in); got != want {
			t.Errorf("answer(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestACRWarning: a card warns before approving when the acr asked for
// cannot be given: no PIN on the device, or an acr the device never gives.
func TestACRWarning(t *testing.T) {
	tests := []struct {
		asked  []string
		hasPIN bool
		want   string
	}{
		{[]string{acrPIN}, true, ""},
		{[]string{"urn:other", acrPIN}, true, ""},
		{[]string{acrPIN}, false, "this device has no PIN: an approval carries no acr"},
		{[]string{"urn:other"}, true, "this device cannot give it: an approval carries acr " + acrPIN},
		{[]string{"urn:other"}, false, "this device cannot give it: an approval carries no acr"},
	}
	for _, tt := range tests {
		if got := acrWarning(tt.asked, tt.hasPIN); got != tt.want {
			t.Errorf("acrWarning(%q, %v) = %q, want %q", tt.asked, tt.hasPIN, got, tt.want)
		}
	}
}
