package bus

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cibalab/cibalab/shared/channel"
)

// DeviceLimits bounds what one enrolled device can make the OP do, so that
// a device flooding its subjects delays or drops nobody else's messages:
// each device has its own subscriptions (its own queue, processed in
// order, apart from every other device's), a token bucket per subject in
// front of any work, and a bounded queue. A message beyond its bucket is
// answered at once with channel.ErrRateLimited, which the flooding device
// sees; a message beyond the queue is dropped by NATS and counted in the
// log. Zero values are the defaults.
type DeviceLimits struct {
	// DecideBurst is how many decisions one device may send at once; 0
	// means 200.
	DecideBurst int
	// DecideInterval is how often a device's decision bucket gains one; 0
	// means 5 ms (200 a second: far beyond a person, enough for a test
	// suite approving through one scripted device, and still a bound on
	// the signature checks one device can ask of the OP).
	DecideInterval time.Duration
	// PendingBurst is how many pending lists one device may ask at once;
	// 0 means 10.
	PendingBurst int
	// PendingInterval is how often a device's pending bucket gains one; 0
	// means 500 ms (2 a second).
	PendingInterval time.Duration
	// Queue is how many messages of one device, on one subject, wait
	// for processing (and at most 4 MiB of them); beyond it NATS drops
	// them. 0 means 512.
	Queue int
}

func (l *DeviceLimits) defaults() {
	setDefault(&l.DecideBurst, 200)
	setDefault(&l.DecideInterval, 5*time.Millisecond)
	setDefault(&l.PendingBurst, 10)
	setDefault(&l.PendingInterval, 500*time.Millisecond)
	setDefault(&l.Queue, 512)
}

// queueBytes bounds the bytes of one device's queue on one subject: a
// decision is well under 1 KiB.
const queueBytes = 4 << 20

// connector opens a NATS connection with the OP's rights; *Embedded is
// one.
type connector interface {
	ConnectOP(opts ...nats.Option) (*nats.Conn, error)
}

// deviceLane is one device's share of the OP: its two subscriptions, on a
// connection of its own when the Gate can open one, and their token
// buckets.
type deviceLane struct {
	id   string
	conn *nats.Conn // the lane's own connection; nil when it shares Config.Conn
	subs []*nats.Subscription

	mu       sync.Mutex
	decide   bucket
	pending  bucket
	limited  int       // messages refused since the last report
	reported time.Time // when limited was last logged
	dropped  int       // messages NATS dropped, as last logged
}

// take takes a token for verb at now, reporting false when the device
// has used up its bucket.
func (l *deviceLane) take(lim DeviceLimits, verb string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, burst, interval := &l.decide, lim.DecideBurst, lim.DecideInterval
	if verb == "pending" {
		b, burst, interval = &l.pending, lim.PendingBurst, lim.PendingInterval
	}
	b.refill(now, interval)
	if b.used+1 > float64(burst) {
		l.limited++
		return false
	}
	b.used++
	return true
}

// rateLimitedReplies are the refusals of a limited message, by verb,
// encoded once: a flood is refused without encoding anything.
func rateLimitedReplies() map[string][]byte {
	desc := "too many messages from this device; nothing was done; send again later"
	d, _ := json.Marshal(channel.DecisionResult{Version: channel.Version, Error: channel.ErrRateLimited, ErrorDescription: desc})
	p, _ := json.Marshal(channel.PendingResponse{Version: channel.Version, Requests: []channel.AuthRequest{}, Error: channel.ErrRateLimited, ErrorDescription: desc})
	return map[string][]byte{"decide": d, "pending": p}
}

