// Package metrics is the OP's operator surface: Prometheus metrics of
// what the OP does, and health and readiness probes, on a listener of
// their own (ciba-op serve --metrics-addr).
//
// A Metrics value owns its registry (no global one). It is fed from the
// OP's hooks: it is an op.Observer (every exchange answered, every ping
// and push sent, CIBA Core 1.0 §10.2, §10.3), an authreq.Sink (every
// transition of an authentication request: decision latency, approve to
// token latency) and a wrapper around the request store (operations and
// errors); the NATS connection and the count of connected devices are read
// when scraped. Handler serves /metrics in the Prometheus text format,
// /healthz (the process answers) and /readyz (every Check passes).
package metrics
