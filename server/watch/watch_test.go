package watch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cibalab/cibalab/server/op"
	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/oauth"
)

// authReqID is the secret the events never carry; ref is what they do.
const authReqID = "kX9-very-secret-auth-req-id-Zq"

var (
	ref = oauth.ReqRef(authReqID)
	t0  = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
)

// ev builds an event of the flow at ms milliseconds after t0, lasting
// took ms when it is an exchange or a notification.
func ev(typ string, ms, took int, set func(*channel.Event)) channel.Event {
	at := t0.Add(time.Duration(ms) * time.Millisecond)
	e := channel.Event{Version: channel.Version, Type: typ, Time: at.UnixMilli(), AtMicros: at.UnixMicro(),
		TookMicros: int64(took) * 1000, ReqRef: ref, ClientID: "shop", User: "alice"}
	if typ == channel.EventExchange || typ == channel.EventNotification {
		e.User = "" // as the OP publishes them
	}
	if set != nil {
		set(&e)
	}
	return e
}

func exchange(endpoint string, ms, took, status int, code string) channel.Event {
	return ev(channel.EventExchange, ms, took, func(e *channel.Event) {
		e.Endpoint, e.Status, e.Error = endpoint, status, code
		if endpoint == "token" {
			e.GrantType = oauth.GrantTypeCIBA
		}
	})
}

// pollApprove is an approved poll flow's events in the order the OP
// publishes them: a request's lifecycle events come before the exchange
// during which they happened.
func pollApprove() []channel.Event {
	return []channel.Event{
		ev(channel.EventRequestCreated, 2, 0, nil),
		ev(channel.EventRequestAnnounced, 3, 0, nil),
		exchange("bc-authorize", 5, 5, 200, ""),
		exchange("token", 1005, 2, 400, oauth.ErrAuthorizationPending),
		exchange("token", 2005, 2, 400, oauth.ErrSlowDown),
		ev(channel.EventDecisionAccepted, 2500, 0, func(e *channel.Event) { e.Detail = channel.VerdictApprove }),
		ev(channel.EventTokenIssued, 7004, 0, func(e *channel.Event) { e.Detail = "poll" }),
		exchange("token", 7006, 3, 200, ""),
	}
}

// step is what a test expects of a message: from, to and a part of its label.
type step struct {
	from, to Party
	label    string
	spec     string
}

var pollSteps = []step{
	{Client, OP, "POST /bc-authorize", "CIBA §7.1, RFC 8705 §2"},
	{OP, Device, "authentication request", "CIBA §8"},
	{OP, Client, "200 OK → auth_req_id " + ref + "…", "CIBA §7.3"},
	{Client, OP, "POST /token", "CIBA §10.1"},
	{OP, Client, "400 Bad Request → authorization_pending", "CIBA §11"},
	{Client, OP, "POST /token", "CIBA §10.1"},
	{OP, Client, "400 Bad Request → slow_down", "CIBA §11"},
	{Device, OP, "signed decision → approve", "CIBA §8"},
	{OP, Device, "decision result → accepted", "CIBA §8"},
	{Client, OP, "POST /token", "CIBA §10.1"},
	{OP, OP, "tokens issued", "CIBA §10.1.1"},
	{OP, Client, "200 OK → access_token", "CIBA §10.1.1, RFC 8705 §3"},
}

func track(t *testing.T, cfg TrackerConfig, events []channel.Event) (*Tracker, []Released) {
	t.Helper()
	tr := NewTracker(cfg)
	for _, e := range events {
		tr.Add(e, t0)
	}
	if got := tr.Release(t0.Add(100*time.Millisecond), false); len(got) != 0 {
		t.Fatalf("released %d messages before they were held long enough", len(got))
	}
	return tr, tr.Release(t0.Add(time.Second), false)
}

