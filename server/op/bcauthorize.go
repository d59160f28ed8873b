package op

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/authzdetails"
	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

// MaxBindingMessage is the longest binding_message accepted, in characters.
// CIBA Core 1.0 §7.1 asks for a short message shown on both devices; a
// longer one is refused with invalid_binding_message.
const MaxBindingMessage = 64

// backchannelAuthorize is the backchannel authentication endpoint
// (CIBA Core 1.0 §7): for a client clientEndpoint authenticated (§7.2 step
// 1), it validates the request (§7.2), stores it, answers with the acknowledgement (§7.3) and
// then tells the user's authentication devices (§8). Rejections store
// nothing.
func (p *Provider) backchannelAuthorize(w http.ResponseWriter, r *http.Request, form url.Values, client *authenticatedClient) error {
	req, lifetime, err := p.validateAuthRequest(client, form)
	if err != nil {
		return err
	}
	now := p.cfg.Now()
	req.ID = p.newID(32) // 256 bits, over the 128 bits CIBA Core 1.0 §7.3 requires
	req.Interval = p.cfg.Interval
	req.ExpiresAt = now.Add(lifetime)
	if client.Cert != nil {
		req.CertThumbprint = pki.ThumbprintS256(client.Cert)
	}
	if err := p.life.Create(r.Context(), req); err != nil {
		return err
	}

	ack := oauth.BackchannelAuthResponse{
		AuthReqID: req.ID,
		ExpiresIn: int(req.ExpiresAt.Sub(now) / time.Second),
	}
	if client.DeliveryMode != oauth.ModePush {
		ack.Interval = int(req.Interval / time.Second) // CIBA Core 1.0 §7.3: poll and ping only
	}
	noteReq(w, req.ID)
	writeJSONStatus(w, http.StatusOK, ack)
	p.announce(r, req, client)
	return nil
}

// validateAuthRequest checks the request of CIBA Core 1.0 §7.1 in the
// order of §7.2: the client may use the grant; the signed request object,
// when there is one (§7.1.1), gives the parameters; then each parameter;
// then the hint is resolved to a user (steps 4 and 5) and the user_code
// verified (§7.1.2). It returns the request to store and its lifetime.
func (p *Provider) validateAuthRequest(client *authenticatedClient, form url.Values) (*store.Request, time.Duration, error) {
	bad := func(format string, args ...any) error {
		return oauth.BackchannelError(oauth.ErrInvalidRequest, format, args...)
	}
	if !slices.Contains(client.GrantTypes, oauth.GrantTypeCIBA) {
		return nil, 0, oauth.BackchannelError(oauth.ErrUnauthorizedClient, "the client is not registered for the CIBA grant")
	}
	if form.Has("request_uri") {
		return nil, 0, bad("request_uri is not supported")
	}
	params, err := p.requestParams(client, form)
	if err != nil {
		return nil, 0, err
	}

	// client_notification_token: required for ping and push, ignored for
	// poll (CIBA Core 1.0 §7.1).
	var notificationToken string
	if client.DeliveryMode == oauth.ModePing || client.DeliveryMode == oauth.ModePush {
		notificationToken = params.Get(oauth.ParamClientNotificationToken)
		if err := checkNotificationToken(notificationToken); err != nil {
			return nil, 0, err
		}
	}

	// scope: REQUIRED and must contain openid (CIBA Core 1.0 §7.1).
	rawScope := params.Get(oauth.ParamScope)
	if strings.TrimSpace(rawScope) == "" {
		return nil, 0, bad("scope is required")
	}
	scope := strings.Fields(rawScope)
	if !slices.Contains(scope, oauth.ScopeOpenID) {
		return nil, 0, oauth.BackchannelError(oauth.ErrInvalidScope, "scope must contain openid")
	}
	for _, s := range scope {
		if !slices.Contains(supportedScopes(), s) {
			return nil, 0, oauth.BackchannelError(oauth.ErrInvalidScope, "scope %s is not supported", safeName(s))
		}
	}
	scope = dedupe(scope)

	// Exactly one hint (CIBA Core 1.0 §7.1, §7.2 step 3).
	if countHints(params) != 1 {
		return nil, 0, bad("exactly one of login_hint, login_hint_token and id_token_hint is required")
	}

	// requested_expiry: a positive integer (CIBA Core 1.0 §7.1), clamped to
	// the OP's bounds.
	lifetime := p.cfg.DefaultExpiry
	if params.Has(oauth.ParamRequestedExpiry) {
		secs, ok := positiveInt(params.Get(oauth.ParamRequestedExpiry))
		if !ok {
			return nil, 0, bad("requested_expiry must be a positive integer")
		}
		lifetime = clamp(time.Duration(secs)*time.Second, p.cfg.MinExpiry, p.cfg.MaxExpiry)
	}

	// binding_message (CIBA Core 1.0 §7.1, §13).
	msg := params.Get(oauth.ParamBindingMessage)
	if params.Has(oauth.ParamBindingMessage) {
		if err := checkBindingMessage(msg); err != nil {
			return nil, 0, err
		}
	}

	// user_code (CIBA Core 1.0 §7.1.2): required when enabled, refused
	// when not; verified once the user is known.
	if err := p.checkUserCodePresence(client, params); err != nil {
		return nil, 0, err
	}

	acr, err := parseACRValues(params.Get(oauth.ParamACRValues))
	if err != nil {
		return nil, 0, err
	}

	// authorization_details (RFC 9396 §2, §5).
	details, err := checkAuthorizationDetails(client, params)
	if err != nil {
		return nil, 0, err
	}

	// The hint must identify a user (CIBA Core 1.0 §7.2 steps 4 and 5).
	user, err := p.resolveHint(client, params)
	if err != nil {
		return nil, 0, err
	}
	if err := p.verifyUserCode(client, user, params); err != nil {
		return nil, 0, err
	}

	req := &store.Request{
		ClientID:             client.ID,
		User:                 user.ID,
		Scope:                scope,
		BindingMessage:       msg,
		NotificationToken:    notificationToken,
		AuthorizationDetails: details,
	}
	if len(acr) > 0 {
		req.ACRValues = acr
	}
	return req, lifetime, nil
}

