package bench

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cibalab/cibalab/shared/pki"
)

// Name is the program name.
const Name = "ciba-bench"

// binaries are the programs the bench runs.
type binaries struct {
	op, authenticator, node, interop string
}

// settings are the measurement settings, the same for both OPs.
type settings struct {
	quick        bool
	conns        int
	maxInFlight  int
	warmup       time.Duration
	window       time.Duration
	maxFlows     int
	interval     time.Duration
	longPoll     time.Duration // ciba-op serve --long-poll; 0: off, its default
	pending      []int
	latencyFlows int
	only         string
	phases       map[string]bool // "flows", "latency", "pending"
}

// allPhases are the parts of a run, in order; --phases picks some.
var allPhases = []string{"flows", "latency", "pending"}

func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, `USAGE
  %[1]s [flags]

Starts ciba-op (embedded NATS, a ciba-authenticator approving at once) and
oidc-provider 9 (interop/oidc-provider-op.mjs, approving in-process), one
after the other, on 127.0.0.1; drives each with the same load generator and
settings; prints one table of figures and ratios on stdout (progress on
stderr). Everything it starts is stopped, and its temporary directory
removed, when it ends, also on an error or Ctrl-C.
Run it with scripts/bench.sh, which builds the programs first.

FLAGS
`, Name)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprint(w, `
EXIT CODES
  0  the table was printed
  1  error (a program did not start, a phase failed)
  2  usage error
  130 interrupted
`)
}

// Main runs ciba-bench with args and returns its exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var s settings
	var bins binaries
	var pending, phases string
	fs.BoolVar(&s.quick, "quick", false, "short run for development: 1 s warm-up, 3 s windows, 2,000 and 10,000 pending, 30 latency flows")
	fs.IntVar(&s.conns, "c", 16, "C, the requests in flight and the keep-alive pool of the C=16 rows")
	fs.IntVar(&s.maxInFlight, "max-in-flight", 5000, "bound on the flows started and not finished (a flow waiting for its next poll holds no connection); a poll-mode flow lasts at least one interval, so flows/s cannot exceed this bound divided by -interval: the table says when a row reached it")
	fs.DurationVar(&s.warmup, "warmup", 3*time.Second, "warm-up before each measured window")
	fs.DurationVar(&s.window, "window", 15*time.Second, "length of each measured window")
	fs.IntVar(&s.maxFlows, "max-flows", 200000, "bound on the flows one measurement starts")
	fs.DurationVar(&s.interval, "interval", time.Second, "poll interval: ciba-op --interval, and the wait between polls for oidc-provider, which sends none")
	fs.DurationVar(&s.longPoll, "long-poll", 0, "start ciba-op with --long-poll `TIME` (it holds a poll on a pending request until the decision): its flows then need one token request; 0 (the default) runs ciba-op's default, no long polling. oidc-provider is the same either way")
	fs.StringVar(&pending, "pending", "20000,100000", "pending request counts at which RSS is read (comma-separated, increasing)")
	fs.IntVar(&s.latencyFlows, "latency-flows", 300, "flows, one at a time, for each latency figure")
	fs.StringVar(&s.only, "only", "", "run one OP only: ciba-op or oidc-provider (ratios are then n/a)")
	fs.StringVar(&phases, "phases", strings.Join(allPhases, ","), "the parts to run (comma-separated): flows (the flows/s and CPU rows), latency (ping and push), pending (token requests on pending requests and RSS); the others' rows are n/a")
	fs.StringVar(&bins.op, "ciba-op", "bin/ciba-op", "ciba-op program")
	fs.StringVar(&bins.authenticator, "ciba-authenticator", "bin/ciba-authenticator", "ciba-authenticator program")
	fs.StringVar(&bins.node, "node", "node", "Node.js program")
	fs.StringVar(&bins.interop, "interop", "interop", "directory holding oidc-provider-op.mjs and its node_modules")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout, fs)
			return 0
		}
		fmt.Fprintf(stderr, "%s: %v (see --help)\n", Name, err)
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if s.quick {
		if !set["warmup"] {
			s.warmup = time.Second
		}
		if !set["window"] {
			s.window = 3 * time.Second
		}
		if !set["pending"] {
			pending = "2000,10000"
		}
		if !set["latency-flows"] {
			s.latencyFlows = 30
		}
	}
	var err error
	if s.phases, err = parsePhases(phases); err != nil {
		fmt.Fprintf(stderr, "%s: %v (see --help)\n", Name, err)
		return 2
	}
	if s.pending, err = parseCounts(pending); err != nil || fs.NArg() > 0 || s.conns < 1 || s.maxInFlight < s.conns ||
		s.window <= 0 || s.interval < time.Second || s.longPoll < 0 || (s.only != "" && s.only != "ciba-op" && s.only != "oidc-provider") {
		fmt.Fprintf(stderr, "%s: invalid flags (see --help)\n", Name)
		return 2
	}
	if err := run0(ctx, s, bins, stdout, stderr); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "%s: interrupted; everything started was stopped\n", Name)
			return 130
		}
		fmt.Fprintf(stderr, "%s: %v\n", Name, err)
		return 1
	}
	return 0
}

