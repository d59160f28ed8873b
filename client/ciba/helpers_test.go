package ciba_test

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"sync"
	"testing"
	"time"

	"github.com/cibalab/cibalab/client/ciba"
	"github.com/cibalab/cibalab/client/internal/fakeop"
)

// fakeClock is a clock whose Sleep advances time at once.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.sleeps = append(c.sleeps, d)
	return nil
}

// setup starts a fake OP driven by clock and returns a Config for it that
// presents the OP's client certificate.
func setup(tb testing.TB, cfg fakeop.Config) (*fakeop.OP, *ciba.Config, *fakeClock) {
	tb.Helper()
	clock := newClock()
	cfg.Now = clock.Now
	op := fakeop.New(tb, cfg)
	c := &ciba.Config{
		Issuer:             op.Issuer,
		JWKSURL:            op.Issuer + "/jwks",
		BackchannelAuthURL: op.BackchannelURL,
		TokenURL:           op.TokenURL,
		ClientID:           fakeop.DefaultClientID,
		HTTPClient:         ciba.NewHTTPClient(op.ClientCert, op.CA.Pool, false),
		Now:                clock.Now,
		Sleep:              clock.Sleep,
	}
	return op, c, clock
}

func request() ciba.Request {
	return ciba.Request{Scope: []string{"openid", "profile"}, LoginHint: "user"}
}

// start runs Start and fails the test on error.
func start(tb testing.TB, c *ciba.Config) *ciba.Ack {
	tb.Helper()
	ack, err := c.Start(context.Background(), request())
	if err != nil {
		tb.Fatalf("Start: %v", err)
	}
	return ack
}

// pollOffsets returns when each poll was sent, relative to from.
func pollOffsets(op *fakeop.OP, from time.Time) []time.Duration {
	var out []time.Duration
	for _, r := range op.Polls() {
		out = append(out, r.At.Sub(from))
	}
	return out
}

// script answers the token endpoint with replies in order, repeating the
// last one.
func script(replies ...fakeop.Reply) func(int, fakeop.Request) fakeop.Reply {
	return func(n int, _ fakeop.Request) fakeop.Reply {
		if n > len(replies) {
			return replies[len(replies)-1]
		}
		return replies[n-1]
	}
}

var zeroCert tls.Certificate

func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }
