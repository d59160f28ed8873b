package dn

import "testing"

// FuzzParse checks that Parse never panics and that whatever it accepts
// survives String and a second Parse unchanged.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"CN=cibaConformance",
		"UID=jsmith,DC=example,DC=net",
		`OU=Sales+CN=J.  Smith,DC=example,DC=net`,
		`CN=James \"Jim\" Smith\, III,DC=example,DC=net`,
		`CN=Before\0dAfter;DC=example`,
		"1.3.6.1.4.1.1466.0=#04024869",
		`CN=Lu\C4\8Di\C4\87`,
		`CN=\ \#a \ `,
		"CN=#1E0400E9732B+E=a@b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err != nil {
			return
		}
		out := d.String()
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but Parse of its String %q: %v", s, out, err)
		}
		if !back.Equal(d) || !sameDN(back, d) {
			t.Fatalf("Parse(%q).String() = %q parses to %#v, want %#v", s, out, back, d)
		}
		if again := back.String(); again != out {
			t.Fatalf("String not stable: %q then %q", out, again)
		}
	})
}
