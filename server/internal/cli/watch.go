package cli

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/term"

	"github.com/cibalab/cibalab/server/bus"
	"github.com/cibalab/cibalab/server/oprun"
	"github.com/cibalab/cibalab/server/watch"
	"github.com/cibalab/cibalab/shared/channel"
)

const watchSummary = `Shows every backchannel authentication flow of a running ciba-op serve as it
happens, as a sequence diagram with three lifelines: the consumption device
(the client), the OP and the authentication device. Each arrow is a real
message (bc-authorize and its acknowledgement, each poll and its answer, the
request sent to the device, its signed decision, ping and push
notifications, tokens, errors), labelled with its outcome and the section of
the spec that defines it, with the time since the flow's first message.
Flows are told apart by their request reference (req: a hash of the
auth_req_id, which is never shown, nor any token or secret).

It reads the OP's event stream over NATS as the operator, with the nkey seed
serve keeps in STATE-DIR/operator.nk (mode 0600; the operator may read the
event stream and nothing else), at the NATS URL serve wrote in
STATE-DIR/nats.url: on the defaults it needs no flag. On a terminal it draws
the diagram; otherwise it prints one line per message; with --json, one JSON
document per message (JSON Lines). --record FILE also writes the flows seen
as Markdown, a Mermaid sequenceDiagram and a table per flow, rewritten as
they go. It runs until SIGINT or SIGTERM, and then exits 130.`

// watchOptions are the flags of "ciba-op watch".
type watchOptions struct {
	stateDir string
	natsURL  string
	realm    string
	client   string
	user     string
	req      string
	asJSON   bool
	record   string
}

// runWatch implements "ciba-op watch".
func runWatch(ctx context.Context, e Env, args []string) int {
	var o watchOptions
	c := newCommand("watch", "watch [flags]", watchSummary)
	c.stateDirVar(&o.stateDir)
	c.stringVar(&o.natsURL, "nats-url", "CIBA_OP_WATCH_NATS_URL", "", "the OP's NATS server `URL`; default: the one serve wrote in STATE-DIR/nats.url, else nats://127.0.0.1:4222")
	c.stringVar(&o.realm, "realm", "CIBA_OP_REALM", "master", "the OP's `REALM`")
	c.stringVar(&o.client, "client", "", "", "show only the flows of client `ID`")
	c.stringVar(&o.user, "user", "", "", "show only the flows of user `ID`")
	c.stringVar(&o.req, "req", "", "", "show only the flow of request `REF`: its req reference (8 hex digits), as the client and the logs show it")
	c.boolVar(&o.asJSON, "json", "print one JSON document per message (JSON Lines)")
	c.stringVar(&o.record, "record", "", "", "also write the flows seen to `FILE` as Markdown with a Mermaid sequence diagram per flow")
	if code, ok := c.parse(e, args); !ok {
		return code
	}
	if err := channel.ValidRealm(o.realm); err != nil {
		return c.usageError(e, "--realm: "+err.Error())
	}
	if o.req != "" && !validRef(o.req) {
		// Never an auth_req_id: a bearer secret until redeemed, it would
		// show in ps.
		return c.usageError(e, fmt.Sprintf("--req %q: want a request reference, 8 hex digits (req=... in the logs and the client's output)", o.req))
	}
	filter := watch.Filter{ClientID: o.client, User: o.user, Req: o.req}
	url := o.natsURL
	if url == "" {
		url = discoveredNATSURL(o.stateDir)
	}
	seedPath := filepath.Join(o.stateDir, bus.OperatorSeedFile)
	kp, err := bus.ReadOperatorSeed(seedPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("no operator nkey in %s: start ciba-op serve (with the embedded NATS server) on this state directory first", o.stateDir)
		}
		return c.fail(e, exitError, err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return c.fail(e, exitError, err)
	}
	nc, err := nats.Connect(url, nats.Name("ciba-op watch"), nats.Nkey(pub, kp.Sign), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: closed by us
				fmt.Fprintf(e.Stderr, "ciba-op watch: disconnected from NATS (%v); reconnecting\n", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { fmt.Fprintln(e.Stderr, "ciba-op watch: reconnected") }))
	if err != nil {
		return c.fail(e, exitError, fmt.Errorf("cannot connect to NATS at %s as the operator (is ciba-op serve running on this state directory?): %w", oprun.WithoutCredentials(url), err))
	}
	defer nc.Close()
	events := make(chan channel.Event, 1024)
	var dropped atomic.Int64
	sub, err := nc.Subscribe(channel.EventsSubject(o.realm), func(m *nats.Msg) {
		var ev channel.Event
		if json.Unmarshal(m.Data, &ev) != nil {
			return
		}
		select {
		case events <- ev:
		default: // the view cannot keep up: drop rather than block NATS
			dropped.Add(1)
		}
	})
	if err == nil {
		err = nc.Flush()
	}
	if err == nil {
		err = nc.LastError()
	}
	if err != nil {
		return c.fail(e, exitError, fmt.Errorf("subscribe to the event stream: %w", err))
	}
	defer sub.Unsubscribe()
	fmt.Fprintf(e.Stderr, "ciba-op watch: watching the flows of realm %s at %s; Ctrl-C to stop\n", o.realm, oprun.WithoutCredentials(url))

	if err := watchLoop(ctx, e, o, filter, events, &dropped); err != nil {
		return c.fail(e, exitError, err)
	}
	// watch ends only when it is stopped: SIGINT or SIGTERM, exit code 130
	// as for every program (docs/cli.md).
	return exitInterrupted
}

