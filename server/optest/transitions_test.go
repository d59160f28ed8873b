package optest_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cibalab/cibalab/server/optest"
	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/oauth"
)

// lockedBuffer is a log destination safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTransitionsReachLogAndEventsOnce: every transition of a request is
// logged once, under its stable name and the request's reference, and
// the NATS event stream carries the same steps once each, in order: one
// sink feeds both.
func TestTransitionsReachLogAndEventsOnce(t *testing.T) {
	logs := &lockedBuffer{}
	s := optest.NewServer(t, optest.Logger(slog.New(slog.NewTextHandler(logs, nil))))
	sub, err := s.OP.NATS.SubscribeSync(channel.EventsSubject("master"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.OP.NATS.Flush(); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	id := startCIBA(t, s, optest.DefaultClientID, optest.DefaultUser, "Order 7")
	if err := s.Approve(ctx, id); err != nil {
		t.Fatal(err)
	}
	wantTokens(t, poll(t, s, optest.DefaultClientID, id))
	ref := oauth.ReqRef(id)

	// The transitions' events; the stream also carries the messages
	// (request.announced, exchange), which are not transitions.
	transition := func(m *nats.Msg) (string, bool) {
		var e channel.Event
		if err := json.Unmarshal(m.Data, &e); err != nil {
			t.Fatal(err)
		}
		switch e.Type {
		case channel.EventRequestAnnounced, channel.EventExchange, channel.EventNotification:
			return "", false
		}
		return e.Type + " " + e.Detail, e.ReqRef == ref
	}
	var got []string
	for len(got) < 3 {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("events so far %v: %v", got, err)
		}
		if e, ok := transition(m); ok {
			got = append(got, e)
		}
	}
	want := []string{channel.EventRequestCreated + " ", channel.EventDecisionAccepted + " approve", channel.EventTokenIssued + " poll"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("events %q, want %q", got, want)
	}
	for {
		m, err := sub.NextMsg(300 * time.Millisecond)
		if err != nil {
			break
		}
		if e, ok := transition(m); ok {
			t.Fatalf("one event too many: %s", e)
		}
	}
	for _, name := range []string{"authreq.created", "authreq.approved", "authreq.redeemed"} {
		n := 0
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "msg="+name+" ") && strings.Contains(line, " req="+ref+" ") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s of req=%s logged %d times, want once:\n%s", name, ref, n, logs.String())
		}
	}
	if strings.Contains(logs.String(), id) {
		t.Fatal("the log carries the whole auth_req_id")
	}
}
