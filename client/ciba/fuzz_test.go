package ciba

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/shared/oauth"
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

func FuzzParseNotification(f *testing.F) {
	for _, s := range []string{
		`{"auth_req_id":"1c266114-a1be-4252-8ad1-04986c5b9ac1"}`,
		`{"auth_req_id":"a","access_token":"at","token_type":"Bearer","id_token":"x.y.z","refresh_token":"rt","expires_in":300}`,
		`{"auth_req_id":"a","error":"access_denied","error_description":"no"}`,
		`{"auth_req_id":"a","error":"transaction_failed"}`,
		`{"auth_req_id":"a","error":7}`,
		`{"auth_req_id":"a","access_token":"at","token_type":"Bearer"}`,
		`{"auth_req_id":""}`, `{"auth_req_id":1}`, `{}`, `[]`, `null`, `{`, `{"auth_req_id":"a"} x`,
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, push bool) {
		mode := oauth.ModePing
		if push {
			mode = oauth.ModePush
		}
		n, problem := parseNotification(body, mode)
		if problem != "" {
			if n != nil || strings.ContainsAny(problem, "\r\n") {
				t.Fatalf("problem %q with notification %v", problem, n)
			}
			return
		}
		if n.AuthReqID == "" || n.Mode != mode {
			t.Fatalf("accepted %+v from %q", n, body)
		}
		if mode == oauth.ModePing && (n.Token != nil || n.Err != nil) {
			t.Fatalf("a ping carried a payload: %+v", n)
		}
		if mode == oauth.ModePush && (n.Token == nil) == (n.Err == nil) {
			t.Fatalf("a push must carry exactly one of a token and an error: %+v", n)
		}
		if n.Token != nil && (n.Token.AccessToken == "" || n.Token.IDToken == "") {
			t.Fatalf("accepted a push token without access_token or id_token: %q", body)
		}
	})
}

func FuzzIDTokenClaims(f *testing.F) {
	for _, s := range []string{
		`{"iss":"https://op","aud":"c","sub":"u","exp":1767323400,"iat":1767323100}`,
		`{"iss":"https://op","aud":["c","d"],"azp":"c","sub":"u","exp":1767323400,"iat":1767323100,"nbf":1767323100}`,
		`{"iss":"https://op","aud":["c"],"sub":"u","exp":1e300,"iat":-1}`,
		`{"iss":"https://op","aud":[1],"sub":"u","exp":"x","iat":null}`,
		`{"iss":"https://op","aud":"c","sub":"u","exp":1767323400,"iat":1767323100,"at_hash":7,"urn:openid:params:jwt:claim:auth_req_id":"id"}`,
		`{}`,
	} {
		f.Add([]byte(s))
	}
	now := time.Unix(1767323200, 0)
	v, err := NewIDTokenValidator(IDTokenConfig{Issuer: "https://op", ClientID: "c", Keys: NewKeySet(KeySetConfig{}), Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var claims map[string]any
		if dec.Decode(&claims) != nil || claims == nil {
			return
		}
		tok, err := v.checkClaims(claims, AlgES256, Expect{AuthReqID: "id", AccessToken: "at", Push: len(body)%2 == 0})
		if err != nil {
			var ie *IDTokenError
			if tok != nil || !errors.As(err, &ie) || strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("err %v with token %v", err, tok)
			}
			return
		}
		if tok.Issuer != "https://op" || !slices.Contains(tok.Audience, "c") || tok.Subject == "" ||
			!now.Before(tok.Expiry.Add(DefaultClockSkew)) || tok.IssuedAt.After(now.Add(DefaultClockSkew)) {
			t.Fatalf("accepted invalid claims %s", body)
		}
	})
}

func FuzzJWSHeader(f *testing.F) {
	for _, s := range []string{"eyJhbGciOiJFUzI1NiJ9.e30.c2ln", "e30.e30.", "..", "a.b", "!!.x.y", "eyJjcml0IjpbXX0.e30.x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		h, err := jwsHeader(raw)
		if err != nil {
			var ie *IDTokenError
			if h != nil || !errors.As(err, &ie) {
				t.Fatalf("header %v err %v", h, err)
			}
			return
		}
		if h == nil {
			t.Fatal("nil header without an error")
		}
	})
}
