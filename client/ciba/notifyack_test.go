package ciba_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/cibalab/cibalab/client/ciba"
	"github.com/cibalab/cibalab/client/internal/fakeop"
	"github.com/cibalab/cibalab/shared/oauth"
)

// TestNotificationsAreAcknowledgedBeforeWaitReturns: a program that closes
// its notification server as soon as Wait returns (as ciba-client does
// before it exits) has still answered 204 to the push that ended the wait,
// for a pushed denial as for pushed tokens (CIBA Core 1.0 §10.3, §12), so
// the provider has no reason to push again.
func TestNotificationsAreAcknowledgedBeforeWaitReturns(t *testing.T) {
	for i := range 10 {
		var ns *ciba.NotificationServer
		var pool *x509.CertPool
		sent := make(chan int, 1)
		op, c, _ := setup(t, fakeop.Config{Ack: func(r fakeop.Request) fakeop.Reply {
			return notifyAfterAck(func() *ciba.NotificationServer { return ns }, pool, func(fakeop.Request) any {
				return map[string]string{"auth_req_id": fakeop.DefaultAuthReqID, "error": oauth.ErrAccessDenied}
			}, sent)(r)
		}})
		var err error
		ns, err = ciba.NewNotificationServer(ciba.NotificationServerConfig{Certificate: op.CA.ServerCert(t)})
		if err != nil {
			t.Fatal(err)
		}
		pool = op.CA.Pool
		c.DeliveryMode, c.Notifications, c.Sleep = oauth.ModePush, ns, blockingSleep
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = c.Wait(ctx, start(t, c), nil)
		ns.Close() // at once, as a program that exits
		cancel()
		var oe *oauth.Error
		if !errors.As(err, &oe) || oe.Code != oauth.ErrAccessDenied {
			t.Fatalf("run %d: Wait: %v, want access_denied", i, err)
		}
		if status := <-sent; status != http.StatusNoContent {
			t.Fatalf("run %d: the pushed denial was answered %d (-1: no answer), want 204", i, status)
		}
	}
}

// TestNotificationForAnUnknownRequestIs4xx: the provider learns that the
// client does not wait for a request (and stops retrying): a notification
// with an unknown token gets 401, one with this request's token naming
// another auth_req_id gets 400, and neither reaches Wait.
func TestNotificationForAnUnknownRequestIs4xx(t *testing.T) {
	op, c, _ := setup(t, fakeop.Config{})
	ns, pool := notifier(t, op)
	c.DeliveryMode, c.Notifications = oauth.ModePush, ns
	ack := start(t, c)
	deny := func(id string) []byte {
		b, _ := json.Marshal(map[string]string{"auth_req_id": id, "error": oauth.ErrAccessDenied})
		return b
	}
	tests := []struct {
		name, token string
		body        []byte
		want        int
	}{
		{"unknown token", ciba.NewNotificationToken(), deny(fakeop.DefaultAuthReqID), http.StatusUnauthorized},
		{"another auth_req_id", ack.NotificationToken, deny("SOMEONE-ELSE"), http.StatusBadRequest},
	}
	for _, tt := range tests {
		if status, err := fakeop.Notify(ns.URL(), pool, tt.token, "application/json", tt.body); err != nil || status != tt.want {
			t.Errorf("%s: answered %d (%v), want %d", tt.name, status, err, tt.want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c.Sleep = blockingSleep
	if _, err := c.Wait(ctx, ack, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait = %v: a refused notification reached it", err)
	}
}
