package ciba

import (
	"strings"
	"testing"
	"time"
)

func FuzzDecodeAck(f *testing.F) {
	for _, s := range []string{
		`{"auth_req_id":"1c266114-a1be-4252-8ad1-04986c5b9ac1","expires_in":120,"interval":2}`,
		`{"auth_req_id":"a","expires_in":60}`,
		`{"auth_req_id":"a","expires_in":1e2}`,
		`{"auth_req_id":"a","expires_in":-5,"interval":-1}`,
		`{"auth_req_id":null,"expires_in":null}`,
		`[]`, `null`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ack, problem := decodeAck(body)
		if problem != "" {
			if ack != nil || strings.ContainsAny(problem, "\r\n") {
				t.Fatalf("problem %q with ack %v", problem, ack)
			}
			return
		}
		if ack.AuthReqID == "" || ack.ExpiresIn <= 0 || ack.ExpiresIn > maxSeconds || ack.Interval <= 0 || ack.Interval > maxSeconds {
			t.Fatalf("accepted an invalid ack %+v from %q", ack, body)
		}
	})
}

func FuzzDecodeToken(f *testing.F) {
	for _, s := range []string{
		`{"access_token":"at","token_type":"Bearer","expires_in":300,"id_token":"x.y.z","scope":"openid"}`,
		`{"access_token":"at","token_type":"bearer"}`,
		`{"access_token":"at","token_type":"DPoP"}`,
		`{"access_token":"","token_type":"Bearer"}`,
		`{"access_token":"at","token_type":"Bearer","expires_in":3.5}`,
		`{"access_token":"at","token_type":"Bearer"} trailing`,
		`"x"`, `null`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, problem := decodeToken(body)
		if problem != "" {
			if tok != nil || strings.ContainsAny(problem, "\r\n") {
				t.Fatalf("problem %q with token %v", problem, tok)
			}
			return
		}
		if tok.AccessToken == "" || !strings.EqualFold(tok.TokenType, "bearer") || tok.Raw == nil || tok.ExpiresIn < 0 {
			t.Fatalf("accepted an invalid token response %+v from %q", tok, body)
		}
	})
}

func FuzzDecodeError(f *testing.F) {
	for _, s := range []string{
		`{"error":"authorization_pending","error_description":"wait"}`,
		`{"error":"slow_down"}`, `{"error":""}`, `{"error":7}`, `{"error":"a\"b"}`, `{}`, `[`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		oe, problem := decodeError(body)
		if problem != "" {
			if oe != nil {
				t.Fatalf("problem %q with error %v", problem, oe)
			}
			return
		}
		if oe.Code == "" || !validErrorCode(oe.Code) {
			t.Fatalf("accepted an invalid error code %q", oe.Code)
		}
	})
}

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"12", "-1", "", "Wed, 21 Oct 2015 07:28:00 GMT", "99999999999999999999", " 3 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if n := retryAfter(v, fuzzNow); n < 0 || n > maxSeconds {
			t.Fatalf("retryAfter(%q) = %d", v, n)
		}
	})
}

var fuzzNow = time.Date(2015, 10, 21, 7, 27, 0, 0, time.UTC)
