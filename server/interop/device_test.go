package interop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"cibalab/shared/channel"
	"cibalab/shared/pki"
)

// device is an authentication device of the user "user" (CIBA Core 1.0 §8)
// speaking cibalab's NATS channel: enrolled with the user's password, a
// fresh ES256 decision key and a fresh NATS nkey, it collects the requests
// the OP announces and sends signed decisions.
type device struct {
	t      testing.TB
	nc     *nats.Conn
	id     string
	key    *ecdsa.PrivateKey
	enroll channel.EnrollResponse

	mu       sync.Mutex
	byClient map[string][]channel.AuthRequest
	arrived  chan struct{}
}

// enrollDevice enrolls a device for user with password at the OP's NATS
// server and subscribes to the user's requests.
func enrollDevice(t testing.TB, natsURL, realm, user, password string) *device {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	nk, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	nkPub, err := nk.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := pki.PublicJWK(&key.PublicKey, "", "ES256")
	if err != nil {
		t.Fatal(err)
	}
	jwkJSON, _ := json.Marshal(jwk)

	anon, err := nats.Connect(natsURL, nats.Name("interop-enroll"))
	if err != nil {
		t.Fatalf("connect to NATS: %v", err)
	}
	defer anon.Close()
	body, _ := json.Marshal(channel.EnrollRequest{Version: channel.Version, User: user, Password: password,
		DeviceName: "interop", DeviceKey: jwkJSON, NKey: nkPub})
	msg, err := anon.Request(channel.EnrollSubject(realm), body, 10*time.Second)
	if err != nil {
		t.Fatalf("enroll: %v", err)
	}
	d := &device{t: t, key: key, byClient: map[string][]channel.AuthRequest{}, arrived: make(chan struct{}, 1)}
	if err := json.Unmarshal(msg.Data, &d.enroll); err != nil || d.enroll.Error != "" {
		t.Fatalf("enroll: %s (%v)", msg.Data, err)
	}
	d.id = d.enroll.DeviceID

	d.nc, err = nats.Connect(natsURL, nats.Name("interop-device"), nats.Nkey(nkPub, nk.Sign),
		nats.CustomInboxPrefix(d.enroll.InboxPrefix))
	if err != nil {
		t.Fatalf("connect as the enrolled device: %v", err)
	}
	t.Cleanup(d.nc.Close)
	_, err = d.nc.Subscribe(d.enroll.RequestsSubject, func(m *nats.Msg) {
		var ar channel.AuthRequest
		if json.Unmarshal(m.Data, &ar) != nil {
			return
		}
		d.mu.Lock()
		d.byClient[ar.ClientID] = append(d.byClient[ar.ClientID], ar)
		d.mu.Unlock()
		select {
		case d.arrived <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return d
}

// waitRequest returns the first request announced for clientID, waiting at
// most within.
func (d *device) waitRequest(t testing.TB, clientID string, within time.Duration) channel.AuthRequest {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		d.mu.Lock()
		got := d.byClient[clientID]
		d.mu.Unlock()
		if len(got) > 0 {
			return got[0]
		}
		select {
		case <-d.arrived:
		case <-time.After(50 * time.Millisecond): // another subtest may have taken the wake-up
		case <-deadline.C:
			t.Fatalf("no authentication request for %s reached the device within %s", clientID, within)
		}
	}
}

// decide sends a signed decision on authReqID and fails unless the OP
// accepts it.
func (d *device) decide(t testing.TB, authReqID string, approve bool) {
	t.Helper()
	verdict := channel.VerdictDeny
	if approve {
		verdict = channel.VerdictApprove
	}
	jti := make([]byte, 16)
	rand.Read(jti)
	now := time.Now()
	claims := channel.DecisionClaims{
		AuthReqID: authReqID, Verdict: verdict, DeviceID: d.id, AMR: []string{"pwd"},
		RegisteredClaims: jwt.RegisteredClaims{
			ID: base64.RawURLEncoding.EncodeToString(jti), IssuedAt: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
		},
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodES256, claims).SignedString(d.key)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(channel.Decision{Version: channel.Version, JWT: signed})
	msg, err := d.nc.Request(d.enroll.DecideSubject, body, 10*time.Second)
	if err != nil {
		t.Fatalf("decide: %v", err)
	}
	var res channel.DecisionResult
	if err := json.Unmarshal(msg.Data, &res); err != nil || !res.Accepted {
		t.Fatalf("decision refused: %s", msg.Data)
	}
}
