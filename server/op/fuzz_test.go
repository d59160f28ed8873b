package op

import (
	"encoding/base64"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cibalab/cibalab/shared/oauth"
)

// signRawClaims signs an arbitrary claims payload (not necessarily JSON)
// with the named test key, so a fuzzer reaches the claim checks.
func signRawClaims(t testing.TB, keyName string, claims []byte) string {
	t.Helper()
	k := testClientKey(t, keyName)
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"` + k.alg + `","kid":"` + k.kid + `"}`))
	input := header + "." + base64.RawURLEncoding.EncodeToString(claims)
	sig, err := jwt.GetSigningMethod(k.alg).Sign(input, k.key)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// wantOAuthError checks that err is an *oauth.Error with one of codes, a
// description fit for CIBA Core 1.0 §13, and status 400.
func wantOAuthError(t *testing.T, err error, codes ...string) {
	t.Helper()
	var oe *oauth.Error
	if !errors.As(err, &oe) {
		t.Fatalf("error %v is not an *oauth.Error", err)
	}
	if !slices.Contains(codes, oe.Code) || oe.Status != 400 {
		t.Fatalf("error %s %d, want one of %v with 400", oe.Code, oe.Status, codes)
	}
	for _, c := range oe.Description {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			t.Fatalf("error_description %q has a character CIBA Core 1.0 §13 forbids", oe.Description)
		}
	}
}

// FuzzParseForm: the strict form parser never panics, and what it accepts
// has one valid UTF-8 value per name; what it refuses is invalid_request.
func FuzzParseForm(f *testing.F) {
	f.Add("client_id=client1&scope=openid+profile&login_hint=user")
	f.Add("a=1&a=2")
	f.Add("a=%zz")
	f.Add("%ff=1")
	f.Add("binding_message=%E2%9C%85&x=")
	f.Fuzz(func(t *testing.T, body string) {
		form, err := parseFormBody(body, oauth.BackchannelError)
		if err != nil {
			wantOAuthError(t, err, oauth.ErrInvalidRequest)
			return
		}
		for name, vals := range form {
			if len(vals) != 1 || !utf8.ValidString(name) || !utf8.ValidString(vals[0]) {
				t.Fatalf("accepted %q: %q=%q", body, name, vals)
			}
		}
	})
}

// FuzzRequestObject: the request-object validator never panics on a
// garbage token or on any claims payload signed with the client's key; it
// answers invalid_request or returns only string parameters of
// CIBA Core 1.0 §7.1.
func FuzzRequestObject(f *testing.F) {
	fx := newSignedFixture(f)
	client := fx.reg.clients["client1"]
	now := fx.clock.Now().Unix()
	f.Add([]byte(`{"iss":"client1","aud":"`+issuer+`","exp":`+itoa(now+300)+`,"iat":`+itoa(now)+`,"nbf":`+itoa(now)+`,"jti":"seed","scope":"openid","login_hint":"user","requested_expiry":"30"}`), "")
	f.Add([]byte(`{"aud":["x",1],"exp":1e400,"nbf":-1,"iat":"x","jti":7,"requested_expiry":{}}`), "eyJhbGciOiJub25lIn0.e30.")
	f.Add([]byte(`not json`), "a.b.c.d.e")
	f.Add([]byte(`{"exp":9007199254740993,"nbf":0.5}`), "...")
	f.Fuzz(func(t *testing.T, claims []byte, raw string) {
		for _, tok := range []string{signRawClaims(t, "es", claims), raw} {
			params, err := fx.p.parseRequestObject(client, tok)
			if err != nil {
				continue
			}
			for name, vals := range params {
				if !slices.Contains(authParamNames(), name) || len(vals) != 1 {
					t.Fatalf("parameter %q=%q from %s", name, vals, claims)
				}
			}
		}
		// Through the endpoint's wrapper every failure is invalid_request.
		form := url.Values{"request": {raw}}
		ac := &authenticatedClient{Client: client}
		if _, err := fx.p.requestParams(ac, form); err != nil {
			wantOAuthError(t, err, oauth.ErrInvalidRequest)
		}
	})
}

// FuzzHints: the login_hint_token and id_token_hint parsers never panic
// and answer only invalid_request or expired_login_hint_token, for garbage
// and for any claims payload signed with the client's key.
func FuzzHints(f *testing.F) {
	fx := newSignedFixture(f)
	client := fx.reg.clients["client1"]
	now := fx.clock.Now().Unix()
	f.Add([]byte(`{"iss":"client1","aud":"`+issuer+`","exp":`+itoa(now+300)+`,"sub":"user"}`), "")
	f.Add([]byte(`{"iss":"client1","aud":["`+issuer+`"],"exp":`+itoa(now-600)+`,"sub_id":{"format":"username","username":"alice"}}`), "x.y.z")
	f.Add([]byte(`{"sub_id":{"format":"opaque","id":5},"exp":"soon"}`), "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.AAAA")
	f.Add([]byte(`[]`), strings.Repeat(".", 3))
	f.Fuzz(func(t *testing.T, claims []byte, raw string) {
		signed := signRawClaims(t, "es", claims)
		for _, tok := range []string{signed, raw} {
			if sub, err := fx.p.loginHintTokenSubject(client, tok); err != nil {
				wantOAuthError(t, err, oauth.ErrInvalidRequest, oauth.ErrExpiredLoginHintToken)
			} else if tok == raw && raw != signed {
				t.Fatalf("an unsigned login_hint_token named %q", sub)
			}
			if sub, err := fx.p.idTokenHintSubject("client1", tok); err != nil {
				wantOAuthError(t, err, oauth.ErrInvalidRequest)
			} else {
				t.Fatalf("a token not signed by the OP was accepted as id_token_hint (sub %q)", sub)
			}
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
