package op

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestDiscoveryGolden pins the published metadata (OpenID Connect Discovery
// 1.0 §3, CIBA Core 1.0 §4, RFC 8705 §3.3 and §5). Run with -update after a
// deliberate change and review the diff.
func TestDiscoveryGolden(t *testing.T) {
	f := newFixture(t)
	req := newRequest(http.MethodGet, pathDiscovery, "", "")
	r := f.do(t, req, nil)
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, []byte(r.raw), "", "  "); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "discovery.golden.json")
	if *update {
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Fatalf("discovery changed; got:\n%s", pretty.String())
	}
}

func TestJWKS(t *testing.T) {
	f := newFixture(t)
	r := f.do(t, newRequest(http.MethodGet, pathJWKS, "", ""), nil)
	keys, _ := r.body["keys"].([]any)
	if r.status != 200 || len(keys) != 2 {
		t.Fatalf("jwks %d %s", r.status, r.raw)
	}
	for _, k := range keys {
		m := k.(map[string]any)
		if m["kid"] == "" || m["d"] != nil || m["p"] != nil {
			t.Fatalf("bad public key entry %v", m)
		}
	}
	if r := f.do(t, newRequest(http.MethodPost, pathJWKS, "", ""), nil); r.status != 405 {
		t.Fatalf("POST jwks: %d", r.status)
	}
}
