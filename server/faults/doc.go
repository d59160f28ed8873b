// Package faults injects the failures a test asks of a running OP: the
// next pings and pushes to clients' notification endpoints fail with a
// status or time out (CIBA Core 1.0 §10.2, §10.3), and the next token
// requests are refused with 503 temporarily_unavailable and Retry-After
// (CIBA Core 1.0 §11). optest and the control API (package control) both
// use them; the OP sees them through op.Config.NotificationClient's
// transport and op.Config.Throttle.
package faults