// watchLoop releases the flows' messages to the chosen printer (and the
// transcript) until ctx is done.
func watchLoop(ctx context.Context, e Env, o watchOptions, filter watch.Filter, events <-chan channel.Event, dropped *atomic.Int64) error {
	now := e.Now
	if now == nil {
		now = time.Now
	}
	t := watch.NewTracker(watch.TrackerConfig{Filter: filter})
	p := printerFor(e.Stdout, o.asJSON, e.getenv("NO_COLOR") == "")
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	release := func(all bool) error {
		rs := t.Release(now(), all)
		for _, r := range rs {
			if err := p.Print(r); err != nil {
				return err
			}
		}
		if o.record != "" && (len(rs) > 0 || all) {
			return writeTranscript(o.record, transcriptTitle(filter), t.Flows())
		}
		return nil
	}
	if o.record != "" {
		if err := writeTranscript(o.record, transcriptTitle(filter), nil); err != nil {
			return err
		}
	}
	for {
		select {
		case <-ctx.Done():
			// Take what arrived, then release everything.
		drain:
			for range cap(events) {
				select {
				case ev := <-events:
					t.Add(ev, now())
				default:
					break drain
				}
			}
			return release(true)
		case ev := <-events:
			t.Add(ev, now())
		case <-tick.C:
			if err := release(false); err != nil {
				return err
			}
			// Say so when events were lost, so that a flow drawn
			// without some of its arrows is not taken for the whole.
			if n := dropped.Swap(0); n > 0 {
				fmt.Fprintf(e.Stderr, "ciba-op watch: %d events dropped: the view fell behind the OP\n", n)
			}
		}
	}
}

// printerFor picks the output: JSON Lines, the diagram on a terminal, or
// one line per message.
func printerFor(w io.Writer, asJSON, color bool) watch.Printer {
	if asJSON {
		return watch.JSONLines{W: w}
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		width, _, err := term.GetSize(int(f.Fd()))
		if err != nil {
			width = 0
		}
		return &watch.Diagram{W: w, Width: width, Color: color}
	}
	return watch.Lines{W: w}
}

// transcriptTitle names the flows a transcript holds.
func transcriptTitle(f watch.Filter) string {
	title := "CIBA flows"
	var of []string
	if f.ClientID != "" {
		of = append(of, "client "+f.ClientID)
	}
	if f.User != "" {
		of = append(of, "user "+f.User)
	}
	if f.Req != "" {
		of = append(of, "request "+f.Req)
	}
	if len(of) > 0 {
		title += " of " + strings.Join(of, ", ")
	}
	return title
}

// writeTranscript replaces path with the transcript of flows.
func writeTranscript(path, title string, flows []*watch.Flow) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("--record: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := watch.Transcript(tmp, title, flows); err != nil {
		tmp.Close()
		return fmt.Errorf("--record: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("--record: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("--record: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("--record: %w", err)
	}
	return nil
}

// validRef reports whether s is a request reference (oauth.ReqRef): 8
// lower-case hex digits.
func validRef(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil && len(s) == 8 && strings.ToLower(s) == s
}

// discoveredNATSURL is the NATS URL a serve on dir wrote, or the default.
func discoveredNATSURL(dir string) string {
	if b, err := os.ReadFile(filepath.Join(dir, bus.NATSURLFile)); err == nil {
		if u := strings.TrimSpace(string(b)); strings.HasPrefix(u, "nats://") {
			return u
		}
	}
	return "nats://127.0.0.1:4222"
}
