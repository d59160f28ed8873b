package ciba

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cibalab/cibalab/shared/authzdetails"
	"github.com/cibalab/cibalab/shared/oauth"
)

// Request holds the parameters of a backchannel authentication request
// (CIBA Core 1.0 §7.1). Exactly one of LoginHint, LoginHintToken and
// IDTokenHint must be set, and Scope must contain "openid".
type Request struct {
	// Scope is sent space-separated; it must contain "openid".
	Scope []string
	// LoginHint, LoginHintToken and IDTokenHint identify the user; exactly
	// one is set (CIBA Core 1.0 §7.1).
	LoginHint, LoginHintToken, IDTokenHint string
	// BindingMessage is shown on both the consumption and the
	// authentication device, so the user can tell the two belong together.
	BindingMessage string
	// UserCode is a secret the user knows (CIBA Core 1.0 §7.1.2).
	UserCode string
	// ACRValues is the space-separated list of requested ACRs.
	ACRValues string
	// RequestedExpiry asks for an expires_in in seconds; 0 omits it.
	RequestedExpiry int
	// AuthorizationDetails asks the user to approve these entries
	// (RFC 9396 §2), sent as a JSON array: in the form, or as an array
	// inside a signed request object (§3). The user may approve some
	// only: read what was granted from Token.GrantedDetails. Empty omits
	// the parameter.
	AuthorizationDetails authzdetails.Details
}

// Ack is a successful acknowledgement of the backchannel authentication
// endpoint (CIBA Core 1.0 §7.3).
type Ack struct {
	// AuthReqID identifies the request; it is opaque and must not be logged.
	AuthReqID string
	// ExpiresIn is the lifetime of the request in seconds, always positive.
	ExpiresIn int
	// Interval is the minimum number of seconds between polls; it is
	// oauth.DefaultInterval (5) when the provider sent none or 0.
	Interval int
	// ReceivedAt is when the acknowledgement arrived, by Config.Now; the
	// request expires ExpiresIn seconds later.
	ReceivedAt time.Time
	// NotificationToken is the client_notification_token sent with the
	// request in ping and push mode; a secret, never logged.
	NotificationToken string
}

// Start sends the backchannel authentication request r
// (CIBA Core 1.0 §7.1) as an application/x-www-form-urlencoded POST to
// BackchannelAuthURL, with client_id in the body (RFC 8705 §2) and the
// client authentication of Config.AuthMethod, and checks the
// acknowledgement (§7.3): auth_req_id present, expires_in a positive
// integer, interval absent or a non-negative integer. In ping and push
// mode it sends a fresh client_notification_token, registered with
// Config.Notifications before the request leaves and until Wait returns,
// Cancel is called or the request expires. With Config.RequestKey
// every parameter travels inside a signed request object (§7.1.1). An
// error answer of the provider (§13) is returned as an *oauth.Error with
// its HTTP status.
func (c *Config) Start(ctx context.Context, r Request) (*Ack, error) {
	if err := c.checkClient(); err != nil {
		return nil, err
	}
	params, err := c.authParams(r)
	if err != nil {
		return nil, err
	}
	var token string
	if c.mode() != oauth.ModePoll {
		token = NewNotificationToken()
		params.Set(oauth.ParamClientNotificationToken, token)
		c.Notifications.expect(token, c.mode())
	}
	ack, err := c.start(ctx, r, params)
	if err != nil {
		if token != "" {
			c.Notifications.forget(token)
		}
		return nil, err
	}
	if token != "" {
		c.Notifications.acknowledged(token, ack.AuthReqID, time.Duration(ack.ExpiresIn)*time.Second)
	}
	ack.NotificationToken = token
	return ack, nil
}

// Cancel stops accepting notifications for the request of ack (ping and
// push mode): its client_notification_token is no longer registered with
// Config.Notifications, and a notification carrying it is answered 401.
// Wait does this itself when it returns; Cancel is for a caller that
// abandons a request without waiting for it. A registration is also
// dropped once the request has expired (ack.ExpiresIn). Cancel with a
// poll-mode ack, or twice, does nothing.
func (c *Config) Cancel(ack *Ack) {
	if ack == nil || ack.NotificationToken == "" || c.Notifications == nil {
		return
	}
	c.Notifications.forget(ack.NotificationToken)
}