func checkSteps(t *testing.T, got []Released, want []step) {
	t.Helper()
	if len(got) != len(want) {
		for _, r := range got {
			t.Logf("%s → %s %s", r.Message.From, r.Message.To, r.Message.Label())
		}
		t.Fatalf("%d messages, want %d", len(got), len(want))
	}
	for i, w := range want {
		m := got[i].Message
		if m.From != w.from || m.To != w.to || !strings.Contains(m.Label(), w.label) || m.Spec != w.spec {
			t.Errorf("message %d: %s → %s %q [%s], want %s → %s %q [%s]", i+1, m.From, m.To, m.Label(), m.Spec, w.from, w.to, w.label, w.spec)
		}
		if got[i].N != i+1 || got[i].First != (i == 0) {
			t.Errorf("message %d numbered %d (first %v)", i+1, got[i].N, got[i].First)
		}
	}
}

// TestPollFlowInOrder: the messages of an approved poll flow come out in
// the order they were sent, whatever the order the events arrived in,
// with the flow's client and user on every message.
func TestPollFlowInOrder(t *testing.T) {
	tr, got := track(t, TrackerConfig{}, pollApprove())
	checkSteps(t, got, pollSteps)
	f := tr.Flows()
	if len(f) != 1 || f[0].Req != ref || f[0].ClientID != "shop" || f[0].User != "alice" || f[0].Mode != "poll" || f[0].Outcome != "tokens" {
		t.Fatalf("flows %+v", f)
	}
	for _, r := range got {
		if r.Message.ClientID != "shop" || r.Message.User != "alice" || r.Message.Req != ref {
			t.Fatalf("message %+v lacks its flow's client, user or req", r.Message)
		}
	}
	if d := f[0].Since(got[len(got)-1].Message); d != 7006*time.Millisecond {
		t.Fatalf("last message at +%s, want +7.006s", d)
	}
}

// TestPingAndPushFlows: ping (notification, then the token request) and
// a denied push (the error pushed names access_denied).
func TestPingAndPushFlows(t *testing.T) {
	ping := []channel.Event{
		ev(channel.EventRequestCreated, 2, 0, nil),
		ev(channel.EventRequestAnnounced, 3, 0, nil),
		exchange("bc-authorize", 5, 5, 200, ""),
		ev(channel.EventDecisionAccepted, 900, 0, func(e *channel.Event) { e.Detail = channel.VerdictApprove }),
		// The client asks for its tokens before the OP sees its 204.
		ev(channel.EventTokenIssued, 1003, 0, func(e *channel.Event) { e.Detail = "poll" }),
		exchange("token", 1005, 3, 200, ""),
		ev(channel.EventNotification, 1010, 10, func(e *channel.Event) { e.Mode, e.Kind, e.Status = "ping", "ping", 204 }),
	}
	tr, got := track(t, TrackerConfig{}, ping)
	checkSteps(t, got, []step{
		{Client, OP, "POST /bc-authorize", "CIBA §7.1, RFC 8705 §2"},
		{OP, Device, "authentication request", "CIBA §8"},
		{OP, Client, "200 OK", "CIBA §7.3"},
		{Device, OP, "signed decision → approve", "CIBA §8"},
		{OP, Device, "decision result → accepted", "CIBA §8"},
		{OP, Client, "ping notification → auth_req_id " + ref, "CIBA §10.2"},
		{Client, OP, "POST /token", "CIBA §10.1"},
		{OP, OP, "tokens issued", "CIBA §10.1.1"},
		{OP, Client, "200 OK → access_token", "CIBA §10.1.1, RFC 8705 §3"},
		{Client, OP, "204 No Content → acknowledged", "CIBA §10.2"},
	})
	if f := tr.Flows()[0]; f.Mode != "ping" || f.Outcome != "tokens" {
		t.Fatalf("ping flow %+v", f)
	}

	push := []channel.Event{
		ev(channel.EventRequestCreated, 2, 0, nil),
		ev(channel.EventRequestAnnounced, 3, 0, nil),
		exchange("bc-authorize", 5, 5, 200, ""),
		ev(channel.EventDecisionAccepted, 900, 0, func(e *channel.Event) { e.Detail = channel.VerdictDeny }),
		ev(channel.EventNotification, 950, 20, func(e *channel.Event) { e.Mode, e.Kind, e.Status = "push", "error", 500; e.Error = "answered 500" }),
	}
	tr, got = track(t, TrackerConfig{}, push)
	checkSteps(t, got, []step{
		{Client, OP, "POST /bc-authorize", "CIBA §7.1, RFC 8705 §2"},
		{OP, Device, "authentication request", "CIBA §8"},
		{OP, Client, "200 OK", "CIBA §7.3"},
		{Device, OP, "signed decision → deny", "CIBA §8"},
		{OP, Device, "decision result → accepted", "CIBA §8"},
		{OP, Client, "push notification → access_denied", "CIBA §12"},
		{Client, OP, "500 Internal Server Error → delivery failed", "CIBA §10.3"},
	})
	if f := tr.Flows()[0]; f.Mode != "push" || f.Verdict != "deny" || f.Outcome != "denied" {
		t.Fatalf("push flow %+v", f)
	}
	if !got[len(got)-1].Message.Failed || !got[5].Message.Failed {
		t.Fatal("the denial and the failed delivery are not marked failed")
	}
}

