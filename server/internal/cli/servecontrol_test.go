package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cibalab/cibalab/server/registry"
)

// TestServeControlUsageErrors: a non-loopback control address without
// --control-allow-remote, the control API with an external NATS server,
// and --control-allow-remote alone are usage errors that start nothing.
func TestServeControlUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--control-addr", "0.0.0.0:0"}, "--control-allow-remote"},
		{[]string{"--control-addr", ":7000"}, "not a loopback address"},
		{[]string{"--control-addr", "no-port"}, "HOST:PORT"},
		{[]string{"--control-addr", "127.0.0.1:0", "--nats-url", "nats://127.0.0.1:4222"}, "embedded NATS"},
		{[]string{"--control-allow-remote"}, "without --control-addr"},
		{[]string{"--test-clock"}, "without --control-addr"},
	} {
		dir := filepath.Join(t.TempDir(), "state")
		var stderr bytes.Buffer
		code := Main(context.Background(), append([]string{"serve", "--state-dir", dir}, tc.args...), Env{Stdout: &bytes.Buffer{}, Stderr: &stderr})
		if code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, stderr.String())
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%v: the state directory was created", tc.args)
		}
	}
}

// TestServeControl: with --control-addr, serve writes a 0600 token file,
// prints the address and token on stderr, and the API answers with the
// token only; at shutdown the API's devices are revoked.
func TestServeControl(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s := startServe(t, dir, "--control-addr", "127.0.0.1:0")
	if !strings.HasPrefix(s.info.ControlURL, "http://127.0.0.1:") {
		t.Fatalf("ControlURL %q", s.info.ControlURL)
	}
	tokenFile := filepath.Join(dir, "control-token")
	wantMode(t, tokenFile, 0o600)
	data, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(data))
	get := func(path, token string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("GET", s.info.ControlURL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if code, out := get("/clients", ""); code != http.StatusUnauthorized || out["error"] != "unauthorized" {
		t.Fatalf("without the token: %d %v", code, out)
	}
	if code, _ := get("/clients", token+"x"); code != http.StatusUnauthorized {
		t.Fatalf("with a wrong token: %d", code)
	}
	if code, out := get("/clients", token); code != http.StatusOK || len(out["clients"].([]any)) != 1 {
		t.Fatalf("with the token: %d %v", code, out)
	}
	if code, out := get("/clock", token); code != http.StatusOK || out["test_clock"] != false {
		t.Fatalf("clock without --test-clock: %d %v", code, out)
	}
	// A policy enrolls a device for the user.
	req, _ := http.NewRequest("PUT", s.info.ControlURL+"/users/user/policy", strings.NewReader(`{"action":"approve"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT policy: %v %v", resp, err)
	}
	resp.Body.Close()
	if code := s.stop(t); code != exitInterrupted {
		t.Fatalf("serve exited %d, want %d (stopped by a signal)", code, exitInterrupted)
	}
	if !strings.Contains(s.stderr.String(), "control API on "+s.info.ControlURL+"; bearer token "+token) {
		t.Fatalf("stderr does not announce the API and its token:\n%s", s.stderr.String())
	}
	d, err := registry.Open(dir, registry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	devs, err := d.Devices()
	if err != nil || len(devs) != 1 || !devs[0].Revoked() || devs[0].Name != "control API" {
		t.Fatalf("devices after shutdown: %+v, %v", devs, err)
	}
}
