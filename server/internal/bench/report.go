package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one line of the table: a figure of each OP, their ratio
// (ciba-op ÷ oidc-provider) and the target.
type row struct {
	figure     string
	op, other  string
	ratio      string
	target, ok string
}

const na = "n/a"

func num(v float64, format string) string {
	if v == 0 {
		return na
	}
	return fmt.Sprintf(format, v)
}

func ratio(a, b float64) (float64, string) {
	if a == 0 || b == 0 {
		return 0, na
	}
	return a / b, fmt.Sprintf("%.2f×", a/b)
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// cpuPerFlow is the OP's CPU time per finished flow in ms.
func cpuPerFlow(f flowResult) float64 {
	if f.flows == 0 {
		return 0
	}
	return ms(f.cpu) / float64(f.flows)
}

// buildRows turns the results (ciba-op first, either may be missing) into
// the table.
func buildRows(m machine, s settings, op, other *results) []row {
	if op == nil {
		op = &results{name: "ciba-op"}
	}
	if other == nil {
		other = &results{name: "oidc-provider"}
	}
	var rows []row
	higher := func(figure string, a, b float64, format string, want float64) {
		r := row{figure: figure, op: num(a, format), other: num(b, format)}
		var q float64
		q, r.ratio = ratio(a, b)
		if want > 0 {
			r.target = fmt.Sprintf("≥ %g×", want)
			r.ok = na
			if q > 0 {
				r.ok = yesNo(q >= want)
			}
		}
		rows = append(rows, r)
	}
	c := s.conns
	higher("flows/s, C=1 keep-alive, ES256 ID token", op.c1.perSecond, other.c1.perSecond, "%.1f", 0)
	higher(fmt.Sprintf("flows/s, C=%d keep-alive, ES256 ID token", c), op.c16.perSecond, other.c16.perSecond, "%.1f", 5)
	higher(fmt.Sprintf("token requests per flow (C=%d, ES256)", c), op.c16.tokenReqs, other.c16.tokenReqs, "%.2f", 0)
	higher(fmt.Sprintf("OP CPU ms per flow (C=%d, ES256)", c), cpuPerFlow(op.c16), cpuPerFlow(other.c16), "%.2f", 0)
	cores := func(f flowResult) float64 { return f.cpu.Seconds() / s.window.Seconds() }
	higher(fmt.Sprintf("OP CPU use in cores (C=%d, ES256)", c), cores(op.c16), cores(other.c16), "%.2f", 0)
	higher(fmt.Sprintf("flows/s, C=%d keep-alive, RS256 ID token", c), op.c16RS.perSecond, other.c16RS.perSecond, "%.1f", 0)
	rs := row{figure: fmt.Sprintf("OP CPU ms per flow (C=%d, RS256)", c), op: num(cpuPerFlow(op.c16RS), "%.2f"), other: num(cpuPerFlow(other.c16RS), "%.2f")}
	_, rs.ratio = ratio(cpuPerFlow(op.c16RS), cpuPerFlow(other.c16RS))
	rs.target, rs.ok = fmt.Sprintf("≤ 1.3 × RSA sig = %.2f ms", 1.3*ms(m.rsaSig)), na
	if v := cpuPerFlow(op.c16RS); v > 0 && m.rsaSig > 0 {
		rs.ok = fmt.Sprintf("%s (%.1f sigs)", yesNo(v <= 1.3*ms(m.rsaSig)), v/ms(m.rsaSig))
	}
	rows = append(rows, rs)
	higher(fmt.Sprintf("flows/s, C=%d new mTLS connection per request, ES256", c), op.fresh.perSecond, other.fresh.perSecond, "%.1f", 4)
	higher(fmt.Sprintf("OP CPU ms per flow (C=%d, new connection)", c), cpuPerFlow(op.fresh), cpuPerFlow(other.fresh), "%.2f", 0)
	higher(fmt.Sprintf("token requests/s on pending requests, C=%d", c), op.pending.pollRate, other.pending.pollRate, "%.0f", 5)
	higher("OP CPU µs per token request on a pending request", op.pending.pollCPU, other.pending.pollCPU, "%.0f", 0)
	for i, n := range s.pending {
		per := func(r *results) float64 {
			if len(r.pending.rss) <= i || r.pending.created[i] == 0 {
				return 0
			}
			return float64(r.pending.rss[i]-r.pending.rss0) / float64(r.pending.created[i])
		}
		r := row{figure: fmt.Sprintf("RSS bytes per pending request, %d pending", n), op: num(per(op), "%.0f"), other: num(per(other), "%.0f")}
		_, r.ratio = ratio(per(op), per(other))
		r.target, r.ok = "≤ 1024", na
		if v := per(op); v != 0 {
			r.ok = yesNo(v <= 1024)
		}
		rows = append(rows, r)
	}
	last := len(s.pending) - 1
	total := func(r *results) float64 {
		if len(r.pending.rss) <= last {
			return 0
		}
		return float64(r.pending.rss[last]) / (1 << 20)
	}
	tr := row{figure: fmt.Sprintf("RSS MiB in total, %d pending", s.pending[last]), op: num(total(op), "%.1f"), other: num(total(other), "%.1f")}
	_, tr.ratio = ratio(total(op), total(other))
	if s.pending[last] == 100000 {
		tr.target, tr.ok = "< 150 MB", na
		if v := total(op); v > 0 {
			tr.ok = yesNo(v*(1<<20) < 150e6)
		}
	}
	rows = append(rows, tr)
	lat := func(figure string, a, b []time.Duration, bNA bool, target bool) {
		f := func(ds []time.Duration, isNA bool) string {
			if isNA || len(ds) == 0 {
				return na
			}
			return fmt.Sprintf("%.2f / %.2f", ms(percentile(ds, 50)), ms(percentile(ds, 99)))
		}
		r := row{figure: figure, op: f(a, false), other: f(b, bNA)}
		_, r.ratio = ratio(ms(percentile(a, 99)), ms(percentile(b, 99)))
		if bNA {
			r.ratio = na
		}
		if target {
			r.target, r.ok = "p99 ≤ 2 ms", na
			if len(a) > 0 {
				r.ok = yesNo(percentile(a, 99) <= 2*time.Millisecond)
			}
		}
		rows = append(rows, r)
	}
	lat("ping: decision sent → ping received, ms p50 / p99", op.ping.notify, other.ping.notify, false, false)
	lat("ping: decision sent → tokens received, ms p50 / p99", op.ping.token, other.ping.token, false, true)
	lat("push: decision sent → tokens received, ms p50 / p99", op.push.token, other.push.token, other.pushNA || len(other.push.token) == 0, true)
	errs := func(r *results) string {
		n := r.c1.errors + r.c16.errors + r.c16RS.errors + r.fresh.errors + r.pending.errors + r.ping.errors + r.push.errors
		sd := r.c1.slowDown + r.c16.slowDown + r.c16RS.slowDown + r.fresh.slowDown
		return fmt.Sprintf("%d / %d", n, sd)
	}
	rows = append(rows, row{figure: "unexpected answers / slow_down answers", op: errs(op), other: errs(other)})
	return rows
}

// oidcProviderVersion is the version of interop/node_modules/oidc-provider.
func oidcProviderVersion(interop string) string {
	data, err := os.ReadFile(filepath.Join(interop, "node_modules", "oidc-provider", "package.json"))
	if err != nil {
		return "?"
	}
	var p struct{ Version string }
	json.Unmarshal(data, &p)
	return p.Version
}

func printReport(w io.Writer, m machine, s settings, all []*results) {
	var op, other *results
	for _, r := range all {
		if r.name == "ciba-op" {
			op = r
		} else {
			other = r
		}
	}
	tlsOf := func(r *results) string {
		if r == nil || r.tlsKeepAlive == "" {
			return na
		}
		return r.tlsKeepAlive
	}
	mode := "full run"
	if s.quick {
		mode = "quick run"
	}
	var phases []string
	for _, p := range allPhases {
		if s.phases[p] {
			phases = append(phases, p)
		}
	}
	if len(phases) > 0 && len(phases) < len(allPhases) {
		mode += ", phases " + strings.Join(phases, ",")
	}
	fmt.Fprintf(w, "ciba-bench (%s): ciba-op against oidc-provider %s on 127.0.0.1\n", mode, m.providerVersion)
	fmt.Fprintf(w, "machine:   %s CPUs, %s; Go %s, Node %s\n", m.cpus, m.model, strings.TrimPrefix(m.goVersion, "go"), strings.TrimPrefix(m.nodeVersion, "v"))
	fmt.Fprintf(w, "load avg:  %s before, %s after (1, 5, 15 min)\n", m.loadBefore, m.loadAfter)
	fmt.Fprintf(w, "TLS:       ciba-op %s; oidc-provider %s; HTTP/1.1, tls_client_auth, ECDSA P-256 certificates from one CA on both sides\n", tlsOf(op), tlsOf(other))
	tokensOf := func(r *results) string {
		if r == nil || r.accessTokens == "" {
			return na
		}
		return r.accessTokens
	}
	fmt.Fprintf(w, "tokens:    ID tokens ES256 or RS256 as each row says, same keys on both sides; access tokens: ciba-op %s, oidc-provider %s\n", tokensOf(op), tokensOf(other))
	fmt.Fprintf(w, "settings:  C=%d, poll interval %s, warm-up %s, window %s, at most %d flows in flight, %d flows per latency figure\n",
		s.conns, s.interval, s.warmup, s.window, s.maxInFlight, s.latencyFlows)
	if s.longPoll > 0 {
		fmt.Fprintf(w, "ciba-op:   serve --long-poll %s in the flows and latency rows (it holds a poll on a pending request until the decision; not its default); the pending rows without it\n", s.longPoll)
	}
	fmt.Fprintf(w, "yardstick: one RSA-2048 PKCS#1 v1.5 signature (Go crypto/rsa, one core) = %.3f ms\n\n", ms(m.rsaSig))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tciba-op\toidc-provider\tratio\ttarget\tmet")
	for _, r := range buildRows(m, s, op, other) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.figure, r.op, r.other, r.ratio, r.target, r.ok)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nratio = ciba-op ÷ oidc-provider; CPU and RSS are the OP process's only (ciba-op includes its embedded NATS server);")
	fmt.Fprintln(w, "the pending rows come from a freshly started process of each OP.")
	for _, n := range boundNotes(s, op, other) {
		fmt.Fprintln(w, n)
	}
}

// boundNotes names the flows rows whose in-flight bound was reached for
// at least 5 % of the window: there, flows/s measures the bound divided
// by the flows' duration (at least one interval in poll mode), not the OP.
func boundNotes(s settings, all ...*results) []string {
	var notes []string
	for _, r := range all {
		if r == nil {
			continue
		}
		for _, f := range []struct {
			label string
			res   flowResult
		}{
			{"C=1 keep-alive, ES256", r.c1},
			{fmt.Sprintf("C=%d keep-alive, ES256", s.conns), r.c16},
			{fmt.Sprintf("C=%d keep-alive, RS256", s.conns), r.c16RS},
			{fmt.Sprintf("C=%d new connection, ES256", s.conns), r.fresh},
		} {
			if f.res.atBound >= 0.05 {
				notes = append(notes, fmt.Sprintf("limited by the bench: %s, %s had %d flows in flight during %.0f%% of the window; raise -max-in-flight",
					r.name, f.label, s.maxInFlight, 100*f.res.atBound))
			}
		}
	}
	return notes
}
