package bus

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/channel"
)

// acceptAll is a Decider that accepts every decision, so that the
// benchmark measures the device channel, not a store.
type acceptAll struct{}

func (acceptAll) Decide(context.Context, string, string, authreq.Verdict) error { return nil }
func (acceptAll) Pending(context.Context, string) ([]channel.AuthRequest, error) {
	return nil, nil
}

// BenchmarkDeviceDecision is one signed decision from an enrolled device
// over the embedded NATS server: the request and reply, the device lookup,
// the ES256 signature check, the claim checks and the replay cache. The
// device signs its decisions outside the timer. The per-device rate limit
// is lifted: it is not what is measured.
func BenchmarkDeviceDecision(b *testing.B) {
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
		DeviceSyncInterval: time.Hour, DeviceLimits: DeviceLimits{DecideBurst: 1 << 30}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Serve(acceptAll{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(r.Close)
	h := &harness{ns: ns, op: nc, dir: dir, r: r, url: ns.ClientURL(), logs: &syncBuffer{}}
	dev := h.enroll(b, "user")

	const chunk = 1000
	var toks []string
	n := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%chunk == 0 {
			b.StopTimer()
			toks = toks[:0]
			now := time.Now()
			for range chunk {
				n++
				toks = append(toks, dev.sign(b, claims(dev.id, fmt.Sprintf("req-%d", n), channel.VerdictApprove, fmt.Sprintf("jti-%d", n), now)))
			}
			b.StartTimer()
		}
		if res := dev.decide(b, toks[i%chunk]); res.Error != "" {
			b.Fatalf("decision refused: %+v", res)
		}
	}
}
