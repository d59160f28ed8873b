package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// watchMessage is one line of ciba-op watch --json.
type watchMessage struct {
	Type     string  `json:"type"`
	Req      string  `json:"req"`
	ClientID string  `json:"client_id"`
	User     string  `json:"user"`
	From     string  `json:"from"`
	To       string  `json:"to"`
	Name     string  `json:"name"`
	Outcome  string  `json:"outcome"`
	Spec     string  `json:"spec"`
	T        float64 `json:"t"`
	N        int     `json:"n"`
}

// watch starts ciba-op watch on the OP's state directory, with nothing
// else to find the OP by, and waits until it watches.
func (o *op) watch(t *testing.T, args ...string) *process {
	t.Helper()
	p := start(t, nil, "ciba-op", append([]string{"watch", "--state-dir", o.stateDir}, args...)...)
	p.waitFor(t, p.stderr, regexp.MustCompile(`watching the flows of realm master at `+regexp.QuoteMeta(o.natsURL)))
	return p
}

// watchMessages waits until watch has printed a message matching last
// (from, to and a part of its label) and returns the messages printed.
func watchMessages(t *testing.T, p *process, last func(watchMessage) bool) []watchMessage {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var got []watchMessage
		for _, l := range lines(p.stdout.String()) {
			var m watchMessage
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("watch --json printed a line that is not JSON: %q", l)
			}
			got = append(got, m)
			if last(m) {
				return got
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("watch did not show the flow's last message within 30 s:\n%s\nstderr:\n%s", p.stdout, p.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pattern is an expected message: from, to, a regexp its name and outcome
// match, and whether it comes any number of times, none included (polls).
type pattern struct {
	from, to, label string
	repeat          bool
}

// matchFlow checks that msgs are exactly the patterns, in order.
func matchFlow(t *testing.T, msgs []watchMessage, want []pattern) {
	t.Helper()
	show := func() string {
		var b strings.Builder
		for _, m := range msgs {
			b.WriteString(m.From + " → " + m.To + " " + m.Name + ": " + m.Outcome + " [" + m.Spec + "]\n")
		}
		return b.String()
	}
	i := 0
	for _, w := range want {
		re := regexp.MustCompile(w.label)
		ok := func(m watchMessage) bool {
			return m.From == w.from && m.To == w.to && re.MatchString(m.Name+": "+m.Outcome)
		}
		if w.repeat {
			for i < len(msgs) && ok(msgs[i]) {
				i++
			}
			continue
		}
		if i >= len(msgs) || !ok(msgs[i]) {
			t.Fatalf("message %d: want %s → %s %q; the flow was:\n%s", i+1, w.from, w.to, w.label, show())
		}
		i++
	}
	if i != len(msgs) {
		t.Fatalf("%d messages more than expected; the flow was:\n%s", len(msgs)-i, show())
	}
}

// noSecrets fails when out shows any of the tokens of the client's --json
// document doc.
func noSecrets(t *testing.T, what, out string, doc map[string]any) {
	t.Helper()
	for _, k := range []string{"access_token", "id_token", "refresh_token"} {
		v, _ := doc[k].(string)
		if v == "" {
			continue
		}
		for _, part := range strings.Split(v, ".") {
			if len(part) >= 16 && strings.Contains(out, part) {
				t.Fatalf("%s shows (part of) the %s", what, k)
			}
		}
	}
}

// TestWatchShowsAnApprovedPollFlow: with ciba-op serve running, ciba-op
// watch --json, given only the state directory, shows every message of an
// approved poll flow in the order sent, with its spec section, under the
// request reference the client printed; watch --record writes it as a
// Mermaid sequence diagram; no output shows a token.
func TestWatchShowsAnApprovedPollFlow(t *testing.T) {
	o := startOP(t)
	w := o.watch(t, "--json")
	record := filepath.Join(t.TempDir(), "flows.md")
	rec := o.watch(t, "--record", record)
	o.authenticator(t, "user", "password", "--auto", "approve", "--delay", "1500ms", "--once")
	res := o.client(t, "--binding-message", "watch me")
	if res.code != 0 {
		t.Fatalf("ciba-client exit %d:\n%s", res.code, res.stderr)
	}
	msgs := watchMessages(t, w, func(m watchMessage) bool {
		return m.From == "op" && m.To == "client" && strings.Contains(m.Outcome, "access_token")
	})
	matchFlow(t, msgs, []pattern{
		{"client", "op", `^POST /bc-authorize`, false},
		{"op", "device", `^authentication request`, false},
		{"op", "client", `^200 OK: auth_req_id [0-9a-f]{8}…`, false},
		{"client", "op", `^POST /token`, false},
		{"op", "client", `^400 Bad Request: (authorization_pending|slow_down)$`, false},
		{"client", "op", `^POST /token`, true},
		{"op", "client", `^400 Bad Request: (authorization_pending|slow_down)$`, true},
		{"device", "op", `^signed decision: approve$`, false},
		{"op", "device", `^decision result: accepted$`, false},
		{"client", "op", `^POST /token`, false},
		{"op", "op", `^tokens issued`, false},
		{"op", "client", `^200 OK: access_token`, false},
	})
	ref := regexp.MustCompile(`req=([0-9a-f]{8})`).FindStringSubmatch(res.stderr)
	if ref == nil {
		t.Fatalf("the client printed no request reference:\n%s", res.stderr)
	}
	var last float64
	for i, m := range msgs {
		if m.Req != ref[1] || m.ClientID != "cibaConformance" || m.User != "user" || m.N != i+1 || m.Spec == "" {
			t.Fatalf("message %d %+v: want req %s of cibaConformance and user, numbered, with its spec", i+1, m, ref[1])
		}
		if m.T < last {
			t.Fatalf("message %d at +%.3fs, before the one before it (+%.3fs)", i+1, m.T, last)
		}
		last = m.T
	}
	if msgs[0].Spec != "CIBA §7.1, RFC 8705 §2" || msgs[2].Spec != "CIBA §7.3" || msgs[4].Spec != "CIBA §11" || msgs[len(msgs)-1].Spec != "CIBA §10.1.1, RFC 8705 §3" {
		t.Fatalf("spec sections: %q, %q, %q, %q", msgs[0].Spec, msgs[2].Spec, msgs[4].Spec, msgs[len(msgs)-1].Spec)
	}
	doc := decodeJSON(t, res.stdout)
	noSecrets(t, "watch --json", w.stdout.String(), doc)

	// The recording, once watch stops.
	rec.cmd.Process.Signal(syscall.SIGINT)
	if code := rec.exitCode(t, 10*time.Second); code != 130 {
		t.Fatalf("watch --record exit %d, want 130 (interrupted):\n%s", code, rec.stderr)
	}
	md, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	noSecrets(t, "the transcript", string(md), doc)
	checkMermaid(t, string(md), ref[1], []string{
		`CD->>OP: POST /bc-authorize`,
		`OP->>AD: authentication request`,
		`OP-->>CD: 200 OK → auth_req_id ` + ref[1] + `…`,
		`CD->>OP: POST /token`,
		`OP-->>CD: 400 Bad Request → authorization_pending`,
		`AD->>OP: signed decision → approve`,
		`OP-->>AD: decision result → accepted`,
		`Note over OP: tokens issued`,
		`OP-->>CD: 200 OK → access_token`,
	})
}

// checkMermaid checks that the transcript md has a flow ref with a
// Mermaid sequenceDiagram holding steps in this order (others may come
// between: more polls) and ending with the last.
func checkMermaid(t *testing.T, md, ref string, steps []string) {
	t.Helper()
	head := "## Flow `" + ref + "`"
	i := strings.Index(md, head)
	if i < 0 {
		t.Fatalf("the transcript has no flow %s:\n%s", ref, md)
	}
	md = md[i:]
	const open = "```mermaid\nsequenceDiagram\n"
	j := strings.Index(md, open)
	if j < 0 {
		t.Fatalf("no mermaid sequenceDiagram for flow %s:\n%s", ref, md)
	}
	body := md[j+len(open):]
	end := strings.Index(body, "\n```\n")
	if end < 0 {
		t.Fatal("the mermaid block is not closed")
	}
	stmt := regexp.MustCompile(`^    ((CD|OP|AD)(->>|-->>)(CD|OP|AD)|Note over (CD|OP|AD)): [^;#<>]+$|^    autonumber$|^    participant (CD|OP|AD) as [A-Za-z ]+$`)
	var lines []string
	for _, l := range strings.Split(body[:end], "\n") {
		if !stmt.MatchString(l) {
			t.Fatalf("not a valid sequenceDiagram statement: %q", l)
		}
		lines = append(lines, strings.TrimSpace(l))
	}
	k := 0
	for _, s := range steps {
		for k < len(lines) && !strings.HasPrefix(lines[k], s) {
			k++
		}
		if k == len(lines) {
			t.Fatalf("the diagram lacks %q (in this order):\n%s", s, body[:end])
		}
		k++
	}
	if k != len(lines) {
		t.Fatalf("the diagram does not end with %q:\n%s", steps[len(steps)-1], body[:end])
	}
	if !strings.Contains(md, "| # | t (s) | from | to | message | outcome | spec |") {
		t.Fatal("the transcript has no table of the messages")
	}
}

// TestWatchShowsPushAndFilters: a push flow shows the push of the tokens
// and the client's acknowledgement; --client shows only that client's
// flows, --user nobody's flows but that user's.
func TestWatchShowsPushAndFilters(t *testing.T) {
	o := startOP(t)
	c := o.addNotifyClient(t, "shop-push", "push")
	push := o.watch(t, "--json", "--client", "shop-push")
	nobody := o.watch(t, "--json", "--user", "nobody")
	o.authenticator(t, "user", "password", "--auto", "approve", "--once")
	// A poll flow first, which the --client watch must not show.
	if res := o.client(t, "--binding-message", "not shown"); res.code != 0 {
		t.Fatalf("poll client exit %d:\n%s", res.code, res.stderr)
	}
	o.authenticator(t, "user", "password", "--auto", "approve", "--once")
	res := o.client(t, c.args("--binding-message", "push me")...)
	if res.code != 0 {
		t.Fatalf("push client exit %d:\n%s", res.code, res.stderr)
	}
	// The OP records the tokens as issued once the client acknowledged
	// the push that carried them.
	msgs := watchMessages(t, push, func(m watchMessage) bool { return m.Type == "note" && strings.HasPrefix(m.Name, "tokens issued") })
	matchFlow(t, msgs, []pattern{
		{"client", "op", `^POST /bc-authorize`, false},
		{"op", "device", `^authentication request`, false},
		{"op", "client", `^200 OK: auth_req_id`, false},
		{"device", "op", `^signed decision: approve$`, false},
		{"op", "device", `^decision result: accepted$`, false},
		{"op", "client", `^push notification: access_token, id_token$`, false},
		{"client", "op", `^(200 OK|204 No Content): acknowledged$`, false},
		{"op", "op", `^tokens issued: delivered by push$`, false},
	})
	for _, m := range msgs {
		if m.ClientID != "shop-push" {
			t.Fatalf("--client shop-push showed %+v", m)
		}
	}
	if msgs[5].Spec != "CIBA §10.3.1" {
		t.Fatalf("the push's spec %q", msgs[6].Spec)
	}
	noSecrets(t, "watch --json", push.stdout.String(), decodeJSON(t, res.stdout))
	time.Sleep(500 * time.Millisecond) // past the watch's hold
	if out := nobody.stdout.String(); out != "" {
		t.Fatalf("--user nobody showed:\n%s", out)
	}
}

// TestWatchWithoutOperatorKey: watch on a state directory no serve ever
// used says what to do and exits 1.
func TestWatchWithoutOperatorKey(t *testing.T) {
	p := start(t, nil, "ciba-op", "watch", "--state-dir", t.TempDir())
	if code := p.exitCode(t, 10*time.Second); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(p.stderr.String(), "start ciba-op serve") {
		t.Fatalf("stderr: %s", p.stderr)
	}
}
