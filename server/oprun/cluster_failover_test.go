package oprun

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/server/op"
	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/server/simdevice"
	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/pki"
)

// natsNode is one node of a test NATS cluster: its options (ports and
// data directory fixed, so that it can be started again as the same node)
// and the running server, nil while stopped.
type natsNode struct {
	opts *server.Options
	srv  *server.Server
}

func (n *natsNode) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.opts.Port) }

// opURL is the node's URL with the OPs' credentials.
func (n *natsNode) opURL(password string) string {
	return fmt.Sprintf("nats://ciba-op:%s@127.0.0.1:%d", password, n.opts.Port)
}

func (n *natsNode) start(t testing.TB) {
	t.Helper()
	o := *n.opts
	srv, err := server.NewServer(&o)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		t.Fatalf("nats node %s did not start", n.opts.ServerName)
	}
	n.srv = srv
}

// startNodes starts nodes at once: each waits for the others to recover
// JetStream.
func startNodes(t testing.TB, nodes []*natsNode) {
	t.Helper()
	errs := make(chan error, len(nodes))
	for _, n := range nodes {
		go func() {
			o := *n.opts
			srv, err := server.NewServer(&o)
			if err == nil {
				srv.Start()
				n.srv = srv
				if !srv.ReadyForConnections(10 * time.Second) {
					err = fmt.Errorf("nats node %s did not start", o.ServerName)
				}
			}
			errs <- err
		}()
	}
	for range nodes {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func (n *natsNode) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

// freePorts returns n loopback TCP ports free at the time of the call.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// startCluster starts three nats-server nodes on loopback, clustered by
// routes, each with JetStream in its own temporary directory, and waits
// until JetStream takes a replicated (R3) bucket.
func startCluster(t testing.TB, auth *clusterAuth) []*natsNode {
	t.Helper()
	ports := freePorts(t, 6)
	var routes []string
	for i := range 3 {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[3+i]))
	}
	nodes := make([]*natsNode, 3)
	for i := range nodes {
		nodes[i] = &natsNode{opts: &server.Options{
			ServerName: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: ports[i],
			JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
			AlwaysEnableNonce: true, AuthTimeout: 2,
			Users:       []*server.User{{Username: "ciba-op", Password: auth.opPassword}},
			AuthCallout: &server.AuthCallout{Issuer: auth.issuerPub, AuthUsers: []string{"ciba-op"}},
			Cluster:     server.ClusterOpts{Name: "cibalab", Host: "127.0.0.1", Port: ports[3+i]},
			Routes:      server.RoutesFromStr(strings.Join(routes, ",")),
		}}
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop()
		}
	})
	startNodes(t, nodes)
	waitJetStream(t, nodes[0].opURL(auth.opPassword))
	return nodes
}

// waitJetStream waits until the cluster's JetStream creates an R3 bucket:
// its nodes found each other and elected a meta leader.
func waitJetStream(t testing.TB, url string) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "probe", Replicas: 3, Storage: jetstream.MemoryStorage})
		if err == nil {
			err = js.DeleteKeyValue(ctx, "probe")
		}
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("JetStream cluster not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitStreams waits until every stream of the cluster (the OPs' buckets)
// elected a leader after a restart of the whole cluster.
func waitStreams(t testing.TB, url string) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := func() error {
			names := js.StreamNames(ctx)
			n := 0
			for name := range names.Name() {
				n++
				if _, err := js.Stream(ctx, name); err != nil {
					return fmt.Errorf("stream %s: %w", name, err)
				}
			}
			if names.Err() != nil {
				return names.Err()
			}
			if n == 0 {
				return errors.New("no streams yet")
			}
			return nil
		}()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("streams not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// transitionCounter counts, across every OP of a test, the transitions of
// each request: a decision applied twice or a request redeemed twice
// shows here whichever OP did it.
type transitionCounter struct {
	mu sync.Mutex
	n  map[string]map[authreq.EventType]int
}

func (c *transitionCounter) Transition(_ context.Context, e authreq.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]map[authreq.EventType]int{}
	}
	if c.n[e.Request.ID] == nil {
		c.n[e.Request.ID] = map[authreq.EventType]int{}
	}
	c.n[e.Request.ID][e.Type]++
}