// subscribeDevice gives device id its own subscriptions to its pending
// and decide subjects, in the queue group "cibalab-op" so that several OP
// replicas share the work. When the Gate can open connections with the
// OP's rights (the embedded server), the subscriptions get a connection
// of their own: a flooding device then fills only its own connection's
// buffers at the server and at the OP, and other devices' messages never
// wait behind its flood. The caller holds syncMu.
func (r *Responder) subscribeDevice(id string) (*deviceLane, error) {
	lane := &deviceLane{id: id}
	conn := r.cfg.Conn
	if c, ok := r.cfg.Gate.(connector); ok {
		var err error
		lane.conn, err = c.ConnectOP(nats.Name("ciba-op device "+id), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second),
			nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
				if !errors.Is(err, nats.ErrSlowConsumer) { // counted by reportDropped
					r.log.Warn("nats.error", "device", id, "err", err)
				}
			}))
		if err != nil {
			return nil, err
		}
		conn = lane.conn
	}
	for _, verb := range []string{"pending", "decide"} {
		subject := channel.DevicePendingSubject(r.cfg.Realm, id)
		if verb == "decide" {
			subject = channel.DeviceDecideSubject(r.cfg.Realm, id)
		}
		sub, err := conn.QueueSubscribe(subject, "cibalab-op", func(m *nats.Msg) { r.onDeviceMsg(lane, verb, m) })
		if err == nil {
			err = sub.SetPendingLimits(r.cfg.DeviceLimits.Queue, queueBytes)
		}
		if err != nil {
			lane.close()
			return nil, err
		}
		lane.subs = append(lane.subs, sub)
	}
	if err := conn.Flush(); err != nil {
		lane.close()
		return nil, err
	}
	return lane, nil
}

// close unsubscribes and closes the lane's own connection.
func (l *deviceLane) close() {
	for _, s := range l.subs {
		s.Unsubscribe()
	}
	if l.conn != nil {
		l.conn.Close()
	}
}

// onDeviceMsg handles one message of a device on its own subscription:
// the reply subject must be the device's inbox, the device's bucket must
// hold a token (else rate_limited at once), then the message is handled
// and answered.
func (r *Responder) onDeviceMsg(lane *deviceLane, verb string, m *nats.Msg) {
	if m.Reply == "" {
		r.log.Warn("channel.message_dropped", "subject", logSubject(m.Subject), "reason", "no reply subject")
		return
	}
	if !r.deviceReplyOK(m.Subject, m.Reply) {
		r.log.Warn("channel.message_dropped", "subject", logSubject(m.Subject), "reply", logSubject(m.Reply), "reason", "a foreign reply subject")
		return
	}
	now := r.cfg.Now()
	if !lane.take(r.cfg.DeviceLimits, verb, now) {
		r.reportLimited(lane, now)
		m.Respond(r.rateLimited[verb])
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.RequestTimeout)
	defer cancel()
	var out any
	if verb == "decide" {
		out = r.decide(ctx, r.decider, m.Subject, m.Reply, m.Data)
	} else {
		out = r.pending(ctx, r.decider, m.Subject, m.Reply, m.Data)
	}
	b, err := json.Marshal(out)
	if err != nil {
		r.log.Error("channel.reply_failed", "err", err, "reason", "encoding")
		return
	}
	if err := m.Respond(b); err != nil {
		r.log.Warn("channel.reply_failed", "subject", logSubject(m.Subject), "err", err)
	}
}

// reportLimited logs a flooding device at most once every 10 s, with the
// number of messages refused meanwhile: a flood must not flood the log.
func (r *Responder) reportLimited(lane *deviceLane, now time.Time) {
	lane.mu.Lock()
	if now.Sub(lane.reported) < 10*time.Second {
		lane.mu.Unlock()
		return
	}
	n := lane.limited
	lane.limited, lane.reported = 0, now
	lane.mu.Unlock()
	r.log.Warn("channel.device_rate_limited", "device", lane.id, "refused", n)
}

// reportDropped logs the messages NATS dropped for each device since the
// last call (a device sending faster than even refusals are written).
func (r *Responder) reportDropped() {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	for id, lane := range r.lanes {
		total := 0
		for _, s := range lane.subs {
			if n, err := s.Dropped(); err == nil {
				total += n
			}
		}
		if total > lane.dropped {
			r.log.Warn("channel.device_messages_dropped", "device", id, "dropped", total-lane.dropped, "reason", "its queue is full")
			lane.dropped = total
		}
	}
}
