package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"cibalab/shared/oauth"
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
		{"other auth method", func(c *Client) { c.TokenEndpointAuthMethod = "client_secret_basic" }, "token_endpoint_auth_method"},
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
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "state: ") {
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