func parsePhases(s string) (map[string]bool, error) {
	out := map[string]bool{}
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(allPhases, f) {
			return nil, fmt.Errorf("--phases %q: want some of %s", s, strings.Join(allPhases, ","))
		}
		out[f] = true
	}
	return out, nil
}

func parseCounts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || (len(out) > 0 && n <= out[len(out)-1]) || n > 1000000 {
			return nil, fmt.Errorf("bench: --pending %q: want increasing counts up to 1,000,000", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// results are the figures of one OP.
type results struct {
	name, accessTokens    string
	c1, c16, c16RS, fresh flowResult
	pending               pendingResult
	ping, push            latencyResult
	pushNA                bool
	tlsKeepAlive          string
}

func run0(ctx context.Context, s settings, bins binaries, stdout, stderr io.Writer) error {
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "%s: "+format+"\n", append([]any{Name}, args...)...)
	}
	for _, p := range []*string{&bins.op, &bins.authenticator} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("%s not found: build it first (scripts/bench.sh does)", *p)
		}
		*p = abs
	}
	if _, err := os.Stat(filepath.Join(bins.interop, "node_modules", "oidc-provider", "package.json")); err != nil && s.only != "ciba-op" {
		return fmt.Errorf("%s/node_modules/oidc-provider is missing: run ./scripts/test.sh once, or npm ci in interop/", bins.interop)
	}
	dir, err := os.MkdirTemp("", "ciba-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	m := machineInfo(bins.node)
	m.providerVersion = oidcProviderVersion(bins.interop)
	m.loadBefore = loadAvg()
	logf("RSA-2048 signature on this machine ...")
	m.rsaSig = rsaSignatureCost()

	// The notification endpoint's certificate is ciba-op's server
	// certificate (127.0.0.1, from ciba-op's CA, which both OPs trust for
	// notification endpoints): its state directory comes first.
	st, n, err := prepareWithNotifier(ctx, bins.op, dir)
	if err != nil {
		return err
	}
	defer n.close()

	var all []*results
	for _, name := range []string{"ciba-op", "oidc-provider"} {
		if s.only != "" && s.only != name {
			continue
		}
		r := &results{name: name}
		if s.phases["flows"] || s.phases["latency"] {
			if err := runOn(ctx, name, bins, dir, st, n, s, logf, func(t *target) error { return measure(ctx, t, n, s, r, logf) }); err != nil {
				return err
			}
		}
		if s.phases["pending"] {
			// A fresh process: the RSS figures count pending requests, not
			// the tokens and redeemed requests the flows left behind. It
			// answers at once: the figure is the answers to polls on
			// pending requests, which long polling would hold.
			ps := s
			ps.longPoll = 0
			if err := runOn(ctx, name, bins, dir, st, n, ps, logf, func(t *target) error { return measurePending(ctx, t, s, r, logf) }); err != nil {
				return err
			}
		}
		all = append(all, r)
	}
	m.loadAfter = loadAvg()
	printReport(stdout, m, s, all)
	return nil
}

func prepareWithNotifier(ctx context.Context, opBin, dir string) (*opState, *notifier, error) {
	// ciba-op init writes the server certificate; the notifier's URL is
	// then known before the ping and push clients are registered.
	st := filepath.Join(dir, "op")
	if err := run(ctx, opBin, "init", "--state-dir", st); err != nil {
		return nil, nil, err
	}
	cert, err := pki.LoadPEMKeyPair(filepath.Join(st, "server", "server.pem"), filepath.Join(st, "server", "server-key.pem"))
	if err != nil {
		return nil, nil, err
	}
	n, err := startNotifier(cert)
	if err != nil {
		return nil, nil, err
	}
	s, err := prepareState(ctx, opBin, dir, n.url)
	if err != nil {
		n.close()
		return nil, nil, err
	}
	return s, n, nil
}

