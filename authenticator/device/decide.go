package device

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"cibalab/shared/channel"

	"github.com/golang-jwt/jwt/v5"
)

// Decide sends the user's verdict (channel.VerdictApprove or
// channel.VerdictDeny) on the request authReqID (channel protocol step 3).
// acr (may be empty) and amr (RFC 8176 values, e.g. "pin", "swk") say how
// the user was authenticated on the device. It returns nil once the OP accepted the decision,
// and a [*RefusedError] when the OP refused it.
func (d *Device) Decide(ctx context.Context, authReqID, verdict, acr string, amr []string) error {
	if authReqID == "" {
		return errors.New("device: decide: empty auth_req_id")
	}
	if verdict != channel.VerdictApprove && verdict != channel.VerdictDeny {
		return fmt.Errorf("device: decide: verdict %q is neither approve nor deny", verdict)
	}
	ref := ReqRef(authReqID)
	token, err := d.signDecision(authReqID, verdict, acr, amr)
	if err != nil {
		return err
	}
	var res channel.DecisionResult
	msg := channel.Decision{Version: channel.Version, JWT: token}
	if err := request(ctx, d.nc, d.cfg.RequestTimeout, d.decideSubject, msg, &res); err != nil {
		return fmt.Errorf("device: decide: %w", err)
	}
	switch {
	case res.Error != "":
		d.log.Warn("decision refused", "req_ref", ref, "verdict", verdict, "error", res.Error)
		return &RefusedError{Code: res.Error, Description: res.ErrorDescription}
	case !res.Accepted:
		return errors.New("device: decide: reply neither accepts nor refuses")
	}
	d.log.Info("decision accepted", "req_ref", ref, "verdict", verdict)
	return nil
}

// signDecision builds and signs the decision JWT of the channel protocol:
// channel.DecisionClaims with the device id, a random 128-bit jti, iat now
// and exp DecisionLifetime later, signed with the device key.
func (d *Device) signDecision(authReqID, verdict, acr string, amr []string) (string, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("device: decide: %w", err)
	}
	now := d.cfg.Now()
	claims := channel.DecisionClaims{
		AuthReqID: authReqID,
		Verdict:   verdict,
		DeviceID:  d.cfg.Credentials.DeviceID,
		ACR:       acr,
		AMR:       amr,
		RegisteredClaims: jwt.RegisteredClaims{
			ID:        base64.RawURLEncoding.EncodeToString(jti[:]),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(DecisionLifetime)),
		},
	}
	token, err := d.cfg.Credentials.Key.Sign(&claims)
	if err != nil {
		return "", fmt.Errorf("device: decide: %w", err)
	}
	return token, nil
}
