package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/channel"
)

// lifecycleDecider is the Decider of the OP (op.Provider) reduced to the
// request lifecycle: decisions go to authreq over the memory store.
type lifecycleDecider struct{ lc *authreq.Lifecycle }

func (d lifecycleDecider) Decide(ctx context.Context, user, id string, v authreq.Verdict) error {
	_, _, err := d.lc.Decide(ctx, user, id, v)
	return err
}

func (lifecycleDecider) Pending(context.Context, string) ([]channel.AuthRequest, error) {
	return nil, nil
}

// cpuTime is the CPU time (user + system) the process used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkApprovalPath is the approval path of one request, everything in
// one process: the request is stored (authreq.Lifecycle.Create over the
// memory store, the part of bc-authorize after validation) and announced
// on the embedded NATS server; the enrolled device receives it, signs an
// approval (ES256) and sends it; the Responder checks it (signature,
// claims, replay cache) and applies it to the stored request, which
// publishes the closed notice and the events. It reports the CPU time of
// the whole process per request (cpu-us/op): the OP's part, the device's
// (its ES256 signature) and the NATS server's. The per-device rate limit
// is lifted: it is not what is measured. remembered=N starts with N
// decisions in the replay cache, as an OP deciding N / 5 min a second
// holds (the cache keeps a jti 2 × MaxDecisionAge + 1 min).
func BenchmarkApprovalPath(b *testing.B) {
	for _, n := range []int{0, 30000} {
		b.Run(fmt.Sprintf("remembered=%d", n), func(b *testing.B) { benchmarkApprovalPath(b, n) })
	}
}

func benchmarkApprovalPath(b *testing.B, remembered int) {
	ns, err := StartServer("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	nc, err := ns.ConnectOP()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	dir, err := registry.Open(filepath.Join(b.TempDir(), "state"), registry.Config{PasswordIterations: 2})
	if err != nil {
		b.Fatal(err)
	}
	if err := dir.AddUser(registry.User{ID: "user"}, "password"); err != nil {
		b.Fatal(err)
	}
	r, err := NewResponder(Config{Conn: nc, Realm: "master", Users: dir, Devices: dir, Gate: ns,
		DeviceSyncInterval: time.Hour, DeviceLimits: DeviceLimits{DecideBurst: 1 << 30},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	st := store.NewMemory()
	lc, err := authreq.New(authreq.Config{Store: st, Sink: r})
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Serve(lifecycleDecider{lc}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(r.Close)
	h := &harness{ns: ns, op: nc, dir: dir, r: r, url: ns.ClientURL(), logs: &syncBuffer{}}
	dev := h.enroll(b, "user")
	announced := make(chan *nats.Msg, 16)
	sub, err := dev.nc.ChanSubscribe(channel.UserRequestsSubject("master", "user"), announced)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sub.Unsubscribe() })
	if err := dev.nc.Flush(); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := range remembered {
		r.useJTI(fmt.Sprint("old-", i), "other", "tok", time.Now())
	}

	b.ResetTimer()
	start := cpuTime(b)
	for i := 0; i < b.N; i++ {
		now := time.Now()
		id := fmt.Sprintf("%d-Ahx0ZpL6Qm1yVn3c8RkT2wJfB5sDqXeGu7oIaHbYcN", i)
		req := &store.Request{ID: id, ClientID: "benchES", User: "user", Scope: []string{"openid"},
			Interval: time.Second, ExpiresAt: now.Add(time.Minute), CertThumbprint: "O1A4au0pF9rM5ptGU4MNpB7fHvoWbrkI_jPeNLvALto"}
		if err := lc.Create(ctx, req); err != nil {
			b.Fatal(err)
		}
		if err := r.Announce(ctx, channel.AuthRequest{Version: channel.Version, AuthReqID: id, ClientID: req.ClientID,
			User: req.User, Scope: []string{"openid"}, ExpiresAt: req.ExpiresAt.Unix()}); err != nil {
			b.Fatal(err)
		}
		// The device: the announcement (closed notices of earlier
		// requests come on the same subject), its signature, its decision.
		var got channel.AuthRequest
		for got.AuthReqID != id {
			m := <-announced
			got = channel.AuthRequest{}
			if err := json.Unmarshal(m.Data, &got); err != nil {
				b.Fatal(err)
			}
		}
		tok := dev.sign(b, claims(dev.id, id, channel.VerdictApprove, fmt.Sprint("jti-", i), now))
		if res := dev.decide(b, tok); !res.Accepted {
			b.Fatalf("decision refused: %+v", res)
		}
	}
	cpu := cpuTime(b) - start
	b.StopTimer()
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/op")
	if got, err := st.Get(ctx, fmt.Sprintf("%d-Ahx0ZpL6Qm1yVn3c8RkT2wJfB5sDqXeGu7oIaHbYcN", b.N-1)); err != nil || got.Status != store.StatusApproved {
		b.Fatalf("last request: %+v, %v", got, err)
	}
}