func (c *transitionCounter) count(id string, typ authreq.EventType) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[id][typ]
}

// opCluster is a set of OPs sharing a NATS cluster, where their registry
// and their state live, with a client that plays the load
// balancer: it sends each call to one OP and, when that OP does not
// answer, to the next.
type opCluster struct {
	t        testing.TB
	dir      string
	urls     []string // with the OPs' credentials
	auth     *clusterAuth
	counter  *transitionCounter
	hc       *http.Client
	mu       sync.Mutex
	ops      []*Server // nil slots are stopped OPs
	next     atomic.Uint64
	retries  atomic.Int64 // HTTP calls sent again to another OP
	maxOutNs atomic.Int64 // longest time one call waited for an OP to answer
}

// startOP starts OP i, connected first to node i%3 of urls.
func (c *opCluster) startOP(i int) {
	c.t.Helper()
	urls := slices.Concat(c.urls[i%len(c.urls):], c.urls[:i%len(c.urls)])
	s, err := Start(Config{
		StateDir: filepath.Join(c.dir, strconv.Itoa(i)), Addr: "127.0.0.1:0", NATSURL: strings.Join(urls, ","), Persist: true, Replicas: 3,
		PasswordIterations: 1000, Registry: RegistryJetStream, RegistryKey: c.auth.registryKey, NATSAuthCallout: c.auth.issuer,
		Provider: op.Config{Interval: 100 * time.Millisecond, Transitions: c.counter},
	})
	if err != nil {
		c.t.Fatalf("OP %d: %v", i, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.ops) <= i {
		c.ops = append(c.ops, nil)
	}
	c.ops[i] = s
}

// stopOP stops OP i. The load balancer notices afterwards: calls sent to
// the OP meanwhile fail and go to another.
func (c *opCluster) stopOP(i int) {
	c.mu.Lock()
	s := c.ops[i]
	c.mu.Unlock()
	if s != nil {
		s.Close()
	}
	time.Sleep(200 * time.Millisecond)
	c.mu.Lock()
	c.ops[i] = nil
	c.mu.Unlock()
}

func (c *opCluster) closeAll() {
	for i := range c.ops {
		c.stopOP(i)
	}
}

// live returns the issuers of the running OPs.
func (c *opCluster) live() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, s := range c.ops {
		if s != nil {
			out = append(out, s.Issuer)
		}
	}
	return out
}

