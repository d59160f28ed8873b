package cliconv

import (
	"errors"
	"flag"
	"strconv"
	"strings"
	"testing"
)

func TestMessageDropsPackagePrefixes(t *testing.T) {
	for in, want := range map[string]string{
		`registry: client "shop": registry: already exists`: `client "shop": already exists`,
		"state: client \"shop\":\n state: already exists":   `client "shop": already exists`,
		"x509: certificate signed by unknown authority":     "certificate signed by unknown authority",
		"open /tmp/a: no such file or directory":            "open /tmp/a: no such file or directory",
		"registry":                                          "registry",
	} {
		if got := Message(errors.New(in)); got != want {
			t.Errorf("Message(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTableCodesAreDistinctAndEachHasAProgram(t *testing.T) {
	seen := map[int]bool{}
	for _, c := range Table() {
		if seen[c.Code] {
			t.Errorf("code %d twice", c.Code)
		}
		seen[c.Code] = true
		if len(c.Programs) == 0 {
			t.Errorf("code %d: no program uses it", c.Code)
		}
	}
	for _, p := range []string{OP, Client, Authenticator} {
		got := ExitSection(p)
		for _, c := range []int{ExitOK, ExitError, ExitUsage, ExitInterrupted} {
			if !strings.Contains(got, "\n  "+itoa(c)) {
				t.Errorf("%s: exit section lacks %d:\n%s", p, c, got)
			}
		}
	}
	if strings.Contains(ExitSection(OP), "denied") {
		t.Error("ciba-op never exits denied")
	}
}

func itoa(c int) string { return strconv.Itoa(c) }

func TestPageLayout(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("issuer", "https://op", "issuer `URL`")
	fs.String("dir", "", "device `directory`")
	fs.Bool("json", false, "print JSON")
	var b strings.Builder
	Page{Program: Client, Usage: []string{"[flags]"}, Description: "Does it.",
		Flags:    FlagsOf(fs, func(n string) string { return "CIBA_CLIENT_" + strings.ToUpper(n) }),
		Sections: []Section{{"ENVIRONMENT", "A  b"}}}.Write(&b)
	want := "USAGE\n  ciba-client [flags]\n\nDoes it.\n\nFLAGS (a flag beats its environment variable, which beats the default)\n" +
		"  --dir DIRECTORY\n      device directory [env CIBA_CLIENT_DIR]\n" +
		"  --issuer URL\n      issuer URL (default \"https://op\") [env CIBA_CLIENT_ISSUER]\n" +
		"  --json\n      print JSON [env CIBA_CLIENT_JSON]\n\nENVIRONMENT\n  A  b\n\nEXIT CODES\n"
	if !strings.HasPrefix(b.String(), want) {
		t.Fatalf("got\n%s\nwant prefix\n%s", b.String(), want)
	}
}

func TestVersion(t *testing.T) {
	v := Version(OP)
	if !strings.HasPrefix(v, "ciba-op ") || !strings.Contains(v, " commit ") || !strings.Contains(v, " go1.") {
		t.Fatalf("Version = %q", v)
	}
}

func TestWantsJSON(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  string
		want bool
	}{
		{nil, "", false},
		{[]string{"--json"}, "", true},
		{[]string{"-json", "--bad"}, "", true},
		{[]string{"--json=false"}, "true", false},
		{nil, "true", true},
		{[]string{"--", "--json"}, "", false},
		{[]string{"--jsonx"}, "", false},
	} {
		if got := WantsJSON(tc.args, tc.env); got != tc.want {
			t.Errorf("WantsJSON(%q, %q) = %v", tc.args, tc.env, got)
		}
	}
}
