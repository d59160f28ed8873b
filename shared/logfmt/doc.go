// Package logfmt is the log format of the cibalab programs: their
// --log-format flag (text or json, log/slog's two handlers) and the shape
// of a log line's message, a stable dotted event name such as
// authreq.approved, token.refreshed or notify.failed, the human detail
// being in attributes. Lines that concern an authentication request carry
// its reference under oauth.LogAttrReq.
package logfmt
