package faults

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// TestNotifications: each queued fault replaces one delivery, in order;
// without a fault the request reaches the endpoint.
func TestNotifications(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	tr := NewNotifications(srv.Client().Transport)
	hc := &http.Client{Transport: tr}
	tr.Fail(http.StatusServiceUnavailable)
	tr.Timeout()
	if tr.Queued() != 2 {
		t.Fatalf("queued %d", tr.Queued())
	}
	send := func() (*http.Response, error) {
		return hc.Post(srv.URL, "application/json", strings.NewReader(`{}`))
	}
	resp, err := send()
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("first: %v %v", resp, err)
	}
	resp.Body.Close()
	if _, err := send(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("second: %v, want a timeout", err)
	}
	resp, err = send()
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("third: %v %v", resp, err)
	}
	resp.Body.Close()
	if hits != 1 || tr.Queued() != 0 {
		t.Fatalf("endpoint hit %d times, %d faults left", hits, tr.Queued())
	}
}

// TestThrottle: the queued refusals come first, in order, then next.
func TestThrottle(t *testing.T) {
	var th Throttle
	if d, ok := th.Hook(nil)("c"); ok || d != 0 {
		t.Fatal("an empty throttle refused")
	}
	th.Add(2, 3*time.Second)
	th.Add(1, time.Second)
	nextCalls := 0
	hook := th.Hook(func(string) (time.Duration, bool) { nextCalls++; return 9 * time.Second, true })
	for i, want := range []time.Duration{3 * time.Second, 3 * time.Second, time.Second, 9 * time.Second} {
		if d, ok := hook("c"); !ok || d != want {
			t.Fatalf("call %d: %v %v, want %v", i, d, ok, want)
		}
	}
	if nextCalls != 1 || th.Queued() != 0 {
		t.Fatalf("next called %d times, %d left", nextCalls, th.Queued())
	}
}
