package cliconv

import (
	"fmt"
	"strings"
)

// Exit codes shared by the three programs. A code means the same in each
// program that uses it; docs/cli.md documents them once (Table).
const (
	ExitOK          = 0   // success
	ExitError       = 1   // an unexpected error
	ExitUsage       = 2   // a usage mistake: flag, argument, environment, file named by a flag
	ExitDenied      = 3   // the user denied the request (access_denied)
	ExitExpired     = 4   // the request expired, or is no longer pending
	ExitRefused     = 5   // the OP refused this program's credentials
	ExitRejected    = 6   // the OP rejected the request or decision for another reason
	ExitUntrusted   = 7   // the OP's TLS certificate is not trusted
	ExitWrongPIN    = 8   // the device PIN was wrong; nothing was sent
	ExitInterrupted = 130 // interrupted by SIGINT or SIGTERM (128 + SIGINT)
)

// Program names.
const (
	OP            = "ciba-op"
	Client        = "ciba-client"
	Authenticator = "ciba-authenticator"
)

// Code is one row of the exit code table.
type Code struct {
	Code    int
	Name    string // a word or two: "denied"
	Meaning string // one sentence
	// Programs maps each program returning the code to what it means
	// there.
	Programs map[string]string
}

// Table returns the exit codes of the three programs, in order.
func Table() []Code {
	return []Code{
		{ExitOK, "success", "the command did what it was asked.", map[string]string{
			OP:            "done",
			Client:        "an access token was received and printed",
			Authenticator: "done; with --once, the OP accepted a decision; end of stdin",
		}},
		{ExitError, "error", "something unexpected; the message names it.", map[string]string{
			OP:            "a file could not be read or written, a name already exists or is unknown, a subject DN or SAN is another client's, a listener failed",
			Client:        "the OP is unreachable, answered against the specification, or sent an invalid ID token",
			Authenticator: "NATS unreachable, no OP answering, a decision not delivered",
		}},
		{ExitUsage, "usage", "a mistake on the command line; nothing was changed.", map[string]string{
			OP:            "unknown command or flag, missing or invalid value",
			Client:        "bad flag (e.g. a malformed --issuer, a PEM file given to --cert), environment value or file named by a flag",
			Authenticator: "bad flag or rules file, no password or PIN available, an unusable --device-dir",
		}},
		{ExitDenied, "denied", "the user denied the request.", map[string]string{
			Client: "access_denied",
		}},
		{ExitExpired, "expired", "the request expired or is no longer pending.", map[string]string{
			Client:        "expired_token, expires_in elapsed, nothing pushed within expires_in, or --timeout",
			Authenticator: "approve/deny: no such pending request (expired, decided, unknown)",
		}},
		{ExitRefused, "refused", "the OP refused this program's credentials.", map[string]string{
			Client:        "invalid_client, unauthorized_client, the OP refused the client certificate, an unusable PKCS#12",
			Authenticator: "wrong password at enrollment, device revoked or unknown to the OP, unsafe device directory",
		}},
		{ExitRejected, "rejected", "the OP rejected the request for another reason.", map[string]string{
			Client:        "invalid_request, unknown_user_id, invalid_scope, invalid_grant, ...",
			Authenticator: "the OP refused the decision",
		}},
		{ExitUntrusted, "untrusted", "the OP's TLS certificate did not verify.", map[string]string{
			Client: "not issued by a CA of --ca-file, or not for the issuer's host",
		}},
		{ExitWrongPIN, "wrong PIN", "the device PIN was wrong; nothing was sent.", map[string]string{
			Authenticator: "approve, the approval hook",
		}},
		{ExitInterrupted, "interrupted", "SIGINT (Ctrl-C) or SIGTERM stopped the program.", map[string]string{
			OP:            "serve stopped cleanly",
			Client:        "interrupted while waiting",
			Authenticator: "interrupted",
		}},
	}
}

// Codes returns the rows program uses.
func Codes(program string) []Code {
	var out []Code
	for _, c := range Table() {
		if _, ok := c.Programs[program]; ok {
			out = append(out, c)
		}
	}
	return out
}

// ExitSection is the EXIT CODES section of program's help pages.
func ExitSection(program string) string {
	var b strings.Builder
	b.WriteString("EXIT CODES\n")
	for _, c := range Codes(program) {
		fmt.Fprintf(&b, "  %-4d %s: %s\n", c.Code, c.Name, c.Programs[program])
	}
	b.WriteString("  The table for all three programs: docs/cli.md.\n")
	return b.String()
}

// Markdown is the exit code table of docs/cli.md.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| code | meaning | " + OP + " | " + Client + " | " + Authenticator + " |\n")
	b.WriteString("| --- | --- | --- | --- | --- |\n")
	for _, c := range Table() {
		cell := func(p string) string {
			if m, ok := c.Programs[p]; ok {
				return strings.ReplaceAll(m, "|", `\|`)
			}
			return "–"
		}
		fmt.Fprintf(&b, "| %d | **%s**: %s | %s | %s | %s |\n", c.Code, c.Name, c.Meaning, cell(OP), cell(Client), cell(Authenticator))
	}
	return b.String()
}