// checkAuthorizationDetails checks the authorization_details parameter
// (RFC 9396 §2), when present, and returns it as a compact JSON array to
// store ("" when absent): a JSON array of 1 to 16 objects, each with a
// type the client is registered for (authorization_details_types,
// RFC 9396 §10), the common fields of §2.2 of the right types, and, for
// payment_initiation and account_information, exactly the fields of the
// type with valid values. Anything else is invalid_authorization_details
// with 400 (RFC 9396 §5), naming the entry.
func checkAuthorizationDetails(client *authenticatedClient, params url.Values) (string, error) {
	if !params.Has(oauth.ParamAuthorizationDetails) {
		return "", nil
	}
	ds, err := authzdetails.Parse([]byte(params.Get(oauth.ParamAuthorizationDetails)))
	if err == nil {
		err = authzdetails.Validate(ds, client.AuthorizationDetailsTypes)
	}
	if err != nil {
		return "", oauth.BackchannelError(oauth.ErrInvalidAuthorizationDetails, "%s", err.Error())
	}
	return string(ds.Marshal()), nil
}

// maxNotificationToken is the longest client_notification_token accepted
// (CIBA Core 1.0 §7.1).
const maxNotificationToken = 1024

// checkNotificationToken checks a client_notification_token: present, at
// most 1024 characters, of the RFC 6750 §2.1 b64token syntax
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
// Anything else is invalid_request (CIBA Core 1.0 §7.1, §13).
func checkNotificationToken(tok string) error {
	bad := func(msg string) error {
		return oauth.BackchannelError(oauth.ErrInvalidRequest, "client_notification_token %s", msg)
	}
	switch {
	case tok == "":
		return bad("is required for ping and push clients")
	case len(tok) > maxNotificationToken:
		return bad("is longer than 1024 characters")
	}
	body := strings.TrimRight(tok, "=")
	if body == "" {
		return bad("must have the b64token syntax of RFC 6750")
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-._~+/", c) >= 0) {
			return bad("must have the b64token syntax of RFC 6750")
		}
	}
	return nil
}

// checkBindingMessage accepts 1 to MaxBindingMessage printable characters of
// valid UTF-8; anything else is invalid_binding_message (CIBA Core 1.0 §13).
func checkBindingMessage(msg string) error {
	switch {
	case msg == "" || !utf8.ValidString(msg):
		return oauth.BackchannelError(oauth.ErrInvalidBindingMessage, "binding_message must be non-empty UTF-8 text")
	case utf8.RuneCountInString(msg) > MaxBindingMessage:
		return oauth.BackchannelError(oauth.ErrInvalidBindingMessage, "binding_message is longer than %d characters", MaxBindingMessage)
	}
	for _, r := range msg {
		if !unicode.IsPrint(r) && r != ' ' {
			return oauth.BackchannelError(oauth.ErrInvalidBindingMessage, "binding_message contains a control or non-printable character")
		}
	}
	return nil
}

// positiveInt parses a decimal positive integer of at most 9 digits, with no
// sign, space or leading zero.
func positiveInt(s string) (int, bool) {
	if len(s) == 0 || len(s) > 9 || s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

func clamp(d, lo, hi time.Duration) time.Duration {
	return max(lo, min(d, hi))
}

func dedupe(ss []string) []string {
	out := ss[:0:0]
	for _, s := range ss {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// announce tells the user's devices about the request. A failure does not
// undo the request: it stays pending, and devices list pending requests
// when they connect.
func (p *Provider) announce(r *http.Request, req *store.Request, client *authenticatedClient) {
	if p.cfg.Announcer == nil {
		return
	}
	msg := authRequestMessage(req, client.Name)
	if err := p.cfg.Announcer.Announce(r.Context(), msg); err != nil {
		p.log.Error("announce.failed", oauth.LogAttrReq, oauth.ReqRef(req.ID), "err", err)
	}
}
