package cli

import (
	"strings"
	"testing"
)

func TestTraceBodyNeverShowsSecrets(t *testing.T) {
	pad := strings.Repeat("x", 5000)
	bigJSON := `{"access_token":"SECRET-AT","mmm_padding":"` + pad + `","refresh_token":"SECRET-RT","token_type":"Bearer"}`
	tests := []struct {
		name, contentType, body string
		show                    bool
		want                    []string
		never                   []string
	}{
		{"JSON larger than the print limit", "application/json", bigJSON, false,
			[]string{`"access_token": "<redacted, 9 characters>"`, "…"}, []string{"SECRET-AT", "SECRET-RT"}},
		{"form larger than the print limit", "application/x-www-form-urlencoded", "z=" + pad + "&refresh_token=SECRET-RT", false,
			[]string{"refresh_token=<redacted, 9 characters>"}, []string{"SECRET-RT"}},
		{"malformed JSON", "application/json", `{"access_token":"SECRET-AT",`, false,
			[]string{"(malformed JSON, 28 bytes)"}, []string{"SECRET-AT"}},
		{"another content type", "text/html; charset=utf-8", "<p>access_token=SECRET-AT</p>", false,
			[]string{"(29 bytes of text/html)"}, []string{"SECRET-AT"}},
		{"no content type", "", "SECRET-AT", false, []string{"(9 bytes of unknown type)"}, []string{"SECRET-AT"}},
		{"--show-secrets shows other types", "text/plain", "SECRET-AT", true, []string{"SECRET-AT"}, nil},
		{"--show-secrets shows malformed JSON", "application/json", `{"access_token":"SECRET-AT",`, true, []string{"SECRET-AT"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			(&tracer{show: tt.show}).body(&out, tt.contentType, []byte(tt.body))
			got := out.String()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("trace lacks %q:\n%.300s", w, got)
				}
			}
			for _, s := range tt.never {
				if strings.Contains(got, s) {
					t.Errorf("trace shows %q:\n%.300s", s, got)
				}
			}
			if len(got) > traceBodyLimit+200 {
				t.Errorf("trace printed %d bytes, want about %d at most", len(got), traceBodyLimit)
			}
		})
	}
}
