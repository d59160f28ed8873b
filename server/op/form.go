package op

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"unicode/utf8"

	"github.com/cibalab/cibalab/shared/oauth"
)

// parseForm reads a POST body of type application/x-www-form-urlencoded, as
// CIBA Core 1.0 §7.1 and RFC 6749 §3.2 require, and rejects a repeated
// parameter (CIBA Core 1.0 §13, RFC 6749 §3.1). Query parameters are not
// read. newErr builds the endpoint's error.
func (p *Provider) parseForm(w http.ResponseWriter, r *http.Request, newErr func(code, format string, args ...any) *oauth.Error) (url.Values, error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		e := newErr(oauth.ErrInvalidRequest, "the method must be POST")
		e.Status = http.StatusMethodNotAllowed
		return nil, e
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, newErr(oauth.ErrInvalidRequest, "the body must be application/x-www-form-urlencoded")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, p.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, newErr(oauth.ErrInvalidRequest, "the request body is larger than %d bytes", p.cfg.MaxBodyBytes)
		}
		return nil, newErr(oauth.ErrInvalidRequest, "the request body could not be read")
	}
	return parseFormBody(string(body), newErr)
}

// parseFormBody parses an URL-encoded body strictly: malformed escapes,
// invalid UTF-8 and repeated parameters are errors.
func parseFormBody(body string, newErr func(code, format string, args ...any) *oauth.Error) (url.Values, error) {
	form, err := url.ParseQuery(body)
	if err != nil {
		return nil, newErr(oauth.ErrInvalidRequest, "the form is malformed")
	}
	for name, vals := range form {
		if !utf8.ValidString(name) {
			return nil, newErr(oauth.ErrInvalidRequest, "a parameter name is not valid UTF-8")
		}
		if len(vals) > 1 {
			return nil, newErr(oauth.ErrInvalidRequest, "parameter %s is repeated", safeName(name))
		}
		if !utf8.ValidString(vals[0]) {
			return nil, newErr(oauth.ErrInvalidRequest, "parameter %s is not valid UTF-8", safeName(name))
		}
	}
	return form, nil
}

// safeName returns a parameter name fit for error_description, whose
// characters CIBA Core 1.0 §13 limits to printable ASCII without '"' and '\'.
func safeName(name string) string {
	if len(name) > 40 {
		name = name[:40]
	}
	out := []byte(name)
	for i, c := range out {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			out[i] = '?'
		}
	}
	return string(out)
}
