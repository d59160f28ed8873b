package cli

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cibalab/cibalab/authenticator/devicedir"
	"github.com/cibalab/cibalab/authenticator/internal/fakeop"
	"github.com/cibalab/cibalab/shared/channel"
)

// enrolled enrolls a device of "user" on op into a fresh directory, with
// pin unless it is empty, and returns the directory.
func enrolled(t *testing.T, op *fakeop.OP, pin string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "device")
	e := map[string]string{"CIBA_AUTH_NATS_URL": op.URL, EnvPassword: "secret", EnvPIN: pin}
	p := start(t, strings.NewReader(""), e, "enroll", "--device-dir", dir, "--device-name", "test phone")
	if code := p.wait(t); code != ExitOK {
		t.Fatalf("enroll: exit %d\n%s", code, p.stderr)
	}
	return dir
}

// only is the environment of a run with an enrolled device: no password.
func only(op *fakeop.OP, dir string) map[string]string {
	return map[string]string{"CIBA_AUTH_NATS_URL": op.URL, "CIBA_AUTH_DEVICE_DIR": dir}
}

func TestEnrollCommand(t *testing.T) {
	op := startOP(t)
	dir := enrolled(t, op, "2468")
	for path, mode := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, devicedir.MetaFile): 0o600,
		filepath.Join(dir, devicedir.KeyFile): 0o600, filepath.Join(dir, devicedir.NKeyFile): 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, %v; want %o", path, fi.Mode(), err, mode)
		}
	}
	devs := op.Devices()
	if len(devs) != 1 || devs[0].User != "user" || devs[0].Name != "test phone" {
		t.Fatalf("devices %+v", devs)
	}
	dev, err := devicedir.Load(dir)
	if err != nil || dev.DeviceID != devs[0].ID || !dev.CheckPIN("2468") || dev.NATSURL != op.URL {
		t.Fatalf("device dir %+v, %v", dev, err)
	}
	// Enrolling into the same directory again is refused.
	p := start(t, strings.NewReader(""), map[string]string{EnvPassword: "secret"}, "enroll", "--device-dir", dir)
	if code := p.wait(t); code != ExitUsage || !strings.Contains(p.stderr.String(), "already holds an enrolled device") {
		t.Fatalf("second enroll: exit %d\n%s", code, p.stderr)
	}
	// A wrong password: exit 5, nothing written.
	other := filepath.Join(t.TempDir(), "d2")
	p = start(t, strings.NewReader(""), map[string]string{"CIBA_AUTH_NATS_URL": op.URL, EnvPassword: "guess"}, "enroll", "--device-dir", other)
	if code := p.wait(t); code != ExitNotAccepted || devicedir.Exists(other) {
		t.Fatalf("wrong password: exit %d\n%s", code, p.stderr)
	}
	// Later runs need no password; the NATS URL comes from the device.
	p = start(t, strings.NewReader(""), map[string]string{"CIBA_AUTH_DEVICE_DIR": dir}, "--auto", "deny", "--once")
	p.ready(t, "user")
	op.Announce(t, op.NewRequest("user", "m"))
	if code := p.wait(t); code != ExitOK {
		t.Fatalf("run: exit %d\n%s", code, p.stderr)
	}
	// --user must match the device's.
	p = start(t, strings.NewReader(""), map[string]string{"CIBA_AUTH_DEVICE_DIR": dir}, "--user", "alice", "--auto", "deny")
	if code := p.wait(t); code != ExitUsage || !strings.Contains(p.stderr.String(), "belongs to user") {
		t.Fatalf("other user: exit %d\n%s", code, p.stderr)
	}
}

