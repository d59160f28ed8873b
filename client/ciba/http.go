package ciba

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cibalab/cibalab/shared/oauth"
)

// response is a bounded, fully read HTTP response.
type response struct {
	endpoint string
	status   int
	header   http.Header
	body     []byte
}

func (r *response) problem(format string, args ...any) *ResponseError {
	return &ResponseError{Endpoint: r.endpoint, Status: r.status, Problem: fmt.Sprintf(format, args...)}
}

// postForm sends form as application/x-www-form-urlencoded, the encoding
// CIBA Core 1.0 §7.1 and RFC 6749 §4.1.3 require, and reads the answer.
func (c *Config) postForm(ctx context.Context, endpoint string, form url.Values) (*response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("ciba: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	return c.do(c.postClient(), req)
}

// postForJSON posts form (postForm) and returns the answer, with the time
// it arrived, when it is a success: 200 with a JSON body (RFC 6749 §5.1,
// CIBA Core 1.0 §7.3). Any other status is the provider's error response
// (RFC 6749 §5.2, CIBA Core 1.0 §13), returned as the error together with
// the answer, for the caller to log its status.
func (c *Config) postForJSON(ctx context.Context, endpoint string, form url.Values) (*response, time.Time, error) {
	resp, err := c.postForm(ctx, endpoint, form)
	if err != nil {
		return nil, time.Time{}, err
	}
	received := c.now()
	if resp.status != http.StatusOK {
		return resp, received, resp.oauthError(received)
	}
	if err := resp.requireJSON(); err != nil {
		return nil, received, err
	}
	return resp, received, nil
}

func (c *Config) get(ctx context.Context, endpoint string) (*response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("ciba: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	return c.do(c.getClient(), req)
}

func (c *Config) do(hc *http.Client, req *http.Request) (*response, error) {
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // it would repeat the method and URL
		}
		return nil, fmt.Errorf("ciba: %s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	r := &response{endpoint: req.URL.Redacted(), status: resp.StatusCode, header: resp.Header}
	limit := c.maxBytes()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("ciba: %s %s: reading the response: %w", req.Method, r.endpoint, err)
	}
	if int64(len(body)) > limit {
		return nil, r.problem("response body larger than %d bytes", limit)
	}
	r.body = body
	return r, nil
}

// requireJSON checks that the response is declared as application/json.
func (r *response) requireJSON() error {
	ct := r.header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		if ct == "" {
			return r.problem("no content type, want application/json")
		}
		return r.problem("content type %q, want application/json", firstLine(ct))
	}
	return nil
}

// oauthError turns a non-200 response into the *oauth.Error of its body
// (RFC 6749 §5.2, CIBA Core 1.0 §11 and §13). A 503 without an OAuth JSON
// error body (no JSON, or JSON that is not an error object) still becomes
// a temporarily_unavailable error so the poll loop can honour its
// Retry-After (CIBA Core 1.0 §11); a 503 with an error code keeps that
// code.
func (r *response) oauthError(now time.Time) error {
	retry := retryAfter(r.header.Get("Retry-After"), now)
	unavailable := &oauth.Error{Code: oauth.ErrTemporarilyUnavailable, Status: r.status, RetryAfter: retry}
	if err := r.requireJSON(); err != nil {
		if r.status == http.StatusServiceUnavailable {
			return unavailable
		}
		return err
	}
	oe, problem := decodeError(r.body)
	if problem != "" {
		if r.status == http.StatusServiceUnavailable {
			return unavailable
		}
		return r.problem("%s", problem)
	}
	oe.Status = r.status
	oe.RetryAfter = retry
	return oe
}

// decodeError parses an RFC 6749 §5.2 error body. The error code must be
// present and limited to the characters RFC 6749 §5.2 allows.
func decodeError(body []byte) (*oauth.Error, string) {
	var raw struct {
		Code        *string `json:"error"`
		Description string  `json:"error_description"`
		URI         string  `json:"error_uri"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, "malformed JSON error body: " + jsonProblem(err)
	}
	if raw.Code == nil || *raw.Code == "" {
		return nil, "error response without an error code"
	}
	if !validErrorCode(*raw.Code) {
		return nil, "error code has characters RFC 6749 §5.2 does not allow"
	}
	return &oauth.Error{Code: *raw.Code, Description: raw.Description, URI: raw.URI}, ""
}

// validErrorCode reports whether code uses only %x20-21 / %x23-5B / %x5D-7E
// (RFC 6749 §5.2).
func validErrorCode(code string) bool {
	for i := 0; i < len(code); i++ {
		b := code[i]
		if b < 0x20 || b > 0x7e || b == '"' || b == '\\' {
			return false
		}
	}
	return len(code) <= 256
}

// retryAfter reads a Retry-After header (RFC 9110 §10.2.3) as a number of
// seconds from now; it returns 0 when the header is absent or malformed.
func retryAfter(v string, now time.Time) int {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return min(n, maxSeconds)
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	switch {
	case d <= 0:
		return 0
	case d >= maxSeconds*time.Second:
		return maxSeconds
	}
	return int((d + time.Second - 1) / time.Second)
}

// maxSeconds bounds every duration read from the wire (one year), so that
// converting it to a time.Duration never overflows.
const maxSeconds = 366 * 24 * 3600

func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		if te.Field != "" {
			return fmt.Sprintf("%s is a JSON %s, want %s", te.Field, te.Value, te.Type)
		}
		return fmt.Sprintf("got a JSON %s, want %s", te.Value, te.Type)
	}
	return firstLine(err.Error())
}

func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