// newOPCluster starts n OPs on the cluster's nodes, each with its own
// state directory, all on the registry in JetStream
// (--registry jetstream), devices admitted by auth callout. The first one
// initialises the registry; the HTTP client presents its default client's
// certificate.
func newOPCluster(t testing.TB, nodes []*natsNode, auth *clusterAuth, n int) *opCluster {
	t.Helper()
	c := &opCluster{t: t, dir: filepath.Join(t.TempDir(), "state"), auth: auth, counter: &transitionCounter{}}
	for _, node := range nodes {
		c.urls = append(c.urls, node.opURL(auth.opPassword))
	}
	t.Cleanup(c.closeAll)
	for i := range n {
		c.startOP(i)
	}
	first := c.ops[0]
	cert, err := tls.LoadX509KeyPair(first.Report.ClientCertPEM, first.Report.ClientKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := pki.CertPoolFromPEMFile(first.Dir.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	c.hc = &http.Client{Transport: tr, Timeout: 5 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return c
}

// errNoOP is returned when no OP answered within the call's bound.
var errNoOP = errors.New("no OP answered")

// call posts form to endpoint at the next OP in turn, as a load balancer
// would, and decodes the answer. A connection failure or a 5xx answer
// (an OP stopping, or JetStream electing a new leader) is sent again to
// the next OP, for at most 20 s.
func (c *opCluster) call(endpoint string, form url.Values) (int, map[string]any, error) {
	form.Set("client_id", "cibaConformance")
	start := time.Now()
	deadline := start.Add(20 * time.Second)
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			c.retries.Add(1)
			time.Sleep(50 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			return 0, nil, errNoOP
		}
		live := c.live()
		if len(live) == 0 {
			continue
		}
		issuer := live[c.next.Add(1)%uint64(len(live))]
		resp, err := c.hc.Post(issuer+endpoint, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			continue
		}
		var body map[string]any
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode >= 500 {
			continue
		}
		if attempt > 0 {
			if waited := time.Since(start).Nanoseconds(); waited > c.maxOutNs.Load() {
				c.maxOutNs.Store(waited)
			}
		}
		return resp.StatusCode, body, nil
	}
}

// clusterDevice is one user's simulated device, connected to one node.
// It decides each request as its binding message says: "… approve",
// "… deny", or nothing for "… ignore".
type clusterDevice struct {
	t        testing.TB
	dev      *simdevice.Device
	mu       sync.Mutex
	accepted map[string]int // auth_req_id → decisions the OP accepted
	retries  atomic.Int64
	maxOutNs atomic.Int64
	wg       sync.WaitGroup
}

func newClusterDevice(t testing.TB, natsURL, user, password string) *clusterDevice {
	t.Helper()
	d := &clusterDevice{t: t, accepted: map[string]int{}}
	dev, err := simdevice.New(simdevice.Config{
		NATSURL: natsURL, Realm: "master", User: user, Password: password, Name: "phone of " + user,
		OnRequest: d.onRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	d.dev = dev
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := dev.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.wg.Wait(); dev.Drop() })
	return d
}

func (d *clusterDevice) onRequest(r channel.AuthRequest) {
	var approve bool
	switch {
	case strings.HasSuffix(r.BindingMessage, " approve"):
		approve = true
	case strings.HasSuffix(r.BindingMessage, " deny"):
	default:
		return
	}
	d.mu.Lock()
	if _, seen := d.accepted[r.AuthReqID]; seen {
		d.mu.Unlock()
		return // announced and listed again after a reconnection
	}
	d.accepted[r.AuthReqID] = 0
	d.mu.Unlock()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		start := time.Now()
		for attempt := 0; time.Since(start) < 20*time.Second; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			err := d.dev.Decide(ctx, r.AuthReqID, approve, nil)
			cancel()
			var refused *simdevice.RefusedError
			switch {
			case err == nil:
				d.mu.Lock()
				d.accepted[r.AuthReqID]++
				d.mu.Unlock()
				if attempt > 0 {
					if waited := time.Since(start).Nanoseconds(); waited > d.maxOutNs.Load() {
						d.maxOutNs.Store(waited)
					}
				}
				return
			case errors.As(err, &refused):
				d.t.Errorf("decision on a request refused: %v", err)
				return
			}
			d.retries.Add(1)
			time.Sleep(50 * time.Millisecond)
		}
		d.t.Errorf("decision on a request never reached an OP")
	}()
}

// flowResult is how one flow ended, as its client saw it.
type flowResult struct {
	id      string
	user    string
	want    string // approve, deny or ignore
	outcome string // tokens, access_denied, expired_token, or what went wrong
	tokens  int    // token responses with an access token
	refresh string
}

