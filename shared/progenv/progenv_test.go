package progenv_test

import (
	"testing"
	"time"

	"github.com/cibalab/cibalab/shared/progenv"
)

func TestGetenv(t *testing.T) {
	env := map[string]string{"CIBA_CLIENT_ID": "cibaPing"}
	tests := []struct {
		name   string
		getenv func(string) string
		key    string
		want   string
	}{
		{"nil reads nothing", nil, "HOME", ""},
		{"set", func(k string) string { return env[k] }, "CIBA_CLIENT_ID", "cibaPing"},
		{"unset", func(k string) string { return env[k] }, "CIBA_OP_ISSUER", ""},
	}
	for _, tt := range tests {
		if got := progenv.Getenv(tt.getenv, tt.key); got != tt.want {
			t.Errorf("%s: Getenv(%q) = %q, want %q", tt.name, tt.key, got, tt.want)
		}
	}
}

func TestNow(t *testing.T) {
	fixed := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if got := progenv.Now(func() time.Time { return fixed }); !got.Equal(fixed) {
		t.Errorf("Now(clock) = %s, want %s", got, fixed)
	}
	before := time.Now()
	if got := progenv.Now(nil); got.Before(before) || time.Since(got) > time.Minute {
		t.Errorf("Now(nil) = %s, not the system clock (%s)", got, before)
	}
}
