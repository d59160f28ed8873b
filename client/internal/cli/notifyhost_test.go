package cli

import "testing"

// TestNotifyHost: the certificate --notify-ca-cert issues names the host
// of --notify-url, else that of the listen address.
func TestNotifyHost(t *testing.T) {
	for in, want := range map[[2]string]string{
		{"127.0.0.1:0", ""}:    "127.0.0.1",
		{"[::1]:8443", ""}:     "::1",
		{"localhost:8443", ""}: "localhost",
		{"0.0.0.0:8443", "https://client.example:8443/ciba/notify"}: "client.example",
		{"127.0.0.1:8443", "https://[::1]:8443/cb"}:                 "::1",
	} {
		if got := notifyHost(in[0], in[1]); got != want {
			t.Errorf("notifyHost(%q, %q) = %q, want %q", in[0], in[1], got, want)
		}
	}
}