// runFlow starts a flow for user, decided as want by the user's device,
// and polls until it ends. Each poll is sent twice at once, to two OPs:
// the request must still be redeemed once.
func (c *opCluster) runFlow(i int, user, want string) flowResult {
	res := flowResult{user: user, want: want}
	expiry := "30"
	if want == "ignore" {
		expiry = "2"
	}
	status, body, err := c.call("/mtls/bc-authorize", url.Values{
		"scope": {"openid"}, "login_hint": {user}, "binding_message": {fmt.Sprintf("flow %d %s", i, want)}, "requested_expiry": {expiry},
	})
	res.id, _ = body["auth_req_id"].(string)
	if err != nil || status != http.StatusOK || res.id == "" {
		res.outcome = fmt.Sprintf("bc-authorize: %d %v %v", status, body, err)
		return res
	}
	deadline := time.Now().Add(40 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(120 * time.Millisecond)
		var wg sync.WaitGroup
		answers := make([]map[string]any, 2)
		errs := make([]error, 2)
		for k := range answers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, answers[k], errs[k] = c.call("/mtls/token", url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {res.id}})
			}()
		}
		wg.Wait()
		final := ""
		for k, a := range answers {
			if errs[k] != nil {
				res.outcome = "token: " + errs[k].Error()
				return res
			}
			if at, _ := a["access_token"].(string); at != "" {
				res.tokens++
				res.refresh, _ = a["refresh_token"].(string)
				final = "tokens"
				continue
			}
			switch e, _ := a["error"].(string); e {
			case "authorization_pending", "slow_down":
			case "invalid_grant":
				// The other poll of the pair redeemed the request.
			case "access_denied", "expired_token":
				final = e
			default:
				res.outcome = fmt.Sprintf("token: %v", a)
				return res
			}
		}
		if final != "" {
			res.outcome = final
			return res
		}
	}
	res.outcome = "still pending at the test's deadline"
	return res
}

// addUsers registers users u0..u(n-1) with password "pw-cluster".
func addUsers(t testing.TB, dir *registry.Dir, n int) []string {
	t.Helper()
	var users []string
	for i := range n {
		id := "u" + strconv.Itoa(i)
		if err := dir.AddUser(registry.User{ID: id, Name: id}, "pw-cluster"); err != nil {
			t.Fatal(err)
		}
		users = append(users, id)
	}
	return users
}

// enableRefresh registers the default client for the refresh_token grant.
func enableRefresh(t testing.TB, dir *registry.Dir) {
	t.Helper()
	cl, err := dir.Client("cibaConformance")
	if err != nil {
		t.Fatal(err)
	}
	cl.GrantTypes = append(cl.GrantTypes, "refresh_token")
	if err := dir.UpdateClient(*cl); err != nil {
		t.Fatal(err)
	}
}

func wantOutcome(want string) string {
	switch want {
	case "approve":
		return "tokens"
	case "deny":
		return "access_denied"
	}
	return "expired_token"
}

