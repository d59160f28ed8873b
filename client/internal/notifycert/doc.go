// Package notifycert issues the TLS server certificate of ciba-client's
// notification endpoint (CIBA Core 1.0 §10.2, §10.3) from a CA the
// provider trusts, for a client given that CA (--notify-ca-cert and
// --notify-ca-key) rather than a ready certificate. The library
// github.com/cibalab/cibalab/client/ciba takes a ready certificate and issues none.
package notifycert