// TestRefusedAndFiltered: a refused bc-authorize is a flow of its own
// (no request); filters select flows by client, user and request.
func TestRefusedAndFiltered(t *testing.T) {
	refused := exchange("bc-authorize", 1, 1, 400, oauth.ErrUnknownUserID)
	refused.ReqRef = ""
	other := pollApprove()
	for i := range other {
		other[i].ReqRef, other[i].ClientID = "0badf00d", "other-client"
		if other[i].User != "" {
			other[i].User = "bob"
		}
	}
	all := append(append(pollApprove(), other...), refused, ev("device.enrolled", 1, 0, func(e *channel.Event) { e.ReqRef = "" }))
	for _, c := range []struct {
		name   string
		filter Filter
		flows  int
	}{
		{"none", Filter{}, 3},
		{"client", Filter{ClientID: "shop"}, 2}, // the refused one is shop's too
		{"user", Filter{User: "alice"}, 1},
		{"req", Filter{Req: "0badf00d"}, 1},
		{"nothing", Filter{User: "carol"}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr, got := track(t, TrackerConfig{Filter: c.filter}, all)
			if n := len(tr.Flows()); n != c.flows {
				t.Fatalf("%d flows, want %d", n, c.flows)
			}
			for _, r := range got {
				if !c.filter.match(r.Flow) {
					t.Fatalf("released %+v, which the filter does not select", r.Message)
				}
			}
		})
	}
	_, got := track(t, TrackerConfig{Filter: Filter{ClientID: "shop", User: ""}}, []channel.Event{refused})
	if len(got) != 2 || got[1].Message.Label() != "400 Bad Request → unknown_user_id" || got[1].Message.Spec != "CIBA §13" || !got[1].Message.Failed {
		t.Fatalf("refused bc-authorize: %+v", got)
	}
}

// TestFlowKeepsMaxMessages: a flow keeps MaxMessages messages, counts
// the others and still releases them, numbered.
func TestFlowKeepsMaxMessages(t *testing.T) {
	tr := NewTracker(TrackerConfig{})
	for i := range MaxMessages {
		tr.Add(exchange("token", 1000+i, 1, 400, oauth.ErrAuthorizationPending), t0)
	}
	rs := tr.Release(t0, true)
	if len(rs) != 2*MaxMessages || rs[len(rs)-1].N != 2*MaxMessages {
		t.Fatalf("released %d messages, the last numbered %d", len(rs), rs[len(rs)-1].N)
	}
	f := tr.Flows()[0]
	if len(f.Messages) != MaxMessages || f.Dropped != MaxMessages {
		t.Fatalf("kept %d, dropped %d", len(f.Messages), f.Dropped)
	}
	var b bytes.Buffer
	Transcript(&b, "x", tr.Flows())
	if !strings.Contains(b.String(), "400 later messages are not shown.") {
		t.Fatal("the transcript does not say messages were left out")
	}
}

