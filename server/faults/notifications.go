package faults

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
)

// Notifications carries the OP's pings and pushes
// (CIBA Core 1.0 §10.2, §10.3) and applies the queued faults, one per
// notification, in order. Its zero value is not usable: call
// NewNotifications. It is safe for concurrent use.
type Notifications struct {
	base http.RoundTripper

	mu     sync.Mutex
	faults []notificationFault
}

// notificationFault is what happens to one notification instead of its
// delivery: an HTTP status, or a timeout.
type notificationFault struct {
	status  int
	timeout bool
}

// NewNotifications returns a transport that delivers through base (nil
// means a clone of http.DefaultTransport) unless a fault is queued.
func NewNotifications(base http.RoundTripper) *Notifications {
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	return &Notifications{base: base}
}

// Fail queues a fault: the next notification without one never reaches
// the endpoint, and the OP sees status as the endpoint's answer.
func (t *Notifications) Fail(status int) {
	t.push(notificationFault{status: status})
}

// Timeout queues a timeout: the next notification without a fault never
// reaches the endpoint, and the OP gets a timeout error at once.
func (t *Notifications) Timeout() {
	t.push(notificationFault{timeout: true})
}

func (t *Notifications) push(f notificationFault) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.faults = append(t.faults, f)
}

// Queued is the number of faults not yet applied.
func (t *Notifications) Queued() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.faults)
}

// RoundTrip delivers req, unless a fault is queued: then req never reaches
// the endpoint, and the OP sees the fault's status or a timeout.
func (t *Notifications) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	var f *notificationFault
	if len(t.faults) > 0 {
		f = &t.faults[0]
		t.faults = t.faults[1:]
	}
	t.mu.Unlock()
	if f == nil {
		return t.base.RoundTrip(req)
	}
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	if f.timeout {
		return nil, timeoutError{}
	}
	return &http.Response{
		Status:     fmt.Sprintf("%d %s", f.status, http.StatusText(f.status)),
		StatusCode: f.status,
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"text/plain; charset=utf-8"}},
		Body:    io.NopCloser(strings.NewReader("injected fault\n")),
		Request: req,
	}, nil
}

// timeoutError is a network timeout (net.Error with Timeout true, and
// os.ErrDeadlineExceeded for errors.Is).
type timeoutError struct{}

func (timeoutError) Error() string   { return "faults: injected notification timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
func (timeoutError) Unwrap() error   { return os.ErrDeadlineExceeded }
