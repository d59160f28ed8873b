package oprun

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/oauth"
)

// TestPushResumedByAnotherOP: two OPs share one NATS JetStream. The OP
// that accepted an approval for a push client stops while its push is in
// flight (the client's endpoint has not answered); the other OP resumes
// the delivery, once: the endpoint receives the tokens from it and
// nothing more, and the request is redeemed.
func TestPushResumedByAnotherOP(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	dir := filepath.Join(t.TempDir(), "state")
	clock := &testClock{t: time.Now()}
	a := startOP(t, dir, ns.ClientURL(), clock)
	b := startOP(t, dir, ns.ClientURL(), clock)

	// The default client becomes a push client whose endpoint answers
	// its first call never, the others with 204.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := a.Dir.Client("cibaConformance")
	if err != nil {
		t.Fatal(err)
	}
	cl.DeliveryMode = oauth.ModePush
	cl.NotificationEndpoint = "https://" + ln.Addr().String() + "/cb"
	if err := a.Dir.UpdateClient(*cl); err != nil {
		t.Fatal(err)
	}
	cert, err := a.Dir.IssueNotificationCert("cibaConformance", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		bodies []map[string]any
	)
	first := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		json.Unmarshal(raw, &body)
		mu.Lock()
		bodies = append(bodies, body)
		n := len(bodies)
		mu.Unlock()
		if n == 1 {
			close(first)
			<-r.Context().Done() // never answered: the OP stops meanwhile
			// Abort: a handler that returns would send an implicit 200,
			// which could still reach the OP and count as a delivery.
			panic(http.ErrAbortHandler)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)

	status, body := post(t, a, "/mtls/bc-authorize", url.Values{"scope": {"openid"}, "login_hint": {"user"}, "client_notification_token": {"notify-me-123"}})
	id, _ := body["auth_req_id"].(string)
	if status != http.StatusOK || id == "" {
		t.Fatalf("bc-authorize: %d %v", status, body)
	}
	if err := a.Provider.Decide(context.Background(), "user", id, authreq.Verdict{Approve: true, ACR: "urn:cibalab:acr:pwd", AMR: []string{"pwd"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("the first OP did not push")
	}
	a.Close()

	deadline := time.Now().Add(10 * time.Second)
	for {
		req, err := b.Store.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if req.Status == store.StatusRedeemed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the push was not resumed: request %s", req.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // a second resumption would have happened by now
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 2 {
		t.Fatalf("the endpoint received %d pushes, want 2 (the interrupted one, the resumed one)", len(bodies))
	}
	if bodies[1]["auth_req_id"] != id || bodies[1]["access_token"] == nil {
		t.Fatalf("resumed push %v", bodies[1])
	}
}
