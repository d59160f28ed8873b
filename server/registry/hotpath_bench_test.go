package registry

import (
	"os"
	"testing"
	"time"
)

// The lookups the OP makes on every request: the client (every endpoint a
// client authenticates at), the client CA pool (tls_client_auth), the user
// (bc-authorize) and the device (each decision over NATS).

func benchDir(b *testing.B) *Dir {
	b.Helper()
	d := openDir(b, nil)
	initDir(b, d)
	return d
}

func BenchmarkClient(b *testing.B) {
	d := benchDir(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Client(DefaultClientID); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClientCAPool(b *testing.B) {
	d := benchDir(b)
	if _, err := d.CreateCA("team"); err != nil {
		b.Fatal(err)
	}
	// As in an OP running for a while after its last CA change (the
	// directory's time is older than dirSettle).
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(d.file(casDir), old, old); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.ClientCAPool(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUser(b *testing.B) {
	d := benchDir(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.User(DefaultUser); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDevice(b *testing.B) {
	d := benchDir(b)
	var id string
	for i := range 5 {
		dev, err := d.EnrollDevice(testDevice(b, "user"))
		if err != nil {
			b.Fatal(err)
		}
		if i == 2 {
			id = dev.ID
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Device(id); err != nil {
			b.Fatal(err)
		}
	}
}
