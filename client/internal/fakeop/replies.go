package fakeop

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/cibalab/cibalab/shared/oauth"
)

// Reply is a scripted HTTP answer.
type Reply struct {
	Status      int
	ContentType string // "" means application/json when Body is set
	Header      http.Header
	Body        []byte
	// IDToken, when set on a successful token reply, makes the OP add an
	// id_token built from it to the JSON body.
	IDToken *IDToken
}

// JSON answers status with v encoded as JSON.
func JSON(status int, v any) Reply {
	body, err := json.Marshal(v)
	if err != nil {
		return Reply{Status: http.StatusInternalServerError, ContentType: "text/plain", Body: []byte(err.Error())}
	}
	return Reply{Status: status, ContentType: "application/json", Body: body}
}

// Raw answers status with body and content type ct verbatim.
func Raw(status int, ct, body string) Reply {
	return Reply{Status: status, ContentType: ct, Body: []byte(body)}
}

// AckReply is a successful acknowledgement (CIBA Core 1.0 §7.3); an
// interval of 0 omits the member.
func AckReply(authReqID string, expiresIn, interval int) Reply {
	v := map[string]any{"auth_req_id": authReqID, "expires_in": expiresIn}
	if interval != 0 {
		v["interval"] = interval
	}
	return JSON(http.StatusOK, v)
}

// TokenError answers the token endpoint error code with the status of
// CIBA Core 1.0 §11.
func TokenError(code, description string) Reply {
	return JSON(oauth.TokenStatus(code), oauth.Error{Code: code, Description: description})
}

// BackchannelError answers the backchannel endpoint error code with the
// status of CIBA Core 1.0 §13.
func BackchannelError(code, description string) Reply {
	return JSON(oauth.BackchannelStatus(code), oauth.Error{Code: code, Description: description})
}

// Pending is authorization_pending (CIBA Core 1.0 §11).
func Pending() Reply {
	return TokenError(oauth.ErrAuthorizationPending, "the user has not answered yet")
}

// SlowDown is slow_down (CIBA Core 1.0 §11).
func SlowDown() Reply { return TokenError(oauth.ErrSlowDown, "poll less often") }

// Unavailable is a 503 with Retry-After seconds (CIBA Core 1.0 §11).
func Unavailable(retryAfter int) Reply {
	r := Raw(http.StatusServiceUnavailable, "text/plain", "overloaded")
	r.Header = http.Header{"Retry-After": {strconv.Itoa(retryAfter)}}
	return r
}

// TokenReply is a successful token response (CIBA Core 1.0 §10.1.1) with
// a valid ID token.
func TokenReply(accessToken string) Reply {
	return TokenReplyWith(accessToken, "", &IDToken{})
}

// TokenReplyWith is a successful token response with a refresh token
// (when not empty) and an ID token made from idt (none when nil).
func TokenReplyWith(accessToken, refreshToken string, idt *IDToken) Reply {
	v := map[string]any{
		"access_token": accessToken,
		"token_type":   "Bearer",
		"expires_in":   300,
		"scope":        "openid profile",
	}
	if refreshToken != "" {
		v["refresh_token"] = refreshToken
	}
	r := JSON(http.StatusOK, v)
	r.IDToken = idt
	return r
}