// TestPINLineMode: approving asks for the PIN (the next line when stdin is
// not a terminal); a wrong PIN sends nothing.
func TestPINLineMode(t *testing.T) {
	op := startOP(t)
	dir := enrolled(t, op, "2468")
	stdin, w := pipe(t)
	p := start(t, stdin, only(op, dir), "--once")
	p.ready(t, "user")
	req := op.NewRequest("user", "Message")
	op.Announce(t, req)
	p.stdout.waitFor(t, "└ approve? [y]es / [n]o\n", 1)
	write(t, w, "y\n")
	p.stdout.waitFor(t, "PIN: ", 1)
	write(t, w, "1111\n")
	p.stdout.waitFor(t, "wrong PIN: not approved (2 tries left)", 1)
	if n := len(op.Decisions()); n != 0 {
		t.Fatalf("a decision after a wrong PIN: %d", n)
	}
	write(t, w, "y\n")
	p.stdout.waitFor(t, "PIN: ", 2)
	write(t, w, "2468\n")
	if code := p.wait(t); code != ExitOK {
		t.Fatalf("exit %d\n%s", code, p.stderr)
	}
	c := op.Decisions()[0].Claims
	if c.Verdict != "approve" || c.ACR != acrPIN || strings.Join(c.AMR, " ") != "pin swk" {
		t.Fatalf("claims %+v, want approve with acr %s amr [pin swk]", c, acrPIN)
	}
}

// TestTerminalKeys: on a terminal a single key answers, a countdown runs,
// and the PIN is typed without echo.
func TestTerminalKeys(t *testing.T) {
	op := startOP(t)
	dir := enrolled(t, op, "77")
	stdin, w := pipe(t)
	p := startTTY(t, true, stdin, only(op, dir), "--once", "--plain")
	p.ready(t, "user")
	op.Announce(t, op.NewRequest("user", "first"))
	p.stdout.waitFor(t, "└ "+keyPrompt+"\n", 1)
	p.stdout.waitFor(t, " s left", 1)
	write(t, w, "s")
	p.stdout.waitFor(t, "ignored: no decision sent", 1)
	second := op.NewRequest("user", "second")
	op.Announce(t, second)
	p.stdout.waitFor(t, "└ "+keyPrompt+"\n", 2)
	write(t, w, "a")
	p.stdout.waitFor(t, "PIN: ", 1)
	write(t, w, "7x\x7f7\r")
	if code := p.wait(t); code != ExitOK {
		t.Fatalf("exit %d\n%s", code, p.stderr)
	}
	out := p.stdout.String()
	if strings.Contains(out, "77") || !strings.Contains(out, "••") {
		t.Fatalf("the PIN was echoed or not masked:\n%q", out)
	}
	ds := op.Decisions()
	if len(ds) != 1 || ds[0].Claims.AuthReqID != second.AuthReqID || ds[0].Claims.ACR != acrPIN {
		t.Fatalf("decisions %+v", ds)
	}
}

func TestRulesRun(t *testing.T) {
	op := startOP(t)
	rules := filepath.Join(t.TempDir(), "rules.json")
	os.WriteFile(rules, []byte(`{"rules":[
		{"binding_message":"^Order [0-9]+$","action":"approve"},
		{"binding_message":"^Refund","action":"deny","delay":"10ms"},
		{"action":"ignore"}]}`), 0o600)
	e := envFor(t, op)
	p := start(t, strings.NewReader(""), e, "--rules", rules, "--json")
	p.ready(t, "user")
	for _, m := range []string{"Order 42", "Refund 7", "something else"} {
		op.Announce(t, op.NewRequest("user", m))
	}
	p.stdout.waitFor(t, `"type":"request_ignored"`, 1)
	p.stdout.waitFor(t, `"type":"decision_accepted"`, 2)
	ds := op.Decisions()
	if len(ds) != 2 || ds[0].Claims.Verdict != "approve" || ds[1].Claims.Verdict != "deny" {
		t.Fatalf("decisions %+v", ds)
	}
}

