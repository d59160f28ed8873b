package op

import (
	"slices"
	"strings"

	"github.com/cibalab/cibalab/shared/oauth"
)

// The acr values the OP asserts when Config.ACRValuesSupported is nil: a
// password, and a PIN, entered on the authentication device.
const (
	ACRPassword = "urn:cibalab:acr:pwd"
	ACRPIN      = "urn:cibalab:acr:pin"
)

// Limits on acr_values: a short list of short printable tokens.
const (
	maxACRValues   = 10
	maxACRValueLen = 256
)

// acrValuesSupported returns Config.ACRValuesSupported or the default.
func (p *Provider) acrValuesSupported() []string {
	if len(p.cfg.ACRValuesSupported) > 0 {
		return p.cfg.ACRValuesSupported
	}
	return []string{ACRPassword, ACRPIN}
}

// parseACRValues splits acr_values, space-separated values in order of
// preference (CIBA Core 1.0 §7.1, OpenID Connect Core 1.0 §3.1.2.1). Values
// the OP does not support are kept: acr_values is a voluntary request, so
// they are no reason to refuse.
func parseACRValues(s string) ([]string, error) {
	vals := dedupe(strings.Fields(s))
	if len(vals) > maxACRValues {
		return nil, oauth.BackchannelError(oauth.ErrInvalidRequest, "acr_values has more than %d values", maxACRValues)
	}
	for _, v := range vals {
		if len(v) > maxACRValueLen || strings.ContainsFunc(v, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			return nil, oauth.BackchannelError(oauth.ErrInvalidRequest, "acr_values must be printable ASCII values of at most %d characters", maxACRValueLen)
		}
	}
	return vals, nil
}

// selectACR chooses the acr claim of the tokens at approval (CIBA Core 1.0
// §7.1: with acr_values an acr claim is highly recommended; FAPI-CIBA
// §5.2.2 item 8: a requested, supported acr shall be returned). The rule:
//
//   - no acr_values requested: the device's acr, possibly none;
//   - the device's acr is one of the requested values: that value;
//   - otherwise the first requested value the OP supports (the OP vouches
//     for the level the client asked for: this is a mock);
//   - none of them is supported: the device's acr, else the OP's first
//     supported value, so the ID token still carries an acr.
//
// requested is the stored request's ACRValues, fromDevice the acr of the
// device's decision (Verdict.ACR).
func (p *Provider) selectACR(requested []string, fromDevice string) string {
	if len(requested) == 0 || slices.Contains(requested, fromDevice) {
		return fromDevice
	}
	supported := p.acrValuesSupported()
	for _, v := range requested {
		if slices.Contains(supported, v) {
			return v
		}
	}
	if fromDevice != "" {
		return fromDevice
	}
	return supported[0]
}
