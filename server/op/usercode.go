package op

import (
	"net/url"

	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/oauth"
)

// userCodeEnabled reports whether user_code applies to client's requests:
// only when the OP supports it (Config.UserCodeSupported, advertised as
// backchannel_user_code_parameter_supported) and the client registered
// backchannel_user_code_parameter (CIBA Core 1.0 §7.1.2, §4).
func (p *Provider) userCodeEnabled(client *authenticatedClient) bool {
	return p.cfg.UserCodeSupported && client.BackchannelUserCodeParameter
}

// checkUserCodePresence runs before the user is known: when user_code is
// enabled for the client it is required (missing_user_code); when it is
// not, sending one is invalid_request (CIBA Core 1.0 §7.1.2, §13).
func (p *Provider) checkUserCodePresence(client *authenticatedClient, params url.Values) error {
	enabled, has := p.userCodeEnabled(client), params.Has(oauth.ParamUserCode)
	switch {
	case enabled && (!has || params.Get(oauth.ParamUserCode) == ""):
		return oauth.BackchannelError(oauth.ErrMissingUserCode, "this client must send the user's user_code")
	case !enabled && has:
		return oauth.BackchannelError(oauth.ErrInvalidRequest, "user_code is not supported for this client")
	}
	return nil
}

// verifyUserCode checks the user_code against the user's, hashed and
// compared in constant time (registry.User.CheckUserCode); a wrong code, or a
// user without one, is invalid_user_code (CIBA Core 1.0 §7.1.2, §13). It
// does nothing when user_code is not enabled for the client. The code is
// never logged.
//
// Guessing is bounded: after userCodeMaxFailures wrong codes within
// userCodeWindow for one client and user, every request of that client for
// that user is refused with access_denied (403, CIBA Core 1.0 §13: refused
// by policy before any user interaction) for userCodeCooldown, even with
// the right code.
func (p *Provider) verifyUserCode(client *authenticatedClient, user *registry.User, params url.Values) error {
	if !p.userCodeEnabled(client) {
		return nil
	}
	now := p.cfg.Now()
	key := client.ID + "\x00" + user.ID
	if p.userCodes.locked(key, now) {
		return oauth.BackchannelError(oauth.ErrAccessDenied, "too many wrong user_codes; try again later")
	}
	if !user.CheckUserCode(params.Get(oauth.ParamUserCode)) {
		if p.userCodes.fail(key, now) {
			p.log.Warn("usercode.locked_out", "client_id", client.ID, "user", user.ID,
				"failures", userCodeMaxFailures, "cooldown", userCodeCooldown.String())
		}
		return oauth.BackchannelError(oauth.ErrInvalidUserCode, "the user_code is not the user's")
	}
	p.userCodes.succeed(key, now)
	return nil
}