func TestOneShots(t *testing.T) {
	op := startOP(t)
	dir := enrolled(t, op, "55")
	a := op.NewRequest("user", "first")
	b := op.NewRequest("user", "second")
	op.NewRequest("alice", "not mine")
	p := start(t, strings.NewReader(""), only(op, dir), "list", "--json")
	if code := p.wait(t); code != ExitOK {
		t.Fatalf("list: exit %d\n%s", code, p.stderr)
	}
	var listed struct {
		Requests []map[string]any `json:"requests"`
	}
	if err := json.Unmarshal([]byte(p.stdout.String()), &listed); err != nil || len(listed.Requests) != 2 || listed.Requests[0]["binding_message"] != "first" {
		t.Fatalf("list: %v\n%s", err, p.stdout)
	}
	if strings.Contains(p.stdout.String(), a.AuthReqID) {
		t.Fatal("list shows a full auth_req_id")
	}
	ref := listed.Requests[0]["req"].(string)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
	}{
		{"approve without PIN", []string{"approve", ref}, nil, ExitUsage},
		{"approve with a wrong PIN", []string{"approve", ref}, map[string]string{EnvPIN: "99"}, ExitWrongPIN},
		{"approve by ref", []string{"approve", ref}, map[string]string{EnvPIN: "55"}, ExitOK},
		{"approve again", []string{"approve", ref}, map[string]string{EnvPIN: "55"}, ExitNotPending},
		{"deny by full id", []string{"deny", b.AuthReqID}, nil, ExitOK},
		{"deny it again", []string{"deny", b.AuthReqID}, nil, ExitNotPending},
		{"unknown ref", []string{"deny", "abcdef01"}, nil, ExitNotPending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := only(op, dir)
			for k, v := range tt.env {
				e[k] = v
			}
			p := start(t, strings.NewReader(""), e, tt.args...)
			if code := p.wait(t); code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, p.stdout, p.stderr)
			}
		})
	}
	if ds := op.Decisions(); len(ds) != 2 || ds[0].Claims.AuthReqID != a.AuthReqID || ds[0].Claims.ACR != acrPIN || ds[1].Claims.Verdict != "deny" {
		t.Fatalf("decisions %+v", ds)
	}
}

// hookURL waits for the approval hook's URL on p's stderr and returns it
// without its query.
func hookURL(t *testing.T, p *proc) string {
	t.Helper()
	p.stderr.waitFor(t, "approval hook: POST http://", 1)
	m := regexp.MustCompile(`POST (http://\S+/action/[A-Za-z0-9_-]+)\?`).FindStringSubmatch(p.stderr.String())
	if m == nil {
		t.Fatalf("no hook URL with a secret on stderr:\n%s", p.stderr)
	}
	return m[1]
}

// callHook calls the hook at url and decodes its answer.
func callHook(t *testing.T, method, url string) (int, hookReply) {
	t.Helper()
	hr, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r hookReply
	json.NewDecoder(resp.Body).Decode(&r)
	return resp.StatusCode, r
}

