// Command agent is a software agent that asks a human before it acts: it
// wants to pay an invoice, so it starts a CIBA request (CIBA Core 1.0
// §7.1) carrying one payment_initiation entry of authorization_details
// (RFC 9396 §2), waits while the person reads the amount and the payee on
// their authentication device and approves or denies, and pays only with
// a token whose granted authorization_details are exactly the payment it
// asked for (RFC 9396 §7).
//
// It is the runnable example of docs/recipes/agent-asks-a-human.md:
//
//	go run ./examples/agent --issuer https://localhost:5001/master \
//	    --ca-file .cibalab/ca.pem --cert agent.p12 --cert-password-file agent.pass \
//	    --user user --amount 120.00 --creditor "ACME GmbH" --iban DE89370400440532013000 --invoice 4711
//
// Exit codes: 0 paid; 1 unexpected error; 2 usage; 3 the person declined;
// 4 the request expired; 6 the OP refused the request; 7 the grant is not
// the payment asked for (nothing paid).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/cibalab/cibalab/client/ciba"
	"github.com/cibalab/cibalab/shared/authzdetails"
	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

// Exit codes.
const (
	exitPaid     = 0
	exitError    = 1
	exitUsage    = 2
	exitDeclined = 3
	exitExpired  = 4
	exitRejected = 6
	exitMismatch = 7
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// invoice is what the agent wants to pay.
type invoice struct {
	number, amount, currency, creditor, iban string
}

// detail is the payment_initiation entry asking for exactly inv.
func (inv invoice) detail() (authzdetails.Details, error) {
	entry := map[string]any{
		"type":                              authzdetails.TypePaymentInitiation,
		"instructedAmount":                  map[string]string{"currency": inv.currency, "amount": inv.amount},
		"creditorName":                      inv.creditor,
		"creditorAccount":                   map[string]string{"iban": inv.iban},
		"remittanceInformationUnstructured": "Invoice " + inv.number,
	}
	b, err := json.Marshal([]any{entry})
	if err != nil {
		return nil, err
	}
	ds, err := authzdetails.Parse(b)
	if err == nil {
		err = authzdetails.Validate(ds, []string{authzdetails.TypePaymentInitiation})
	}
	return ds, err
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	issuer := fs.String("issuer", "https://localhost:5001/master", "issuer of the OP")
	caFile := fs.String("ca-file", ".cibalab/ca.pem", "PEM CA certificates trusted for the OP")
	certFile := fs.String("cert", "agent.p12", "the agent's client certificate (PKCS#12)")
	passFile := fs.String("cert-password-file", "agent.pass", "file holding the PKCS#12 password")
	clientID := fs.String("client-id", "agent", "client_id, registered with --authorization-details-types payment_initiation")
	user := fs.String("user", "user", "login_hint: the person who approves")
	var inv invoice
	fs.StringVar(&inv.number, "invoice", "4711", "invoice number, sent as the payment reference")
	fs.StringVar(&inv.amount, "amount", "120.00", "amount to pay, a decimal")
	fs.StringVar(&inv.currency, "currency", "EUR", "ISO 4217 currency")
	fs.StringVar(&inv.creditor, "creditor", "ACME GmbH", "payee's name")
	fs.StringVar(&inv.iban, "iban", "DE89370400440532013000", "payee's IBAN")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	asked, err := inv.detail()
	if err != nil {
		fmt.Fprintf(stderr, "agent: the invoice is not a valid payment: %v\n", err)
		return exitUsage
	}

	pass, err := os.ReadFile(*passFile)
	if err != nil {
		fmt.Fprintf(stderr, "agent: %v\n", err)
		return exitUsage
	}
	cert, err := pki.LoadPKCS12File(*certFile, strings.TrimRight(string(pass), "\r\n"))
	if err != nil {
		fmt.Fprintf(stderr, "agent: %v\n", err)
		return exitUsage
	}
	roots, err := pki.CertPoolFromPEMFile(*caFile)
	if err != nil {
		fmt.Fprintf(stderr, "agent: %v\n", err)
		return exitUsage
	}
	c := &ciba.Config{Issuer: *issuer, ClientID: *clientID, HTTPClient: ciba.NewHTTPClient(cert, roots, false)}
	if _, err := c.Discover(ctx); err != nil {
		fmt.Fprintf(stderr, "agent: discovery: %v\n", err)
		return exitError
	}

	fmt.Fprintf(stderr, "agent: asking %s to approve: %s\n", *user, asked.Lines()[0])
	ack, err := c.Start(ctx, ciba.Request{
		Scope:                []string{oauth.ScopeOpenID},
		LoginHint:            *user,
		BindingMessage:       "Invoice " + inv.number,
		AuthorizationDetails: asked,
	})
	if err != nil {
		return failed(stderr, err)
	}
	fmt.Fprintf(stderr, "agent: waiting for the decision (up to %d s)\n", ack.ExpiresIn)
	tok, err := c.Wait(ctx, ack, nil)
	if err != nil {
		return failed(stderr, err)
	}
	granted, err := tok.GrantedDetails()
	if err != nil {
		fmt.Fprintf(stderr, "agent: %v\n", err)
		return exitError
	}
	// Proceed only with exactly what was asked: a token for less (or
	// another payment) is not a permission to pay this invoice.
	if !authzdetails.Equal(granted, asked) {
		fmt.Fprintf(stderr, "agent: the grant is not the payment asked for (%d entries granted): nothing paid\n", len(granted))
		return exitMismatch
	}
	// Here the agent calls the payment API with tok.AccessToken, whose
	// authorization_details the API checks itself (RFC 9396 §9).
	fmt.Fprintf(stdout, "paid invoice %s: %s\n", inv.number, granted.Lines()[0])
	return exitPaid
}

// failed reports an error of the OP and maps it to an exit code.
func failed(stderr io.Writer, err error) int {
	var oe *oauth.Error
	if !errors.As(err, &oe) {
		fmt.Fprintf(stderr, "agent: %v\n", err)
		if errors.Is(err, context.DeadlineExceeded) {
			return exitExpired
		}
		return exitError
	}
	fmt.Fprintf(stderr, "agent: %s: %s\n", oe.Code, oe.Description)
	switch oe.Code {
	case oauth.ErrAccessDenied:
		fmt.Fprintln(stderr, "agent: the person declined: nothing paid")
		return exitDeclined
	case oauth.ErrExpiredToken:
		return exitExpired
	}
	return exitRejected
}
