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

func TestIDHashIsShortAndStable(t *testing.T) {
	a, b := IDHash("abc"), IDHash("abd")
	if len(a) != 12 || a == b || a != IDHash("abc") {
		t.Errorf("IDHash: %q %q", a, b)
	}
}