func TestApprovalHook(t *testing.T) {
	op := startOP(t)
	p := start(t, strings.NewReader(""), envFor(t, op), "--auto", "ignore", "--approval-hook-listen", "127.0.0.1:0", "--json")
	p.ready(t, "user")
	base := hookURL(t, p)
	if strings.Contains(p.stdout.String(), strings.TrimPrefix(base, "http://")) {
		t.Fatalf("the hook secret reached stdout:\n%s", p.stdout)
	}
	root := base[:strings.LastIndex(base, "/")]
	req := op.NewRequest("user", "hooked")
	tests := []struct {
		method, url string
		status      int
		accepted    bool
		code        string
	}{
		{"POST", root + "?token=" + req.AuthReqID + "&type=allow", 404, false, "not_found"},
		{"POST", root + "/guess?token=" + req.AuthReqID + "&type=allow", 404, false, "not_found"},
		{"POST", base + "x?token=" + req.AuthReqID + "&type=allow", 404, false, "not_found"},
		{"GET", base + "?token=" + req.AuthReqID + "&type=allow", 405, false, "invalid_request"},
		{"PUT", base + "?token=x&type=allow", 405, false, "invalid_request"},
		{"POST", base + "?token=" + req.AuthReqID + "&type=maybe", 400, false, "invalid_request"},
		{"POST", base + "?type=allow", 400, false, "invalid_request"},
		{"POST", base + "?token=" + req.AuthReqID + "&type=allow", 200, true, ""},
		{"POST", base + "?token=" + req.AuthReqID + "&type=deny", 409, false, channel.ErrNotPending},
		{"POST", base + "?token=unknown&type=allow", 409, false, channel.ErrNotYourRequest},
	}
	for _, tt := range tests {
		status, r := callHook(t, tt.method, tt.url)
		if status != tt.status || r.Accepted != tt.accepted || r.Error != tt.code {
			t.Errorf("%s %s: %d %+v, want %d accepted=%v error=%q", tt.method, tt.url, status, r, tt.status, tt.accepted, tt.code)
		}
	}
	ds := op.Decisions()
	if len(ds) != 1 || ds[0].Claims.Verdict != "approve" || ds[0].Claims.AuthReqID != req.AuthReqID || strings.Join(ds[0].Claims.AMR, " ") != "swk" {
		t.Fatalf("decisions %+v", ds)
	}
}

// TestApprovalHookPIN: on a device with a PIN the hook starts only with
// the right PIN at hand, and then approves as the person would, with the
// PIN's acr and amr.
func TestApprovalHookPIN(t *testing.T) {
	op := startOP(t)
	dir := enrolled(t, op, "2468")
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte("2468\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hook := []string{"--auto", "ignore", "--approval-hook-listen", "127.0.0.1:0"}
	for _, tt := range []struct {
		name string
		env  map[string]string
		code int
	}{
		{"no PIN at hand", nil, ExitUsage},
		{"wrong PIN", map[string]string{EnvPIN: "1111"}, ExitWrongPIN},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := only(op, dir)
			for k, v := range tt.env {
				e[k] = v
			}
			p := start(t, strings.NewReader(""), e, hook...)
			if code := p.wait(t); code != tt.code || strings.Contains(p.stderr.String(), "approval hook: POST") {
				t.Fatalf("exit %d, want %d\n%s", code, tt.code, p.stderr)
			}
		})
	}
	p := start(t, strings.NewReader(""), only(op, dir), append(hook, "--pin-file", pinFile)...)
	p.ready(t, "user")
	base := hookURL(t, p)
	a, b := op.NewRequest("user", "with PIN"), op.NewRequest("user", "PIN changed")
	if status, r := callHook(t, "POST", base+"?token="+a.AuthReqID+"&type=allow"); status != 200 || !r.Accepted {
		t.Fatalf("approve: %d %+v", status, r)
	}
	c := op.Decisions()[0].Claims
	if c.ACR != acrPIN || strings.Join(c.AMR, " ") != "pin swk" {
		t.Fatalf("claims %+v, want acr %s amr [pin swk]", c, acrPIN)
	}
	// The PIN file is read at each approval: a wrong one sends nothing.
	if err := os.WriteFile(pinFile, []byte("0000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if status, r := callHook(t, "POST", base+"?token="+b.AuthReqID+"&type=allow"); status != 403 || r.Error != "wrong_pin" {
		t.Fatalf("approve with a wrong PIN: %d %+v", status, r)
	}
	if n := len(op.Decisions()); n != 1 {
		t.Fatalf("%d decisions, want 1", n)
	}
}