// TestClusterSurvivesNodeAndOPLoss: three OPs on a three-node NATS
// cluster (JetStream R3: registry, requests, tokens, jtis, lockouts),
// devices admitted by auth callout, one device per user on a different
// node, a steady load of flows; one NATS node and one OP stop and come back.
// Every flow that started ends as its device decided, each decision is
// applied once and each approved request redeemed once, across the OPs.
func TestClusterSurvivesNodeAndOPLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test: starts three NATS nodes and three OPs")
	}
	auth := newClusterAuth(t)
	nodes := startCluster(t, auth)
	c := newOPCluster(t, nodes, auth, 3)
	users := addUsers(t, c.ops[0].Dir, 3)
	enableRefresh(t, c.ops[0].Dir)
	devices := make([]*clusterDevice, len(users))
	for i, u := range users {
		devices[i] = newClusterDevice(t, nodes[i].url(), u, "pw-cluster")
	}
	// Every OP subscribes to every device's subjects before the load.
	for _, s := range c.ops {
		if err := s.Responder.SyncDevices(context.Background()); err != nil {
			t.Fatal(err)
		}
	}

	var (
		mu      sync.Mutex
		results []flowResult
		wg      sync.WaitGroup
		started atomic.Int64
		stop    = make(chan struct{})
	)
	verdicts := []string{"approve", "approve", "deny", "ignore"}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 50; k++ {
				select {
				case <-stop:
					return
				default:
				}
				i := int(started.Add(1))
				r := c.runFlow(i, users[i%len(users)], verdicts[(i+w)%len(verdicts)])
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}
		}()
	}

	time.Sleep(time.Second)
	// A NATS node (the one device 1 and OP 1 are connected to) and an
	// OP stop; two seconds later they come back, the OP on a new port.
	t0 := time.Now()
	nodes[1].stop()
	c.stopOP(1)
	down := time.Since(t0)
	time.Sleep(2 * time.Second)
	nodes[1].start(t)
	c.startOP(1)
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	for _, d := range devices {
		d.wg.Wait()
	}

	outcomes := map[string]int{}
	for _, r := range results {
		outcomes[r.outcome]++
		if r.outcome != wantOutcome(r.want) {
			t.Errorf("flow %s (%s): ended %q, want %q", short(r.id), r.want, r.outcome, wantOutcome(r.want))
			continue
		}
		switch r.want {
		case "approve":
			if r.tokens != 1 || c.counter.count(r.id, authreq.EventRedeemed) != 1 || c.counter.count(r.id, authreq.EventApproved) != 1 {
				t.Errorf("flow %s: %d token responses, %d redemptions, %d approvals; want 1 each",
					short(r.id), r.tokens, c.counter.count(r.id, authreq.EventRedeemed), c.counter.count(r.id, authreq.EventApproved))
			}
		case "deny":
			if n := c.counter.count(r.id, authreq.EventDenied); n != 1 {
				t.Errorf("flow %s: denied %d times, want once", short(r.id), n)
			}
		}
		if r.want != "ignore" {
			d := devices[slices.Index(users, r.user)]
			d.mu.Lock()
			n := d.accepted[r.id]
			d.mu.Unlock()
			if n != 1 {
				t.Errorf("flow %s: the device saw its decision accepted %d times, want once", short(r.id), n)
			}
		}
	}
	if len(results) < 12 {
		t.Errorf("only %d flows ran", len(results))
	}
	var devRetries int64
	var devMax time.Duration
	for _, d := range devices {
		devRetries += d.retries.Load()
		devMax = max(devMax, time.Duration(d.maxOutNs.Load()))
	}
	t.Logf("flows: %d %v; stopping a node and an OP took %v; HTTP calls sent again: %d, longest wait for an OP: %v; decisions sent again: %d, longest wait: %v",
		len(results), outcomes, down.Round(time.Millisecond), c.retries.Load(), time.Duration(c.maxOutNs.Load()).Round(time.Millisecond),
		devRetries, devMax.Round(time.Millisecond))
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8] + "…"
	}
	return id
}

// clusterAuth is what the test cluster's nodes and OPs share to admit
// clients: the OPs' user and password (an auth user, bypassing the
// callout), and the account key pair that signs the OPs' answers to the
// nodes' auth callout requests (bus.Callout), which admit devices with
// their own permissions.
type clusterAuth struct {
	opPassword string
	issuer     nkeys.KeyPair
	issuerPub  string
	// registryKey encrypts the private keys of the registry the OPs share
	// in JetStream.
	registryKey []byte
}

func newClusterAuth(t testing.TB) *clusterAuth {
	t.Helper()
	issuer, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := issuer.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return &clusterAuth{opPassword: rand.Text(), issuer: issuer, issuerPub: pub, registryKey: key}
}

