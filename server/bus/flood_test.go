package bus

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cibalab/cibalab/shared/channel"
)

// floodFor is how long device A floods in TestFloodIsolation.
const floodFor = 10 * time.Second

// TestFloodIsolation: an enrolled device flooding its decide and pending
// subjects at full speed for floodFor cannot delay or drop another user's
// decisions: device B approves 100 requests meanwhile and every one is
// accepted; the flooding device is told rate_limited. B's decision
// latencies (from sending to the OP's answer, measured by the test's
// clock around each request/reply) are logged, never asserted:
//
//	cd server && go test -race -count=1 -run TestFloodIsolation -v ./bus/
func TestFloodIsolation(t *testing.T) {
	h := newHarness(t)
	a := h.enroll(t, "alice")
	b := h.enroll(t, "bob")

	// A reads its replies to count the refusals it is told about.
	var limited, answered atomic.Int64
	inbox := channel.DeviceInboxPrefix("master", a.id)
	if _, err := a.nc.Subscribe(inbox+".>", func(m *nats.Msg) {
		answered.Add(1)
		if strings.Contains(string(m.Data), `"error":"rate_limited"`) {
			limited.Add(1)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := a.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// A's flood: the same signed decision (of a request A cannot decide)
	// and a pending list, published as fast as the connection takes them,
	// for floodFor and until B is done, but at most 3*floodFor and 50
	// million messages.
	now := time.Now()
	tok := a.sign(t, claims(a.id, "pending-bob-0", "approve", "flood", now))
	decision, _ := json.Marshal(channel.Decision{Version: 1, JWT: tok})
	pending := []byte(`{"v":1}`)
	stop, bDone := make(chan struct{}), make(chan struct{})
	var sent atomic.Int64
	var flooding atomic.Bool
	flooding.Store(true)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer flooding.Store(false)
		start := time.Now()
		decideSubj, pendingSubj := channel.DeviceDecideSubject("master", a.id), channel.DevicePendingSubject("master", a.id)
		for i := 0; i < 50_000_000; i++ {
			if i%1024 == 0 {
				select {
				case <-stop:
					return
				case <-bDone:
					if time.Since(start) >= floodFor {
						return
					}
				default:
				}
				if time.Since(start) >= 3*floodFor {
					return
				}
			}
			subj, data := decideSubj, decision
			if i%2 == 1 {
				subj, data = pendingSubj, pending
			}
			if a.nc.PublishRequest(subj, inbox+".flood", data) == nil {
				sent.Add(1)
			}
		}
	}()
	t.Cleanup(func() { close(stop); wg.Wait() })
	floodStart := time.Now()

	// B approves 100 requests, one every 90 ms, all while A floods.
	time.Sleep(200 * time.Millisecond)
	const n = 100
	lat := make([]time.Duration, 0, n)
	tick := time.NewTicker(90 * time.Millisecond)
	defer tick.Stop()
	var refused []string
	for i := 0; i < n; i++ {
		<-tick.C
		tok := b.sign(t, claims(b.id, fmt.Sprintf("pending-bob-%d", i), "approve", fmt.Sprintf("b-%d", i), time.Now()))
		data, _ := json.Marshal(channel.Decision{Version: 1, JWT: tok})
		start := time.Now()
		msg, err := b.nc.Request(channel.DeviceDecideSubject("master", b.id), data, 10*time.Second)
		if err != nil {
			t.Fatalf("B's decision %d: %v", i, err)
		}
		lat = append(lat, time.Since(start))
		var res channel.DecisionResult
		if err := json.Unmarshal(msg.Data, &res); err != nil || !res.Accepted {
			refused = append(refused, fmt.Sprintf("%d: %s", i, msg.Data))
		}
	}
	floodActive := flooding.Load()
	close(bDone)
	if len(refused) > 0 {
		t.Fatalf("%d of B's %d decisions not accepted: %v", len(refused), n, refused)
	}
	got := 0
	for _, d := range h.dec.decisions() {
		if d.user == "bob" {
			got++
		}
	}
	if got != n {
		t.Fatalf("the OP applied %d of B's %d decisions", got, n)
	}
	wg.Wait()
	floodTime := time.Since(floodStart).Round(time.Millisecond)
	if !floodActive || sent.Load() == 0 {
		t.Fatalf("A's flood did not last while B approved (%d sent)", sent.Load())
	}
	// A was told, not silently ignored.
	deadline := time.Now().Add(5 * time.Second)
	for limited.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if limited.Load() == 0 {
		t.Fatalf("the flooding device was never told rate_limited (%d sent, %d answered)", sent.Load(), answered.Load())
	}
	if !h.op.IsConnected() {
		t.Fatal("the OP's connection was dropped by the flood")
	}
	for _, d := range h.dec.decisions() {
		if d.user == "alice" {
			t.Fatalf("A's flood decided something: %+v", d)
		}
	}
	if !strings.Contains(h.logs.String(), "msg=channel.device_rate_limited device="+a.id) {
		t.Errorf("the flood was not logged:\n%.2000s", h.logs)
	}
	slices.Sort(lat)
	t.Logf("A sent %d messages in %s and got %d answers (%d rate_limited); B: %d/%d accepted, latency p50 %s, p95 %s, max %s",
		sent.Load(), floodTime, answered.Load(), limited.Load(), got, n,
		lat[n/2].Round(time.Microsecond), lat[n*95/100-1].Round(time.Microsecond), lat[n-1].Round(time.Microsecond))
}
