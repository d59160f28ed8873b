package ciba

import (
	"context"
	"time"
)

// waitNotified waits d by Config.Sleep, ending early when sub receives a
// notification (returned). A notification already queued returns at once.
func (c *Config) waitNotified(ctx context.Context, d time.Duration, sub *subscription) (*Notification, error) {
	if sub == nil {
		if d <= 0 {
			return nil, nil
		}
		return nil, c.sleep(ctx, d)
	}
	select {
	case n := <-sub.ch:
		return n, nil
	default:
	}
	if d <= 0 {
		return nil, nil
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.sleep(sctx, d) }()
	select {
	case n := <-sub.ch:
		cancel()
		<-done
		return n, nil
	case err := <-done:
		if err != nil {
			return nil, err
		}
		select { // a notification that raced the end of the wait
		case n := <-sub.ch:
			return n, nil
		default:
		}
		return nil, nil
	}
}