// TestClusterRestartKeepsState: the whole cluster, NATS nodes and OPs,
// stops and starts again. A pending request is still pending and can be
// approved by the device, enrolled before, which reconnects; a refresh
// token issued before is exchanged once at another OP and its replay is
// refused. The registry (users, clients, devices) is in JetStream too.
func TestClusterRestartKeepsState(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test: starts three NATS nodes and two OPs")
	}
	auth := newClusterAuth(t)
	nodes := startCluster(t, auth)
	c := newOPCluster(t, nodes, auth, 2)
	users := addUsers(t, c.ops[0].Dir, 1)
	enableRefresh(t, c.ops[0].Dir)
	d := newClusterDevice(t, nodes[2].url(), users[0], "pw-cluster")

	done := c.runFlow(1, users[0], "approve")
	if done.outcome != "tokens" || done.refresh == "" {
		t.Fatalf("flow before the restart: %+v", done)
	}
	status, body, err := c.call("/mtls/bc-authorize", url.Values{
		"scope": {"openid"}, "login_hint": {users[0]}, "binding_message": {"flow 2 ignore"}, "requested_expiry": {"120"},
	})
	pending, _ := body["auth_req_id"].(string)
	if err != nil || status != http.StatusOK || pending == "" {
		t.Fatalf("bc-authorize: %d %v %v", status, body, err)
	}

	t0 := time.Now()
	c.closeAll()
	d.dev.Drop()
	for _, n := range nodes {
		n.stop()
	}
	startNodes(t, nodes)
	stopped := time.Since(t0)
	waitJetStream(t, nodes[0].opURL(auth.opPassword))
	meta := time.Since(t0)
	waitStreams(t, nodes[0].opURL(auth.opPassword))
	streams := time.Since(t0)
	c.startOP(0)
	c.startOP(1)
	restarted := time.Since(t0)

	poll := url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {pending}}
	if status, body, err := c.call("/mtls/token", poll); err != nil || body["error"] != "authorization_pending" {
		t.Fatalf("pending request after the restart: %d %v %v, want authorization_pending", status, body, err)
	}
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {done.refresh}}
	if status, body, err := c.call("/mtls/token", refresh); err != nil || status != http.StatusOK || body["access_token"] == nil {
		t.Fatalf("refresh token after the restart: %d %v %v", status, body, err)
	}
	if status, body, err := c.call("/mtls/token", refresh); err != nil || body["error"] != "invalid_grant" {
		t.Fatalf("replayed refresh token at another OP: %d %v %v, want invalid_grant", status, body, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := d.dev.Connect(ctx); err != nil {
		t.Fatalf("device enrolled before the restart: %v", err)
	}
	if err := d.dev.Decide(ctx, pending, true, nil); err != nil {
		t.Fatalf("decision after the restart: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, body, err := c.call("/mtls/token", poll)
		if err != nil {
			t.Fatal(err)
		}
		if body["access_token"] != nil {
			break
		}
		if body["error"] != "authorization_pending" || time.Now().After(deadline) {
			t.Fatalf("poll after the decision: %v", body)
		}
		time.Sleep(150 * time.Millisecond)
	}
	t.Logf("whole cluster: stopped after %v, JetStream took R3 buckets again after %v, every bucket had a leader after %v, two OPs served after %v",
		stopped.Round(time.Millisecond), meta.Round(time.Millisecond), streams.Round(time.Millisecond), restarted.Round(time.Millisecond))
}

// BenchmarkClusterFlows measures flows per second (backchannel request,
// approval by a device, tokens) with 1, 2 and 3 OPs on a three-node NATS
// cluster with JetStream R3, 64 flows at once spread over the OPs by the
// client (each flow waits 120 ms between polls, so fewer would measure
// that wait rather than the OPs). Every poll is sent twice, to two OPs, as in the cluster test.
// On a machine of two cores the OPs, the nodes, the devices and the
// client share them: more OPs cannot show more throughput there.
//
//	go test ./oprun -run '^$' -bench ClusterFlows -benchtime 200x
func BenchmarkClusterFlows(b *testing.B) {
	for _, n := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("ops=%d", n), func(b *testing.B) {
			auth := newClusterAuth(b)
			nodes := startCluster(b, auth)
			c := newOPCluster(b, nodes, auth, n)
			users := addUsers(b, c.ops[0].Dir, 3)
			for i, u := range users {
				newClusterDevice(b, nodes[i].url(), u, "pw-cluster")
			}
			for _, s := range c.ops {
				if err := s.Responder.SyncDevices(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			var next atomic.Int64
			var failed atomic.Int64
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1))
						if i > b.N {
							return
						}
						if r := c.runFlow(i, users[i%len(users)], "approve"); r.outcome != "tokens" {
							failed.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if failed.Load() > 0 {
				b.Errorf("%d of %d flows did not end with tokens", failed.Load(), b.N)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "flows/s")
		})
	}
}