func (c *Config) start(ctx context.Context, r Request, params url.Values) (*Ack, error) {
	form := params
	if c.RequestKey != nil {
		delete(params, oauth.ParamRequestedExpiry) // a JSON number inside
		obj, err := requestObject(c.RequestKey, c.RequestKeyID, c.ClientID, c.Issuer, params, r.RequestedExpiry, c.now(), c.RequestLifetime)
		if err != nil {
			return nil, err
		}
		form = url.Values{oauth.ParamRequest: {obj}}
	}
	if err := c.authenticate(form); err != nil {
		return nil, err
	}
	log := c.logger()
	log.DebugContext(ctx, "ciba.backchannel_request", "endpoint", c.BackchannelAuthURL, "client_id", c.ClientID,
		"mode", string(c.mode()), "signed", c.RequestKey != nil)
	resp, received, err := c.postForJSON(ctx, c.BackchannelAuthURL, form)
	if err != nil {
		if resp != nil {
			log.DebugContext(ctx, "ciba.backchannel_refused", "status", resp.status, "error", errorCode(err))
		}
		return nil, err
	}
	ack, problem := decodeAck(resp.body)
	if problem != "" {
		return nil, resp.problem("%s", problem)
	}
	ack.ReceivedAt = received
	log.InfoContext(ctx, "ciba.acknowledged", oauth.LogAttrReq, oauth.ReqRef(ack.AuthReqID),
		"expires_in", ack.ExpiresIn, "interval", ack.Interval)
	return ack, nil
}

// authParams builds and checks the parameters of CIBA Core 1.0 §7.1,
// client authentication aside.
func (c *Config) authParams(r Request) (url.Values, error) {
	if c.BackchannelAuthURL == "" {
		return nil, errors.New("ciba: no backchannel authentication endpoint (set BackchannelAuthURL or call Discover)")
	}
	if !slices.Contains(r.Scope, oauth.ScopeOpenID) {
		return nil, errors.New(`ciba: scope must contain "openid" (CIBA Core 1.0 §7.1)`)
	}
	hints := 0
	for _, h := range []string{r.LoginHint, r.LoginHintToken, r.IDTokenHint} {
		if h != "" {
			hints++
		}
	}
	if hints != 1 {
		return nil, errors.New("ciba: exactly one of login_hint, login_hint_token and id_token_hint is required (CIBA Core 1.0 §7.1)")
	}
	if r.RequestedExpiry < 0 {
		return nil, errors.New("ciba: requested_expiry must be a positive integer (CIBA Core 1.0 §7.1)")
	}
	form := url.Values{}
	form.Set(oauth.ParamScope, strings.Join(r.Scope, " "))
	set := func(name, v string) {
		if v != "" {
			form.Set(name, v)
		}
	}
	set(oauth.ParamLoginHint, r.LoginHint)
	set(oauth.ParamLoginHintToken, r.LoginHintToken)
	set(oauth.ParamIDTokenHint, r.IDTokenHint)
	set(oauth.ParamBindingMessage, r.BindingMessage)
	set(oauth.ParamUserCode, r.UserCode)
	set(oauth.ParamACRValues, r.ACRValues)
	if r.RequestedExpiry > 0 {
		form.Set(oauth.ParamRequestedExpiry, strconv.Itoa(r.RequestedExpiry))
	}
	if len(r.AuthorizationDetails) > 0 {
		form.Set(oauth.ParamAuthorizationDetails, string(r.AuthorizationDetails.Marshal()))
	}
	return form, nil
}

// decodeAck parses and checks an acknowledgement body (CIBA Core 1.0 §7.3);
// unknown members are ignored, as §7.3 requires. It returns a one-line
// problem when the body is not a valid acknowledgement.
func decodeAck(body []byte) (*Ack, string) {
	var raw struct {
		AuthReqID *string         `json:"auth_req_id"`
		ExpiresIn json.RawMessage `json:"expires_in"`
		Interval  json.RawMessage `json:"interval"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, "malformed acknowledgement: " + jsonProblem(err)
	}
	if raw.AuthReqID == nil || *raw.AuthReqID == "" {
		return nil, "acknowledgement without auth_req_id (CIBA Core 1.0 §7.3)"
	}
	if raw.ExpiresIn == nil || isNull(raw.ExpiresIn) {
		return nil, "acknowledgement without expires_in (CIBA Core 1.0 §7.3)"
	}
	expires, ok := jsonInt(raw.ExpiresIn)
	if !ok || expires <= 0 {
		return nil, "expires_in is not a positive integer (CIBA Core 1.0 §7.3)"
	}
	if expires > maxSeconds {
		return nil, "expires_in is longer than a year"
	}
	interval := int64(0)
	if raw.Interval != nil && !isNull(raw.Interval) {
		interval, ok = jsonInt(raw.Interval)
		if !ok || interval < 0 {
			return nil, "interval is not a non-negative integer (CIBA Core 1.0 §7.3)"
		}
		if interval > maxSeconds {
			return nil, "interval is longer than a year"
		}
	}
	if interval == 0 {
		interval = oauth.DefaultInterval
	}
	return &Ack{AuthReqID: *raw.AuthReqID, ExpiresIn: int(expires), Interval: int(interval)}, ""
}

// jsonInt parses a JSON number that is an integer; strings, fractions and
// exponents are refused.
func jsonInt(v json.RawMessage) (int64, bool) {
	s := string(bytes.TrimSpace(v))
	if s == "" || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

// errorCode returns the OAuth error code of err, or "" for a local error.
func errorCode(err error) string {
	var oe *oauth.Error
	if errors.As(err, &oe) {
		return oe.Code
	}
	return ""
}