// runOn starts the OP name, runs f against it and stops it.
func runOn(ctx context.Context, name string, bins binaries, dir string, st *opState, n *notifier, s settings, logf func(string, ...any), f func(*target) error) error {
	logf("%s: starting", name)
	var t *target
	var err error
	if name == "ciba-op" {
		t, err = startCibaOP(ctx, bins, dir, st, s.interval, s.longPoll)
	} else {
		t, err = startOIDCProvider(ctx, bins, st, n.url, s.interval)
	}
	if err != nil {
		return err
	}
	err = f(t)
	t.stop()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// measure runs the flows and latency phases against t, as s.phases says.
func measure(ctx context.Context, t *target, n *notifier, s settings, r *results, logf func(string, ...any)) error {
	r.accessTokens, r.pushNA = t.accessTokens, !t.push
	flows := func(label string, client string, conns int, fresh bool) (flowResult, error) {
		logf("%s: flows, %s", t.name, label)
		res, err := runFlows(ctx, t, flowOpts{client: client, conns: conns, fresh: fresh, maxInFlight: s.maxInFlight,
			warmup: s.warmup, window: s.window, maxFlows: s.maxFlows})
		if err == nil {
			logf("%s: %.1f flows/s, %.2f token requests per flow, %d started, %d abandoned at the end", t.name, res.perSecond, res.tokenReqs, res.started, res.abandoned)
			if res.atBound > 0 {
				logf("%s: %d flows in flight (-max-in-flight) during %.0f%% of the window", t.name, s.maxInFlight, 100*res.atBound)
			}
		}
		if err == nil && res.errors > 0 {
			logf("%s: %d unexpected answers, the first: %s", t.name, res.errors, res.firstErr)
		}
		return res, err
	}
	if s.phases["flows"] {
		var err error
		if r.c1, err = flows("C=1 keep-alive, ES256", clientES, 1, false); err != nil {
			return err
		}
		if r.c16, err = flows(fmt.Sprintf("C=%d keep-alive, ES256", s.conns), clientES, s.conns, false); err != nil {
			return err
		}
		r.tlsKeepAlive = r.c16.tls
		if r.c16RS, err = flows(fmt.Sprintf("C=%d keep-alive, RS256", s.conns), clientRS, s.conns, false); err != nil {
			return err
		}
		if r.fresh, err = flows(fmt.Sprintf("C=%d new connection per request, ES256", s.conns), clientES, s.conns, true); err != nil {
			return err
		}
	}
	if s.phases["latency"] {
		logf("%s: latency, ping", t.name)
		r.ping = runLatency(ctx, t, n, clientPing, false, s.latencyFlows, 2*time.Minute)
		if t.push {
			logf("%s: latency, push", t.name)
			r.push = runLatency(ctx, t, n, clientPush, true, s.latencyFlows, 2*time.Minute)
		}
		for _, l := range []latencyResult{r.ping, r.push} {
			if l.errors > 0 {
				logf("%s: latency: %d failures, the first: %s", t.name, l.errors, l.first)
			}
		}
	}
	return ctx.Err()
}

// measurePending runs the pending phase against t.
func measurePending(ctx context.Context, t *target, s settings, r *results, logf func(string, ...any)) error {
	r.accessTokens, r.pushNA = t.accessTokens, !t.push
	logf("%s: pending requests %v", t.name, s.pending)
	var err error
	if r.pending, err = runPending(ctx, t, s.conns, s.pending, 15*time.Minute); err != nil {
		return err
	}
	if r.pending.errors > 0 {
		logf("%s: pending: %d unexpected answers, the first: %s", t.name, r.pending.errors, r.pending.firstErr)
	}
	return nil
}

// machine describes where the figures were taken.
type machine struct {
	cpus, model, goVersion, nodeVersion string
	loadBefore, loadAfter               string
	providerVersion                     string
	rsaSig                              time.Duration
}

func machineInfo(node string) machine {
	m := machine{cpus: strconv.Itoa(runtime.NumCPU()), model: "unknown", goVersion: runtime.Version(), nodeVersion: "unknown"}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.model = strings.TrimSpace(v)
				break
			}
		}
	}
	if out, err := exec.Command(node, "--version").Output(); err == nil {
		m.nodeVersion = strings.TrimSpace(string(out))
	}
	return m
}

func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// rsaSignatureCost is the median time of one RSA-2048 PKCS #1 v1.5
// signature (RS256's) with Go's crypto/rsa on this machine, over 9 runs of
// 50 signatures.
func rsaSignatureCost() time.Duration {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return 0
	}
	digest := sha256.Sum256([]byte(Name))
	var runs []time.Duration
	for range 9 {
		start := time.Now()
		for range 50 {
			rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
		}
		runs = append(runs, time.Since(start)/50)
	}
	return percentile(runs, 50)
}
