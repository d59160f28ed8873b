package control

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// openAPIFile is the API's OpenAPI description, beside docs/control-api.md.
var openAPIFile = filepath.Join("..", "..", "docs", "control-api.openapi.json")

// TestOpenAPIMatchesRoutes: every route of the OpenAPI file is served and
// every route served is in the file; every operation says what a missing
// token gives, and every $ref resolves.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	data, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI    string                                `json:"openapi"`
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", openAPIFile, err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q, want 3.x", doc.OpenAPI)
	}
	var documented []string
	for path, item := range doc.Paths {
		for method, raw := range item {
			if method == "parameters" {
				continue
			}
			documented = append(documented, strings.ToUpper(method)+" "+path)
			var operation struct {
				OperationID string                     `json:"operationId"`
				Responses   map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(raw, &operation); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			if operation.OperationID == "" || operation.Responses["401"] == nil {
				t.Errorf("%s %s: no operationId or no 401 response", method, path)
			}
		}
	}
	served := (&Server{}).Routes()
	slices.Sort(documented)
	slices.Sort(served)
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("%s is served but not in %s", r, openAPIFile)
		}
	}
	for _, r := range documented {
		if !slices.Contains(served, r) {
			t.Errorf("%s is in %s but not served", r, openAPIFile)
		}
	}
	for _, ref := range strings.Split(string(data), `"$ref": "#/components/schemas/`)[1:] {
		name, _, _ := strings.Cut(ref, `"`)
		if doc.Components.Schemas[name] == nil {
			t.Errorf("$ref to the undefined schema %s", name)
		}
	}
}

// TestDocMentionsEveryRoute: docs/control-api.md describes every route.
func TestDocMentionsEveryRoute(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "control-api.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range (&Server{}).Routes() {
		if !strings.Contains(string(data), "`"+r+"`") {
			t.Errorf("docs/control-api.md does not describe `%s`", r)
		}
	}
}
