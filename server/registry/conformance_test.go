package registry_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/server/registry/registrytest"
)

func TestConformanceDir(t *testing.T) {
	registrytest.Run(t, func(t *testing.T) (a, b *registry.Dir) {
		path := filepath.Join(t.TempDir(), "state")
		return openDirT(t, path), openDirT(t, path)
	})
}

func TestConformanceJetStream(t *testing.T) {
	registrytest.Run(t, func(t *testing.T) (a, b *registry.Dir) {
		url := startNATS(t, true)
		return openJetStreamT(t, url), openJetStreamT(t, url)
	})
}

func TestJetStreamRefusesServerWithoutJetStream(t *testing.T) {
	url := startNATS(t, false)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = registry.OpenJetStream(ctx, t.TempDir(), registry.JetStreamConfig{JS: js, Key: testKey}, testConfig())
	if err != registry.ErrNoJetStream {
		t.Fatalf("OpenJetStream on a server without JetStream: %v, want ErrNoJetStream", err)
	}
}

func TestJetStreamKeysNeedTheRegistryKey(t *testing.T) {
	url := startNATS(t, true)
	a := openJetStreamT(t, url)
	if _, err := a.Init(registry.InitOptions{}); err != nil {
		t.Fatal(err)
	}
	// Without the key: clients are readable, private keys are not.
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := registry.OpenJetStream(ctx, t.TempDir(), registry.JetStreamConfig{JS: js}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if _, err := b.Client(registry.DefaultClientID); err != nil {
		t.Fatalf("Client without the key: %v", err)
	}
	if _, _, err := b.SigningKeys(); err == nil {
		t.Fatal("SigningKeys without the registry key succeeded")
	}
	// With another key: nothing decrypts.
	other := make([]byte, registry.KeyFileSize)
	c, err := registry.OpenJetStream(ctx, t.TempDir(), registry.JetStreamConfig{JS: js, Key: other}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.CA(registry.DefaultCAName); err == nil {
		t.Fatal("CA with another registry key succeeded")
	}
	// The stored value is not the PEM key.
	kv, err := js.KeyValue(ctx, registry.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, "keys/rs256.pem")
	if err != nil {
		t.Fatal(err)
	}
	if string(e.Value()[:5]) == "-----" {
		t.Fatal("the signing key is stored in clear")
	}
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

func testConfig() registry.Config { return registry.Config{PasswordIterations: 2} }

func openDirT(t *testing.T, path string) *registry.Dir {
	t.Helper()
	d, err := registry.Open(path, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// openJetStreamT opens a handle on the JetStream registry at url, with
// its own connection and local directory.
func openJetStreamT(t *testing.T, url string) *registry.Dir {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := registry.OpenJetStream(ctx, filepath.Join(t.TempDir(), "state"), registry.JetStreamConfig{JS: js, Key: testKey, OnClose: nc.Close}, testConfig())
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// startNATS starts a NATS server on a random loopback port, with or
// without JetStream, and returns its URL.
func startNATS(t *testing.T, jetStream bool) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: jetStream, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns.ClientURL()
}

// TestJetStreamReplicas: the bucket is created with the replica count
// asked for, and a count the server cannot hold is an error naming it.
func TestJetStreamReplicas(t *testing.T) {
	url := startNATS(t, true)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := registry.OpenJetStream(ctx, t.TempDir(), registry.JetStreamConfig{JS: js, Replicas: 3}, testConfig()); err == nil || !strings.Contains(err.Error(), "3 replicas") {
		t.Fatalf("3 replicas on one server: %v", err)
	}
	d, err := registry.OpenJetStream(ctx, t.TempDir(), registry.JetStreamConfig{JS: js, Bucket: "reg-r1"}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	kv, err := js.KeyValue(ctx, "reg-r1")
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Replicas != 1 {
		t.Fatalf("replicas = %d, want 1", st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Replicas)
	}
	if _, err := registry.OpenJetStream(ctx, t.TempDir(), registry.JetStreamConfig{JS: js, Bucket: "missing", NoCreate: true}, testConfig()); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("NoCreate on a missing bucket: %v, want ErrNotFound", err)
	}
}

func TestReadKeyFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tt := range []struct {
		name string
		path string
		want string // "" for success
	}{
		{"raw", write("raw", testKey, 0o600), ""},
		{"base64", write("b64", []byte(base64.StdEncoding.EncodeToString(testKey)+"\n"), 0o600), ""},
		{"readable by others", write("open", testKey, 0o644), "chmod 600"},
		{"too short", write("short", []byte("abc"), 0o600), "want 32 random bytes"},
		{"missing", filepath.Join(dir, "none"), "no such file"},
	} {
		key, err := registry.ReadKeyFile(tt.path)
		switch {
		case tt.want == "" && (err != nil || !bytes.Equal(key, testKey)):
			t.Errorf("%s: %x, %v; want the key", tt.name, key, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: %v; want an error with %q", tt.name, err, tt.want)
		}
	}
}
