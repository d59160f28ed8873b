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
// amr lists the authentication methods the user satisfied (RFC 8176
// values, e.g. "pwd"). It returns nil once the OP accepted the decision,
// and a [*RefusedError] when the OP refused it.
func (d *Device) Decide(ctx context.Context, authReqID, verdict string, amr []string) error {
	if authReqID == "" {
		return errors.New("device: decide: empty auth_req_id")
	}
	if verdict != channel.VerdictApprove && verdict != channel.VerdictDeny {
		return fmt.Errorf("device: decide: verdict %q is neither approve nor deny", verdict)
	}
	ref := ReqRef(authReqID)
	for attempt := 0; ; attempt++ {
		sid := d.sessionID()
		token, err := d.signDecision(authReqID, verdict, sid, amr)
		if err != nil {
			return err
		}
		var res channel.DecisionResult
		msg := channel.Decision{Version: channel.Version, SessionID: sid, JWT: token}
		if err := d.request(ctx, channel.DecideSubject(d.cfg.Realm), msg, &res); err != nil {
			return fmt.Errorf("device: decide: %w", err)
		}
		switch {
		case res.Error == channel.ErrUnknownSession && attempt == 0:
			if err := d.renewSession(ctx, sid); err != nil {
				return err
			}
			continue
		case res.Error != "":
			d.log.Warn("decision refused", "req_ref", ref, "verdict", verdict, "error", res.Error)
			return &RefusedError{Code: res.Error, Description: res.ErrorDescription}
		case !res.Accepted:
			return errors.New("device: decide: reply neither accepts nor refuses")
		}
		d.log.Info("decision accepted", "req_ref", ref, "verdict", verdict)
		return nil
	}
}

// signDecision builds and signs the decision JWT of the channel protocol:
// channel.DecisionClaims with a random 128-bit jti, iat now and exp
// DecisionLifetime later.
func (d *Device) signDecision(authReqID, verdict, sid string, amr []string) (string, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("device: decide: %w", err)
	}
	now := d.cfg.Now()
	claims := channel.DecisionClaims{
		AuthReqID: authReqID,
		Verdict:   verdict,
		SessionID: sid,
		AMR:       amr,
		RegisteredClaims: jwt.RegisteredClaims{
			ID:        base64.RawURLEncoding.EncodeToString(jti[:]),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(DecisionLifetime)),
		},
	}
	token, err := d.key.Sign(&claims)
	if err != nil {
		return "", fmt.Errorf("device: decide: %w", err)
	}
	return token, nil
}
