package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/cibalab/cibalab/client/ciba"
	"github.com/cibalab/cibalab/shared/oauth"
)

// secretParams are form parameters and JSON members --trace redacts: the
// tokens, assertions and codes that would let a reader act as the client
// or the user.
var secretParams = []string{
	"access_token", "refresh_token", "id_token", "client_assertion", "request",
	"client_notification_token", "user_code", "login_hint_token", "id_token_hint", "password",
}

// traceBodyLimit is how much of a body --trace prints, after redaction.
const traceBodyLimit = 4096

// traceReadLimit is how much of a body --trace reads to parse and redact
// it: as much as the client itself accepts.
const traceReadLimit = ciba.DefaultMaxResponseBytes

// tracer prints each HTTP exchange on w (--trace), redacting secrets
// unless show is set.
type tracer struct {
	next http.RoundTripper
	w    io.Writer
	show bool
	mu   sync.Mutex
}

// RoundTrip implements http.RoundTripper.
func (t *tracer) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil && req.GetBody != nil {
		if b, err := req.GetBody(); err == nil {
			reqBody, _ = io.ReadAll(io.LimitReader(b, traceReadLimit+1))
			b.Close()
		}
	}
	var out strings.Builder
	fmt.Fprintf(&out, "⇢ %s %s\n", req.Method, req.URL.Redacted())
	t.headers(&out, req.Header)
	t.body(&out, req.Header.Get("Content-Type"), reqBody)
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		fmt.Fprintf(&out, "⇠ %s\n", sanitize(err.Error()))
		t.print(out.String())
		return nil, err
	}
	// Read the body (bounded) to show and hand it on unchanged.
	prefix, _ := io.ReadAll(io.LimitReader(resp.Body, traceReadLimit+1))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(prefix), resp.Body), resp.Body}
	fmt.Fprintf(&out, "⇠ %s\n", resp.Status)
	t.headers(&out, resp.Header)
	t.body(&out, resp.Header.Get("Content-Type"), prefix)
	t.print(out.String())
	return resp, nil
}

// notification prints an incoming notification (ping or push).
func (t *tracer) notification(r *http.Request, body []byte, status int) {
	var out strings.Builder
	fmt.Fprintf(&out, "⇠ notification %s %s from %s\n", r.Method, sanitize(r.URL.Path), sanitize(r.RemoteAddr))
	t.headers(&out, r.Header)
	t.body(&out, r.Header.Get("Content-Type"), body)
	fmt.Fprintf(&out, "⇢ answered %d %s\n", status, http.StatusText(status))
	t.print(out.String())
}

func (t *tracer) print(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	io.WriteString(t.w, s)
}

func (t *tracer) headers(out *strings.Builder, h http.Header) {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range h[k] {
			if !t.show && (k == "Authorization" || k == "Cookie" || k == "Set-Cookie") {
				scheme, _, _ := strings.Cut(v, " ")
				v = scheme + " " + redacted(v)
			}
			fmt.Fprintf(out, "    %s: %s\n", k, sanitize(v))
		}
	}
}

// body prints a body: the whole of it is parsed and redacted first, and
// only the printed text is shortened, so that a long body never shows a
// secret. Unless --show-secrets, a body that cannot be parsed and redacted
// (malformed JSON, another content type, larger than traceReadLimit) is
// described by its size, never printed.
func (t *tracer) body(out *strings.Builder, contentType string, body []byte) {
	if len(body) == 0 {
		return
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	kind := mt
	if kind == "" {
		kind = "unknown type"
	}
	var text string
	switch {
	case len(body) > traceReadLimit && !t.show:
		text = fmt.Sprintf("(more than %d bytes of %s)", traceReadLimit, kind)
	case mt == "application/x-www-form-urlencoded":
		text = t.form(string(body))
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		text = t.json(body)
	case t.show:
		text = string(body)
	default:
		text = fmt.Sprintf("(%d bytes of %s)", len(body), kind)
	}
	cut := len(text) > traceBodyLimit
	if cut {
		n := traceBodyLimit
		for n > 0 && !utf8.RuneStart(text[n]) {
			n--
		}
		text = text[:n]
	}
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		fmt.Fprintf(out, "    %s\n", sanitize(line))
	}
	if cut {
		out.WriteString("    …\n")
	}
}

func (t *tracer) form(s string) string {
	v, err := url.ParseQuery(s)
	if err != nil {
		return "(malformed form body)"
	}
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, x := range v[k] {
			fmt.Fprintf(&b, "%s=%s\n", k, t.value(k, x))
		}
	}
	return b.String()
}

func (t *tracer) json(body []byte) string {
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		if t.show {
			return "(malformed JSON: " + strings.ReplaceAll(string(body), "\n", " ") + ")"
		}
		return fmt.Sprintf("(malformed JSON, %d bytes)", len(body))
	}
	v = t.redactJSON("", v)
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return "(unprintable JSON)"
	}
	return out.String()
}

func (t *tracer) redactJSON(key string, v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = t.redactJSON(k, e)
		}
	case []any:
		for i, e := range x {
			x[i] = t.redactJSON(key, e)
		}
	case string:
		return t.value(key, x)
	}
	return v
}

// value redacts v when key names a secret; an auth_req_id shows as its
// oauth.ReqRef, the reference the logs, the OP and the device show.
func (t *tracer) value(key, v string) string {
	if t.show {
		return v
	}
	switch {
	case key == oauth.ParamAuthReqID:
		return fmt.Sprintf("<redacted, %s=%s>", oauth.LogAttrReq, oauth.ReqRef(v))
	case slices.Contains(secretParams, key):
		return redacted(v)
	}
	return v
}

func redacted(v string) string { return fmt.Sprintf("<redacted, %d characters>", len(v)) }
