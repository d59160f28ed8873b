package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"

	"github.com/cibalab/cibalab/client/ciba"
	"github.com/cibalab/cibalab/shared/cliconv"
	"github.com/cibalab/cibalab/shared/oauth"
)

// Error codes of the --json document for failures that are not OAuth
// errors from the OP.
const (
	codeExpired = "expired"
	// codeNoPush is a push-mode request for which nothing was pushed
	// within its lifetime (ciba.ErrNoPush).
	codeNoPush      = "no_push"
	codeTimeout     = "timeout"
	codeInterrupted = "interrupted"
	codeUsage       = "usage"
	codeClientError = "client_error"
	// codeUntrusted is an OP whose TLS certificate did not verify.
	codeUntrusted = "untrusted_op"
	// codeInvalidResponse is an answer of the OP that breaks the
	// specification (a *ciba.ResponseError).
	codeInvalidResponse = "invalid_response"
	// codeInvalidIDToken is an ID token that failed a check.
	codeInvalidIDToken = "invalid_id_token"
)

// outcome is how a failed run ends: its exit code and the error of the
// --json document.
type outcome struct {
	exit int
	oauth.Error
}

// classify maps the error of a run to its outcome. interrupted reports
// that the caller's context was cancelled; timedOut that --timeout hit.
func classify(err error, interrupted, timedOut bool) outcome {
	var oe *oauth.Error
	var ue *usageError
	var ce *credentialError
	var re *ciba.ResponseError
	var ie *ciba.IDTokenError
	switch {
	case interrupted && errors.Is(err, context.Canceled):
		return outcome{ExitInterrupted, oauth.Error{Code: codeInterrupted, Description: "interrupted"}}
	case timedOut && errors.Is(err, context.DeadlineExceeded):
		return outcome{ExitExpired, oauth.Error{Code: codeTimeout, Description: "gave up: --timeout elapsed"}}
	case errors.Is(err, ciba.ErrNoPush):
		return outcome{ExitExpired, oauth.Error{Code: codeNoPush, Description: "nothing was pushed within expires_in: either the user answered and the OP could not deliver the outcome " +
			"(its log says why, on a WARN line \"push failed\"), or nobody answered and the OP's end-of-lifetime notice did not arrive either"}}
	case errors.Is(err, ciba.ErrExpired):
		return outcome{ExitExpired, oauth.Error{Code: codeExpired, Description: "the request expired (expires_in elapsed) before an answer reached the client"}}
	case errors.As(err, &ue):
		return outcome{ExitUsage, oauth.Error{Code: codeUsage, Description: cliconv.Plain(ue.msg)}}
	case errors.As(err, &oe):
		return outcome{exitForOAuth(oe.Code), oauth.Error{Code: oe.Code, Description: oe.Description, Status: oe.Status}}
	case errors.As(err, &re):
		return outcome{ExitError, oauth.Error{Code: codeInvalidResponse, Description: cliconv.Message(err)}}
	case errors.As(err, &ie):
		return outcome{ExitError, oauth.Error{Code: codeInvalidIDToken, Description: cliconv.Message(err)}}
	case isUntrusted(err):
		return outcome{ExitUntrusted, oauth.Error{Code: codeUntrusted, Description: "the OP's TLS certificate is not trusted (" + cliconv.Message(err) +
			"): give the CA that issued it with --ca-file (ciba-op's is <state-dir>/ca.pem)"}}
	case errors.As(err, &ce), isTLSFailure(err):
		return outcome{ExitClient, oauth.Error{Code: codeClientError, Description: cliconv.Message(err)}}
	}
	return outcome{ExitError, oauth.Error{Code: codeClientError, Description: cliconv.Message(err)}}
}

// exitForOAuth maps an error code of the OP to an exit code.
func exitForOAuth(code string) int {
	switch code {
	case oauth.ErrAccessDenied:
		return ExitDenied
	case oauth.ErrExpiredToken:
		return ExitExpired
	case oauth.ErrInvalidClient, oauth.ErrUnauthorizedClient:
		return ExitClient
	}
	return ExitRejected
}

// isUntrusted reports a server certificate that did not verify: the OP is
// not trusted, which is not the OP refusing the client.
func isUntrusted(err error) bool {
	var cve *tls.CertificateVerificationError
	var uae x509.UnknownAuthorityError
	var he x509.HostnameError
	var cie x509.CertificateInvalidError
	return errors.As(err, &cve) || errors.As(err, &uae) || errors.As(err, &he) || errors.As(err, &cie)
}

// isTLSFailure reports a failed TLS handshake: a server certificate that
// does not verify, or an alert from the server (such as bad_certificate
// when it refuses the client certificate).
func isTLSFailure(err error) bool {
	var cve *tls.CertificateVerificationError
	var uae x509.UnknownAuthorityError
	var he x509.HostnameError
	var cie x509.CertificateInvalidError
	var ae tls.AlertError
	var rhe tls.RecordHeaderError
	if errors.As(err, &cve) || errors.As(err, &uae) || errors.As(err, &he) || errors.As(err, &cie) ||
		errors.As(err, &ae) || errors.As(err, &rhe) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}
