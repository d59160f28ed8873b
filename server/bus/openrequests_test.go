package bus

import (
	"fmt"
	"testing"
	"time"

	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/oauth"
)

func openReq(i int) channel.AuthRequest {
	return channel.AuthRequest{AuthReqID: fmt.Sprint("req-", i), User: "user", ExpiresAt: int64(1000 + i)}
}

// TestOpenRequestsBounded: beyond maxOpen the oldest announced request
// still open is forgotten, never a newer one; closed ones leave no trace,
// and the queue of the order stays within a few times the open ones.
func TestOpenRequestsBounded(t *testing.T) {
	o := openRequests{m: map[string]openRequest{}}
	for i := range maxOpen {
		o.add(openReq(i))
	}
	// Close every other one of the first hundred: the oldest open ones
	// are then the odd ones.
	for i := 0; i < 100; i += 2 {
		if _, ok := o.take(oauth.ReqRef(openReq(i).AuthReqID), "user"); !ok {
			t.Fatalf("req-%d not open", i)
		}
	}
	if _, ok := o.take(oauth.ReqRef(openReq(1).AuthReqID), "other"); ok {
		t.Fatal("another user's take succeeded")
	}
	for i := maxOpen; i < maxOpen+50+3; i++ { // fills the 50 places, then 3 more
		o.add(openReq(i))
	}
	if len(o.m) != maxOpen {
		t.Fatalf("%d open, want %d", len(o.m), maxOpen)
	}
	for _, i := range []int{1, 3, 5} {
		if _, ok := o.m[oauth.ReqRef(openReq(i).AuthReqID)]; ok {
			t.Fatalf("req-%d, among the oldest, was kept", i)
		}
	}
	for _, i := range []int{7, 99, 100, maxOpen + 52} {
		if _, ok := o.m[oauth.ReqRef(openReq(i).AuthReqID)]; !ok {
			t.Fatalf("req-%d was forgotten before older ones", i)
		}
	}
	// Many announced and closed at once: the queue does not grow with them.
	for i := range 10 * maxOpen {
		r := openReq(2*maxOpen + i)
		o.add(r)
		o.take(oauth.ReqRef(r.AuthReqID), "user")
	}
	if q := len(o.order) - o.head; q > 3*len(o.m)+64 {
		t.Fatalf("%d queued for %d open", q, len(o.m))
	}
	// Expired at 1120: req-0 to req-120 less the 50 closed, the 3
	// forgotten, and req-7, forgotten by the first add of the loop above.
	got := o.expired(time.Unix(1000+120, 0))
	if len(got) != 121-50-3-1 || got[0].user.Value() != "user" {
		t.Fatalf("%d expired, want %d", len(got), 121-50-3-1)
	}
}

// BenchmarkAnnounceFull is remembering one more announced request when
// maxOpen are open.
func BenchmarkAnnounceFull(b *testing.B) {
	o := openRequests{m: map[string]openRequest{}}
	reqs := make([]channel.AuthRequest, maxOpen+b.N)
	for i := range reqs {
		reqs[i] = openReq(i)
	}
	for _, r := range reqs[:maxOpen] {
		o.add(r)
	}
	b.ResetTimer()
	for _, r := range reqs[maxOpen:] {
		o.add(r)
	}
}