func TestRevokedWhileRunning(t *testing.T) {
	op := startOP(t)
	dir := enrolled(t, op, "")
	p := start(t, strings.NewReader(""), only(op, dir), "--auto", "approve")
	p.ready(t, "user")
	op.Revoke(op.Devices()[0].ID)
	if code := p.wait(t); code != ExitNotAccepted || !strings.Contains(p.stderr.String(), "it was revoked") {
		t.Fatalf("exit %d, want 5\n%s", code, p.stderr)
	}
	// With the password at hand it still cannot come back.
	e := only(op, dir)
	e[EnvPassword] = "secret"
	p = start(t, strings.NewReader(""), e, "--auto", "approve")
	if code := p.wait(t); code != ExitNotAccepted || !strings.Contains(p.stderr.String(), "revoked") {
		t.Fatalf("restart: exit %d, want 5\n%s", code, p.stderr)
	}
}

// TestEnrollsAgainWhenTheOPForgot: a device enrolled with an OP whose
// state was reset is refused by NATS; with the password it enrolls the
// same keys again, without it exits 5.
func TestEnrollsAgainWhenTheOPForgot(t *testing.T) {
	first := startOP(t)
	dir := enrolled(t, first, "")
	second := startOP(t)
	p := start(t, strings.NewReader(""), only(second, dir), "--auto", "approve")
	if code := p.wait(t); code != ExitNotAccepted || !strings.Contains(p.stderr.String(), "refused device") {
		t.Fatalf("without a password: exit %d\n%s", code, p.stderr)
	}
	e := only(second, dir)
	e[EnvPassword] = "secret"
	p = start(t, strings.NewReader(""), e, "--auto", "approve", "--once")
	p.ready(t, "user")
	if !strings.Contains(p.stderr.String(), "enrolled it again as") {
		t.Fatalf("stderr:\n%s", p.stderr)
	}
	second.Announce(t, second.NewRequest("user", "m"))
	if code := p.wait(t); code != ExitOK {
		t.Fatalf("exit %d\n%s", code, p.stderr)
	}
}

func TestCorruptDeviceDir(t *testing.T) {
	op := startOP(t)
	dir := enrolled(t, op, "")
	if err := os.WriteFile(filepath.Join(dir, devicedir.MetaFile), []byte(`{"v":1,"device_id":`), 0o600); err != nil {
		t.Fatal(err)
	}
	e := only(op, dir)
	e[EnvPassword] = "secret"
	p := start(t, strings.NewReader(""), e, "--auto", "approve")
	code := p.wait(t)
	lines := strings.Split(strings.TrimSpace(p.stderr.String()), "\n")
	if code != ExitNotAccepted || len(lines) != 1 || !strings.Contains(lines[0], "device.json") {
		t.Fatalf("exit %d, want 5 and one line naming device.json:\n%s", code, p.stderr)
	}
}

// TestUnsafeDeviceDir: enrolling into a directory that is not a device's
// (here a shared one with other files, like $HOME) is refused before the
// OP is asked, and its mode is left alone; a device directory whose key
// others can read is refused with exit 5.
func TestUnsafeDeviceDir(t *testing.T) {
	op := startOP(t)
	home := t.TempDir()
	if err := os.Chmod(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".profile"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"enroll", "--device-dir", home}, {"--device-dir", home, "--auto", "deny"}} {
		p := start(t, strings.NewReader(""), map[string]string{"CIBA_AUTH_NATS_URL": op.URL, EnvPassword: "secret"}, args...)
		if code := p.wait(t); code != ExitUsage {
			t.Fatalf("%v: exit %d, want 2\n%s", args, code, p.stderr)
		}
		if fi, _ := os.Stat(home); fi.Mode().Perm() != 0o755 {
			t.Fatalf("%v: the directory became %v", args, fi.Mode())
		}
	}
	if n := op.Enrollments(); n != 0 {
		t.Fatalf("%d enrollments into a refused directory", n)
	}
	dir := enrolled(t, op, "")
	if err := os.Chmod(filepath.Join(dir, devicedir.KeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, strings.NewReader(""), only(op, dir), "--auto", "deny")
	if code := p.wait(t); code != ExitNotAccepted || !strings.Contains(p.stderr.String(), devicedir.KeyFile) {
		t.Fatalf("key readable by others: exit %d, want 5\n%s", code, p.stderr)
	}
}
