package registry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

func TestClientValidate(t *testing.T) {
	valid := func() Client {
		return Client{ID: "c1", TokenEndpointAuthMethod: oauth.AuthTLSClient, SubjectDN: "CN=c1",
			DeliveryMode: oauth.ModePoll, GrantTypes: []string{oauth.GrantTypeCIBA}}
	}
	tests := []struct {
		name    string
		edit    func(c *Client)
		wantErr string // "" for valid
	}{
		{"valid", func(c *Client) {}, ""},
		{"san dns", func(c *Client) { c.SubjectDN, c.SANDNS = "", "client.example" }, ""},
		{"san uri", func(c *Client) { c.SubjectDN, c.SANURI = "", "spiffe://example/c" }, ""},
		{"san ip v6", func(c *Client) { c.SubjectDN, c.SANIP = "", "2001:db8::1" }, ""},
		{"san email", func(c *Client) { c.SubjectDN, c.SANEmail = "", "c@example.org" }, ""},
		{"ping", func(c *Client) { c.DeliveryMode, c.NotificationEndpoint = oauth.ModePing, "https://client.example/cb" }, ""},
		{"push", func(c *Client) { c.DeliveryMode, c.NotificationEndpoint = oauth.ModePush, "https://client.example/cb" }, ""},
		{"empty id", func(c *Client) { c.ID = "" }, "client_id"},
		{"id with space", func(c *Client) { c.ID = "a b" }, "client_id"},
		{"id too long", func(c *Client) { c.ID = strings.Repeat("a", 129) }, "client_id"},
		{"unknown auth method", func(c *Client) { c.SubjectDN, c.TokenEndpointAuthMethod = "", "client_secret_jwt" }, "token_endpoint_auth_method"},
		{"subject with another auth method", func(c *Client) { c.TokenEndpointAuthMethod = AuthPrivateKeyJWT; c.JWKS = testJWKS(t, false) }, "tls_client_auth only"},
		{"no identifier", func(c *Client) { c.SubjectDN = "" }, "exactly one"},
		{"two identifiers", func(c *Client) { c.SANDNS = "x.example" }, "exactly one"},
		{"bad dn", func(c *Client) { c.SubjectDN = "FOO=bar" }, "subject_dn"},
		{"bad ip", func(c *Client) { c.SubjectDN, c.SANIP = "", "300.1.1.1" }, "san_ip"},
		{"relative uri", func(c *Client) { c.SubjectDN, c.SANURI = "", "/path" }, "san_uri"},
		{"bad email", func(c *Client) { c.SubjectDN, c.SANEmail = "", "nobody" }, "san_email"},
		{"bad dns", func(c *Client) { c.SubjectDN, c.SANDNS = "", "a b" }, "san_dns"},
		{"bad mode", func(c *Client) { c.DeliveryMode = "pull" }, "delivery_mode"},
		{"poll with endpoint", func(c *Client) { c.NotificationEndpoint = "https://x/cb" }, "poll mode"},
		{"ping without endpoint", func(c *Client) { c.DeliveryMode = oauth.ModePing }, "https"},
		{"push with http endpoint", func(c *Client) { c.DeliveryMode, c.NotificationEndpoint = oauth.ModePush, "http://x/cb" }, "https"},
		{"no grant types", func(c *Client) { c.GrantTypes = nil }, "grant_types"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.edit(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "registry: ") {
				t.Fatalf("Validate: %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestAddClient(t *testing.T) {
	clock := newClock()
	d := openDir(t, clock)
	if err := d.AddClient(Client{ID: "b", SubjectDN: "CN=b"}); err != nil {
		t.Fatal(err)
	}
	if err := d.AddClient(Client{ID: "a", SANDNS: "a.example", DeliveryMode: oauth.ModePing, NotificationEndpoint: "https://a.example/cb"}); err != nil {
		t.Fatal(err)
	}
	b, err := d.Client("b")
	if err != nil {
		t.Fatal(err)
	}
	if b.TokenEndpointAuthMethod != oauth.AuthTLSClient || b.DeliveryMode != oauth.ModePoll ||
		len(b.GrantTypes) != 1 || b.GrantTypes[0] != oauth.GrantTypeCIBA || !b.CreatedAt.Equal(clock.Now()) {
		t.Errorf("defaults not applied: %+v", b)
	}
	// The caller gets a copy.
	b.GrantTypes[0] = "changed"
	if again, _ := d.Client("b"); again.GrantTypes[0] != oauth.GrantTypeCIBA {
		t.Error("Client returned shared state")
	}
	list, err := d.Clients()
	if err != nil || len(list) != 2 || list[0].ID != "a" || list[1].ID != "b" {
		t.Fatalf("Clients: %+v %v", list, err)
	}
	if err := d.AddClient(Client{ID: "a", SubjectDN: "CN=a"}); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate: %v, want ErrExists", err)
	}
	if err := d.AddClient(Client{ID: "bad id", SubjectDN: "CN=x"}); err == nil {
		t.Error("invalid client accepted")
	}
	if _, err := d.Client("nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown client: %v, want ErrNotFound", err)
	}
	// The file uses the RFC 7591 / RFC 8705 / CIBA metadata names.
	data := readFile(t, filepath.Join(d.Path(), "clients.json"))
	for _, name := range []string{`"client_id": "a"`, `"tls_client_auth_san_dns": "a.example"`, `"backchannel_token_delivery_mode": "ping"`,
		`"backchannel_client_notification_endpoint"`, `"token_endpoint_auth_method": "tls_client_auth"`, `"grant_types"`} {
		if !strings.Contains(data, name) {
			t.Errorf("clients.json lacks %s:\n%s", name, data)
		}
	}
}

// TestReload checks that a Dir sees what another Dir (as another process
// would) wrote after the first one cached the files.
func TestReload(t *testing.T) {
	clock := newClock()
	reader := openDir(t, clock)
	initDir(t, reader)
	writer := openPath(t, reader.Path(), clock)
	if _, err := reader.Clients(); err != nil { // fill the cache
		t.Fatal(err)
	}
	if _, err := reader.Users(); err != nil {
		t.Fatal(err)
	}
	pool, err := reader.ClientCAPool()
	if err != nil {
		t.Fatal(err)
	}
	if err := writer.AddClient(Client{ID: "late", SubjectDN: "CN=late"}); err != nil {
		t.Fatal(err)
	}
	if err := writer.AddUser(User{ID: "alice"}, "pw"); err != nil {
		t.Fatal(err)
	}
	team, err := writer.CreateCA("team")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reader.Client("late"); err != nil {
		t.Errorf("client added by another Dir: %v", err)
	}
	if _, err := reader.Authenticate("alice", "pw"); err != nil {
		t.Errorf("user added by another Dir: %v", err)
	}
	cert, _, err := team.IssueClient(mustName(t, "CN=late"), caOpts())
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyClient(t, cert, pool, clock.Now()); err == nil {
		t.Fatal("old pool already trusts the new CA; the test cannot tell a reload")
	}
	pool, err = reader.ClientCAPool()
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyClient(t, cert, pool, clock.Now()); err != nil {
		t.Errorf("CA created by another Dir is not trusted: %v", err)
	}
}

func TestConcurrentWriters(t *testing.T) {
	base := openDir(t, nil)
	const writers, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		d := openPath(t, base.Path(), nil) // one Dir per simulated process
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("c%d-%d", w, i)
				errs <- d.AddClient(Client{ID: id, SubjectDN: "CN=" + id})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	list, err := base.Clients()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != writers*each {
		t.Errorf("%d clients after %d concurrent adds: an update was lost", len(list), writers*each)
	}
}

func TestMalformedFiles(t *testing.T) {
	tests := []struct {
		file, content string
		read          func(d *Dir) error
		write         func(d *Dir) error
	}{
		{"clients.json", `{"clients": [`, func(d *Dir) error { _, err := d.Clients(); return err },
			func(d *Dir) error { return d.AddClient(Client{ID: "x", SubjectDN: "CN=x"}) }},
		{"clients.json", `{"clients": []} trailing`, func(d *Dir) error { _, err := d.Client("x"); return err },
			func(d *Dir) error { return d.AddClient(Client{ID: "x", SubjectDN: "CN=x"}) }},
		{"clients.json", `{"clients": {"client_id": 1}}`, func(d *Dir) error { _, err := d.Clients(); return err },
			func(d *Dir) error { _, err := d.Init(InitOptions{}); return err }},
		{"users.json", `not json`, func(d *Dir) error { _, err := d.Users(); return err },
			func(d *Dir) error { return d.AddUser(User{ID: "x"}, "pw") }},
		{"users.json", ``, func(d *Dir) error { _, err := d.Authenticate("x", "pw"); return err },
			func(d *Dir) error { return d.AddUser(User{ID: "x"}, "pw") }},
	}
	for _, tt := range tests {
		t.Run(tt.file+" "+tt.content, func(t *testing.T) {
			d := openDir(t, nil)
			path := filepath.Join(d.Path(), tt.file)
			writeFile(t, path, tt.content)
			for name, fn := range map[string]func(*Dir) error{"read": tt.read, "write": tt.write} {
				err := fn(d)
				if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "malformed") {
					t.Errorf("%s: %v, want an error naming %s", name, err, path)
				}
			}
			if got := readFile(t, path); got != tt.content {
				t.Errorf("malformed file was overwritten: %q", got)
			}
		})
	}
}

func TestFilesNotLeftBehind(t *testing.T) {
	d := openDir(t, nil)
	initDir(t, d)
	err := filepath.WalkDir(d.Path(), func(path string, e os.DirEntry, err error) error {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testJWKS returns a JWKS with one P-256 key, its self-signed certificate in
// x5c when withCert is set.
func testJWKS(t testing.TB, withCert bool) *pki.JWKS {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := pki.PublicJWK(key.Public(), "k1", "ES256")
	if err != nil {
		t.Fatal(err)
	}
	if withCert {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "self"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		jwk.X5c = []string{base64.StdEncoding.EncodeToString(der)}
	}
	return &pki.JWKS{Keys: []pki.JWK{jwk}}
}

// TestClientValidateAuthMethods covers the credentials each
// token_endpoint_auth_method needs and the signing metadata.
func TestClientValidateAuthMethods(t *testing.T) {
	hash, err := HashClientSecret(GenerateClientSecret())
	if err != nil {
		t.Fatal(err)
	}
	withCert, noCert := testJWKS(t, true), testJWKS(t, false)
	otherCert := testJWKS(t, true)
	mismatched := &pki.JWKS{Keys: []pki.JWK{noCert.Keys[0]}}
	mismatched.Keys[0].X5c = otherCert.Keys[0].X5c
	base := func(method string) Client {
		return Client{ID: "c1", TokenEndpointAuthMethod: method, DeliveryMode: oauth.ModePoll, GrantTypes: []string{oauth.GrantTypeCIBA}}
	}
	tests := []struct {
		name    string
		c       Client
		edit    func(c *Client)
		wantErr string
	}{
		{"self-signed", base(oauth.AuthSelfSignedTLSClient), func(c *Client) { c.JWKS = withCert }, ""},
		{"self-signed without x5c", base(oauth.AuthSelfSignedTLSClient), func(c *Client) { c.JWKS = noCert }, "x5c"},
		{"self-signed without jwks", base(oauth.AuthSelfSignedTLSClient), func(c *Client) {}, "x5c"},
		{"x5c for another key", base(oauth.AuthSelfSignedTLSClient), func(c *Client) { c.JWKS = mismatched }, "not for this key"},
		{"x5c not base64", base(oauth.AuthSelfSignedTLSClient), func(c *Client) {
			c.JWKS = &pki.JWKS{Keys: []pki.JWK{noCert.Keys[0]}}
			c.JWKS.Keys[0].X5c = []string{"!!"}
		}, "base64"},
		{"private_key_jwt", base(AuthPrivateKeyJWT), func(c *Client) { c.JWKS = noCert }, ""},
		{"private_key_jwt without keys", base(AuthPrivateKeyJWT), func(c *Client) { c.JWKS = &pki.JWKS{} }, "jwks"},
		{"bad jwk", base(AuthPrivateKeyJWT), func(c *Client) { c.JWKS = &pki.JWKS{Keys: []pki.JWK{{Kty: "oct"}}} }, "jwks"},
		{"client_secret_basic", base(AuthClientSecretBasic), func(c *Client) { c.ClientSecretHash = hash }, ""},
		{"client_secret_post", base(AuthClientSecretPost), func(c *Client) { c.ClientSecretHash = hash }, ""},
		{"secret without hash", base(AuthClientSecretPost), func(c *Client) {}, "client_secret_hash"},
		{"secret hash garbage", base(AuthClientSecretBasic), func(c *Client) { c.ClientSecretHash = "sha256$abc" }, "client_secret_hash"},
		{"secret hash on an mTLS client", base(oauth.AuthTLSClient), func(c *Client) { c.SubjectDN, c.ClientSecretHash = "CN=c1", hash }, "client_secret_hash"},
		{"id token alg PS256", base(oauth.AuthTLSClient), func(c *Client) { c.SubjectDN, c.IDTokenSignedResponseAlg = "CN=c1", "PS256" }, ""},
		{"id token alg HS256", base(oauth.AuthTLSClient), func(c *Client) { c.SubjectDN, c.IDTokenSignedResponseAlg = "CN=c1", "HS256" }, "id_token_signed_response_alg"},
		{"request alg none", base(AuthPrivateKeyJWT), func(c *Client) { c.JWKS, c.BackchannelAuthRequestSigningAlg = noCert, "none" }, "signing_alg"},
		{"request alg HS256", base(AuthPrivateKeyJWT), func(c *Client) { c.JWKS, c.BackchannelAuthRequestSigningAlg = noCert, "HS256" }, "signing_alg"},
		{"request alg ES256", base(AuthPrivateKeyJWT), func(c *Client) { c.JWKS, c.BackchannelAuthRequestSigningAlg = noCert, "ES256" }, ""},
		{"signed requests without keys", base(oauth.AuthTLSClient), func(c *Client) { c.SubjectDN, c.RequireSignedRequest = "CN=c1", true }, "jwks"},
		{"signed requests with keys", base(oauth.AuthTLSClient), func(c *Client) { c.SubjectDN, c.RequireSignedRequest, c.JWKS = "CN=c1", true, noCert }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			tt.edit(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "registry: ") {
				t.Fatalf("Validate: %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestClientSecret(t *testing.T) {
	secret := GenerateClientSecret()
	if len(secret) < MinClientSecretLen {
		t.Fatalf("generated secret %q too short", secret)
	}
	if GenerateClientSecret() == secret {
		t.Fatal("two generated secrets are equal")
	}
	hash, err := HashClientSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(hash, secret) || !strings.HasPrefix(hash, "sha256$") {
		t.Fatalf("hash %q", hash)
	}
	c := Client{ClientSecretHash: hash}
	if !c.CheckSecret(secret) || c.CheckSecret(secret+"x") || c.CheckSecret("") {
		t.Error("CheckSecret")
	}
	if (&Client{}).CheckSecret("") {
		t.Error("a client without a secret matched the empty secret")
	}
	if _, err := HashClientSecret("short"); err == nil {
		t.Error("short secret accepted")
	}
}

// TestAddClientCredentials: the JWKS and the secret hash round-trip through
// clients.json, and a copy shares no key material with the cache.
func TestAddClientCredentials(t *testing.T) {
	d := openDir(t, nil)
	hash, _ := HashClientSecret(GenerateClientSecret())
	jwks := testJWKS(t, true)
	if err := d.AddClient(Client{ID: "ss", TokenEndpointAuthMethod: oauth.AuthSelfSignedTLSClient, JWKS: jwks, RequireSignedRequest: true,
		BackchannelAuthRequestSigningAlg: "ES256", BackchannelUserCodeParameter: true, IDTokenSignedResponseAlg: "ES256"}); err != nil {
		t.Fatal(err)
	}
	if err := d.AddClient(Client{ID: "sec", TokenEndpointAuthMethod: AuthClientSecretBasic, ClientSecretHash: hash}); err != nil {
		t.Fatal(err)
	}
	ss, err := d.Client("ss")
	if err != nil {
		t.Fatal(err)
	}
	if ss.JWKS == nil || len(ss.JWKS.Keys) != 1 || ss.JWKS.Keys[0].X5c[0] != jwks.Keys[0].X5c[0] || !ss.RequireSignedRequest ||
		ss.BackchannelAuthRequestSigningAlg != "ES256" || !ss.BackchannelUserCodeParameter || ss.IDTokenSignedResponseAlg != "ES256" {
		t.Fatalf("client %+v", ss)
	}
	ss.JWKS.Keys[0].X5c[0] = "changed"
	if again, _ := d.Client("ss"); again.JWKS.Keys[0].X5c[0] == "changed" {
		t.Error("Client returned shared key material")
	}
	sec, _ := d.Client("sec")
	if sec.ClientSecretHash != hash {
		t.Errorf("secret hash %q", sec.ClientSecretHash)
	}
	data := readFile(t, filepath.Join(d.Path(), "clients.json"))
	for _, name := range []string{`"jwks"`, `"x5c"`, `"client_secret_hash"`, `"require_signed_request_object": true`,
		`"backchannel_authentication_request_signing_alg": "ES256"`, `"backchannel_user_code_parameter": true`} {
		if !strings.Contains(data, name) {
			t.Errorf("clients.json lacks %s", name)
		}
	}
}
