package watch

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/op"
	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/oauth"
)

// encoder encodes each event as the Responder does, when watched.
type encoder struct {
	watched bool
	n       int
}

func (e *encoder) Watched() bool { return e.watched }
func (e *encoder) Event(_ context.Context, ev channel.Event) {
	if !e.watched {
		return
	}
	b, _ := json.Marshal(ev)
	e.n += len(b)
}

// BenchmarkPublisher is what the OP adds to each token poll for the event
// stream: nothing but a check when nobody watches, an encoded event when
// somebody does (publishing is NATS's, not measured here).
func BenchmarkPublisher(b *testing.B) {
	x := op.Exchange{Endpoint: op.EndpointToken, GrantType: oauth.GrantTypeCIBA, ClientID: "shop", Req: "1a2b3c4d",
		Status: 400, Error: oauth.ErrAuthorizationPending, Start: time.Now(), Duration: time.Millisecond}
	for _, watched := range []bool{false, true} {
		name := "unwatched"
		if watched {
			name = "watched"
		}
		b.Run(name, func(b *testing.B) {
			p := NewPublisher(&encoder{watched: watched})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				p.Exchange(ctx, x)
			}
		})
	}
}
