package ciba

import (
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2015, 10, 21, 7, 27, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"12", 12},
		{" 7 ", 7},
		{"-3", 0},
		{"soon", 0},
		{"Wed, 21 Oct 2015 07:28:00 GMT", 60},
		{"Wed, 21 Oct 2015 07:26:00 GMT", 0},
		{"99999999999", maxSeconds},
		{"Wed, 01 Oct 2700 00:00:00 GMT", maxSeconds},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.in, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestExpiredRegistrationsArePruned(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := &NotificationServer{cfg: NotificationServerConfig{Now: func() time.Time { return now }}, subs: map[[32]byte]*subscription{}}
	for _, tok := range []string{"a", "b", "c"} {
		s.expect(tok, "ping")
		s.acknowledged(tok, "id-"+tok, 10*time.Second)
	}
	s.expect("pending-ack", "ping") // no lifetime yet: kept
	now = now.Add(10 * time.Second)
	s.expect("d", "ping")
	if len(s.subs) != 2 || lookup(s, "a") != nil || lookup(s, "pending-ack") == nil || lookup(s, "d") == nil {
		t.Errorf("%d registrations after expiry, want the 2 live ones", len(s.subs))
	}
	s.acknowledged("d", "id-d", time.Second)
	now = now.Add(time.Second)
	if lookup(s, "d") != nil || len(s.subs) != 1 {
		t.Errorf("an expired registration was found or kept (%d left)", len(s.subs))
	}
}

func lookup(s *NotificationServer, token string) *subscription {
	sub, _ := s.lookup(token)
	return sub
}