// TestTrackerForgetsOldFlows: memory is bounded by MaxFlows.
func TestTrackerForgetsOldFlows(t *testing.T) {
	tr := NewTracker(TrackerConfig{MaxFlows: 3})
	for i := range 10 {
		e := ev(channel.EventRequestAnnounced, i, 0, nil)
		e.ReqRef = oauth.ReqRef(string(rune('a' + i)))
		tr.Add(e, t0)
	}
	tr.Release(t0, true)
	if n := len(tr.Flows()); n != 3 {
		t.Fatalf("%d flows remembered, want 3", n)
	}
}

func printAll(t *testing.T, p Printer, rs []Released) {
	t.Helper()
	for _, r := range rs {
		if err := p.Print(r); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOutputs: the three live outputs and the transcript show every step
// in order and never the auth_req_id.
func TestOutputs(t *testing.T) {
	tr, rs := track(t, TrackerConfig{}, pollApprove())
	t.Run("json", func(t *testing.T) {
		var b bytes.Buffer
		printAll(t, JSONLines{W: &b}, rs)
		lines := strings.Split(strings.TrimSpace(b.String()), "\n")
		if len(lines) != len(pollSteps) {
			t.Fatalf("%d lines, want %d", len(lines), len(pollSteps))
		}
		for i, l := range lines {
			var m JSONMessage
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("line %d is not JSON: %s", i+1, l)
			}
			w := pollSteps[i]
			if m.From != w.from || m.To != w.to || m.Spec != w.spec || m.N != i+1 || m.Req != ref || m.ClientID != "shop" {
				t.Fatalf("line %d: %s", i+1, l)
			}
			if wantType := map[bool]string{true: "note", false: "message"}[w.from == w.to]; m.Type != wantType {
				t.Fatalf("line %d type %q, want %q", i+1, m.Type, wantType)
			}
		}
		if !strings.Contains(lines[len(lines)-1], `"t":7.006`) {
			t.Fatalf("last line's relative time: %s", lines[len(lines)-1])
		}
	})
	t.Run("lines", func(t *testing.T) {
		var b bytes.Buffer
		printAll(t, Lines{W: &b}, rs)
		lines := strings.Split(strings.TrimSpace(b.String()), "\n")
		if len(lines) != len(pollSteps) {
			t.Fatalf("%d lines, want %d:\n%s", len(lines), len(pollSteps), b.String())
		}
		if want := ref + "   +1.003s  client → op       POST /token  [CIBA §10.1]"; lines[3] != want {
			t.Fatalf("line 4:\n%q\nwant\n%q", lines[3], want)
		}
		if want := ref + "   +7.006s  op → client       200 OK: access_token (cert-bound), id_token  [CIBA §10.1.1, RFC 8705 §3]"; lines[11] != want {
			t.Fatalf("line 12:\n%q\nwant\n%q", lines[11], want)
		}
	})
	t.Run("diagram", func(t *testing.T) {
		var b bytes.Buffer
		d := &Diagram{W: &b, Width: 140}
		printAll(t, d, rs)
		out := b.String()
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		// A header naming the three lifelines, a flow line, then one row
		// per message.
		if len(lines) != 2+len(pollSteps) {
			t.Fatalf("%d lines, want %d:\n%s", len(lines), 2+len(pollSteps), out)
		}
		for _, name := range []string{"Consumption device", "OP", "Authentication device"} {
			if !strings.Contains(lines[0], name) {
				t.Fatalf("header %q lacks %q", lines[0], name)
			}
		}
		if !strings.Contains(lines[1], ref) || !strings.Contains(lines[1], "client shop") || !strings.Contains(lines[1], "user alice") {
			t.Fatalf("flow line %q", lines[1])
		}
		lane := d.lane()
		for i, l := range lines[2:] {
			row := []rune(l)
			base := diagramMargin
			w := pollSteps[i]
			// The arrow's head points at its receiver's lifeline.
			col := map[Party]int{Client: base, OP: base + lane + 1, Device: base + 2*lane + 2}
			switch {
			case w.from == w.to:
				if row[col[w.from]] != '●' {
					t.Errorf("row %d: no note on %s's lifeline: %q", i+1, w.from, l)
				}
			case col[w.to] > col[w.from]:
				if row[col[w.to]-1] != '▶' || row[col[w.to]] != '│' {
					t.Errorf("row %d: no arrow to %s: %q", i+1, w.to, l)
				}
			default:
				if row[col[w.to]+1] != '◀' || row[col[w.to]] != '│' {
					t.Errorf("row %d: no arrow to %s: %q", i+1, w.to, l)
				}
			}
			if !strings.HasSuffix(l, w.spec) {
				t.Errorf("row %d does not end with its spec %q: %q", i+1, w.spec, l)
			}
		}
		if !strings.Contains(lines[2+4], "authorization_pending") || !strings.Contains(lines[2+4], "+1.005s") {
			t.Fatalf("row 5: %q", lines[2+4])
		}
	})
	t.Run("transcript", func(t *testing.T) {
		var b bytes.Buffer
		if err := Transcript(&b, "Poll", tr.Flows()); err != nil {
			t.Fatal(err)
		}
		checkTranscript(t, b.String(), pollSteps)
	})
}

var arrowRE = regexp.MustCompile(`^    (CD|OP|AD)(-->>|->>)(CD|OP|AD): (.+)$`)
var noteRE = regexp.MustCompile(`^    Note over (CD|OP|AD): (.+)$`)

// checkTranscript checks that md holds one Mermaid sequenceDiagram whose
// statements are want, in order, and a table with a row per step.
func checkTranscript(t *testing.T, md string, want []step) {
	t.Helper()
	start := strings.Index(md, "```mermaid\nsequenceDiagram\n")
	if start < 0 {
		t.Fatalf("no mermaid sequenceDiagram block:\n%s", md)
	}
	body := md[start+len("```mermaid\nsequenceDiagram\n"):]
	end := strings.Index(body, "```")
	if end < 0 {
		t.Fatal("the mermaid block is not closed")
	}
	ids := map[Party]string{Client: "CD", OP: "OP", Device: "AD"}
	var stmts []string
	for _, l := range strings.Split(strings.TrimRight(body[:end], "\n"), "\n") {
		switch {
		case l == "    autonumber", strings.HasPrefix(l, "    participant "):
		case arrowRE.MatchString(l), noteRE.MatchString(l):
			if strings.ContainsAny(strings.SplitN(l, ": ", 2)[1], ";#<>") {
				t.Fatalf("mermaid statement with syntax characters: %q", l)
			}
			stmts = append(stmts, l)
		default:
			t.Fatalf("not a sequenceDiagram statement: %q", l)
		}
	}
	if len(stmts) != len(want) {
		t.Fatalf("%d statements, want %d:\n%s", len(stmts), len(want), body[:end])
	}
	for i, w := range want {
		var ok bool
		if w.from == w.to {
			m := noteRE.FindStringSubmatch(stmts[i])
			ok = m != nil && m[1] == ids[w.from] && strings.Contains(m[2], w.label) && strings.Contains(m[2], "("+w.spec+")")
		} else {
			m := arrowRE.FindStringSubmatch(stmts[i])
			ok = m != nil && m[1] == ids[w.from] && m[3] == ids[w.to] && strings.Contains(m[4], w.label) && strings.Contains(m[4], "("+w.spec+")")
		}
		if !ok {
			t.Errorf("statement %d %q, want %s → %s %q (%s)", i+1, stmts[i], w.from, w.to, w.label, w.spec)
		}
	}
	rows := regexp.MustCompile(`(?m)^\| \d+ \| \d+\.\d{3} \| `).FindAllString(md, -1)
	if len(rows) != len(want) {
		t.Fatalf("%d table rows, want %d", len(rows), len(want))
	}
}

// TestNoSecretShown: whatever an event says, no output shows more than
// the reference of the auth_req_id.
func TestNoSecretShown(t *testing.T) {
	tr, rs := track(t, TrackerConfig{}, pollApprove())
	var b bytes.Buffer
	printAll(t, JSONLines{W: &b}, rs)
	printAll(t, Lines{W: &b}, rs)
	printAll(t, &Diagram{W: &b}, rs)
	Transcript(&b, "x", tr.Flows())
	if strings.Contains(b.String(), authReqID) || strings.Contains(b.String(), authReqID[:12]) {
		t.Fatal("an output shows the auth_req_id")
	}
}

// TestMermaidText: Mermaid syntax characters in labels are replaced.
func TestMermaidText(t *testing.T) {
	if got := mermaidText("a;b#c<d>e\nf"); got != "a,bno. c‹d›e f" {
		t.Fatalf("mermaidText = %q", got)
	}
	if got := cell("a|b\nc"); got != `a\|b c` {
		t.Fatalf("cell = %q", got)
	}
}

// events records what a Publisher publishes.
type events struct {
	watched bool
	got     []channel.Event
}

func (e *events) Watched() bool                             { return e.watched }
func (e *events) Event(_ context.Context, ev channel.Event) { e.got = append(e.got, ev) }

// TestPublisher: the exchanges of a flow and the notifications are
// published, others and anything while nobody watches are not.
func TestPublisher(t *testing.T) {
	sink := &events{}
	p := NewPublisher(sink)
	ctx := context.Background()
	bc := op.Exchange{Endpoint: op.EndpointBCAuthorize, ClientID: "shop", Req: ref, Status: 200, Start: t0, Duration: 3 * time.Millisecond}
	p.Exchange(ctx, bc)
	if len(sink.got) != 0 {
		t.Fatal("published with nobody watching")
	}
	sink.watched = true
	p.Exchange(ctx, bc)
	p.Exchange(ctx, op.Exchange{Endpoint: op.EndpointJWKS, Status: 200, Start: t0})
	p.Exchange(ctx, op.Exchange{Endpoint: op.EndpointToken, GrantType: "refresh_token", Status: 200, Start: t0})
	p.Exchange(ctx, op.Exchange{Endpoint: op.EndpointToken, GrantType: oauth.GrantTypeCIBA, Req: ref, Status: 400, Error: oauth.ErrSlowDown, Start: t0})
	p.Notification(ctx, op.Notification{Mode: op.NotifyPing, Kind: op.KindPing, ClientID: "shop", Req: ref,
		Err: errors.New(strings.Repeat("é", 500)), Start: t0, Duration: time.Second})
	if len(sink.got) != 3 {
		t.Fatalf("published %d events, want 3 (bc-authorize, the CIBA token request, the ping): %+v", len(sink.got), sink.got)
	}
	if e := sink.got[0]; e.Type != channel.EventExchange || e.Endpoint != "bc-authorize" || e.ReqRef != ref || e.TookMicros != 3000 ||
		e.AtMicros != t0.Add(3*time.Millisecond).UnixMicro() || e.Status != 200 || e.ClientID != "shop" {
		t.Fatalf("bc-authorize event %+v", e)
	}
	if e := sink.got[1]; e.Error != oauth.ErrSlowDown || e.GrantType != oauth.GrantTypeCIBA {
		t.Fatalf("token event %+v", e)
	}
	if e := sink.got[2]; e.Type != channel.EventNotification || e.Mode != "ping" || len([]rune(e.Error)) != maxErrorLen+1 || !utf8.ValidString(e.Error) {
		t.Fatalf("notification event %+v", e)
	}
}
