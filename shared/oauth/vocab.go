package oauth

// Grant types.
const (
	// GrantTypeCIBA is the CIBA grant type (CIBA Core 1.0 §4, §10.1).
	GrantTypeCIBA = "urn:openid:params:grant-type:ciba"
	// GrantTypeRefreshToken is the refresh grant (RFC 6749 §6).
	GrantTypeRefreshToken = "refresh_token"
)

// Claims defined by CIBA Core 1.0 §10.3.1 for ID tokens.
const (
	ClaimAuthReqID = "urn:openid:params:jwt:claim:auth_req_id"
	ClaimRTHash    = "urn:openid:params:jwt:claim:rt_hash"
)

// DeliveryMode is a backchannel token delivery mode (CIBA Core 1.0 §5).
type DeliveryMode string

// The three delivery modes of CIBA Core 1.0 §5.
const (
	ModePoll DeliveryMode = "poll"
	ModePing DeliveryMode = "ping"
	ModePush DeliveryMode = "push"
)

// Valid reports whether m is one of poll, ping or push.
func (m DeliveryMode) Valid() bool {
	return m == ModePoll || m == ModePing || m == ModePush
}

// Client authentication methods.
const (
	// AuthTLSClient is PKI mutual-TLS client authentication (RFC 8705 §2.1).
	AuthTLSClient = "tls_client_auth"
	// AuthSelfSignedTLSClient is self-signed certificate mutual-TLS client
	// authentication (RFC 8705 §2.2).
	AuthSelfSignedTLSClient = "self_signed_tls_client_auth"
)

// Request parameters of the backchannel authentication endpoint
// (CIBA Core 1.0 §7.1) and the token endpoint (CIBA Core 1.0 §10.1).
const (
	ParamClientID                = "client_id"
	ParamScope                   = "scope"
	ParamClientNotificationToken = "client_notification_token"
	ParamACRValues               = "acr_values"
	ParamLoginHintToken          = "login_hint_token"
	ParamIDTokenHint             = "id_token_hint"
	ParamLoginHint               = "login_hint"
	ParamBindingMessage          = "binding_message"
	ParamUserCode                = "user_code"
	ParamRequestedExpiry         = "requested_expiry"
	ParamRequest                 = "request"
	ParamGrantType               = "grant_type"
	ParamAuthReqID               = "auth_req_id"
	ParamRefreshToken            = "refresh_token"
	// ParamAuthorizationDetails is the authorization_details of RFC 9396 §2.
	ParamAuthorizationDetails = "authorization_details"
)

// ScopeOpenID is the scope value every CIBA request must carry
// (CIBA Core 1.0 §7.1).
const ScopeOpenID = "openid"

// DefaultInterval is the polling interval a client uses when the
// acknowledgement carries none (CIBA Core 1.0 §7.3).
const DefaultInterval = 5

// SlowDownIncrement is the number of seconds a client adds to its polling
// interval, for good, on each slow_down (CIBA Core 1.0 §11, RFC 8628 §3.5).
const SlowDownIncrement = 5
