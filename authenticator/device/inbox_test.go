package device_test

import (
	"testing"
	"time"

	"github.com/cibalab/cibalab/authenticator/device"
	"github.com/cibalab/cibalab/authenticator/internal/fakeop"
)

// decideAll reads requests from d and has the OP mark each decided, as a
// user answering them would, until every id of want was delivered; it
// fails after timeout, on an id delivered twice, or on a request closed
// as gone (the device took a cut list for the whole).
func decideAll(t *testing.T, op *fakeop.OP, d *device.Device, want map[string]bool, timeout time.Duration) {
	t.Helper()
	got := map[string]bool{}
	deadline := time.After(timeout)
	for len(got) < len(want) {
		select {
		case r, ok := <-d.Requests():
			if !ok {
				t.Fatal("requests channel closed")
			}
			if got[r.AuthReqID] {
				t.Fatalf("request %s delivered twice", r.AuthReqID)
			}
			got[r.AuthReqID] = true
			op.CloseRequest(t, r.AuthReqID, "approved")
		case c := <-d.Closed():
			if c.Reason == device.ClosedGone {
				t.Fatalf("request %s closed as gone although the list was cut short", c.AuthReqID)
			}
		case <-deadline:
			t.Fatalf("%d of %d requests delivered after %v", len(got), len(want), timeout)
		}
	}
}

// TestDeviceListsAgainWhatItDropped: more requests announced than the
// device queues (1,024) while nobody reads are dropped at first (by the
// queue, or by NATS for a slow consumer), then listed again once the
// reader has taken some: every one is delivered, once.
func TestDeviceListsAgainWhatItDropped(t *testing.T) {
	// Lists cut at 100, as the OP cuts them to fit one NATS message.
	op := fakeop.Start(t, fakeop.Config{Users: users, ListLimit: 100})
	d := connect(t, op, device.Config{})
	const n = 1500
	want := map[string]bool{}
	for range n {
		r := op.NewRequest("alice", "x")
		want[r.AuthReqID] = true
		op.Announce(t, r)
	}
	decideAll(t, op, d, want, 30*time.Second)
}

// TestDeviceFollowsACutList: an OP list cut short (More) is not taken for
// the whole: nothing left out is closed as gone, and the rest is listed
// again until every pending request was delivered.
func TestDeviceFollowsACutList(t *testing.T) {
	op := fakeop.Start(t, fakeop.Config{Users: users, ListLimit: 10})
	want := map[string]bool{}
	for range 25 {
		want[op.NewRequest("alice", "x").AuthReqID] = true
	}
	d := connect(t, op, device.Config{})
	// The first list holds the 10 oldest; the device lists again as they
	// are decided, and each list holds the 10 oldest still pending.
	decideAll(t, op, d, want, 30*time.Second)
}
