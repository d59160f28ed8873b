package e2e

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestConformanceDocCitesRealTests keeps docs/conformance.md honest: every
// test or fuzz function it names must exist somewhere in the workspace.
func TestConformanceDocCitesRealTests(t *testing.T) {
	root := filepath.Join("..", "..")
	doc, err := os.ReadFile(filepath.Join(root, "docs", "conformance.md"))
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	funcRE := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz|Benchmark|Example)\w*)\(`)
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range funcRE.FindAllSubmatch(b, -1) {
				defined[string(m[1])] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cited := regexp.MustCompile("`((?:Test|Fuzz)[A-Za-z0-9_]+)[`*]").FindAllStringSubmatch(string(doc), -1)
	if len(cited) < 20 {
		t.Fatalf("only %d tests cited: is the pattern still right?", len(cited))
	}
	for _, m := range cited {
		name := m[1]
		if strings.HasSuffix(m[0], "*") { // a family such as TestRefresh*
			found := false
			for d := range defined {
				found = found || strings.HasPrefix(d, name)
			}
			if !found {
				t.Errorf("docs/conformance.md cites %s*, but no test starts with %s", name, name)
			}
			continue
		}
		if !defined[name] {
			t.Errorf("docs/conformance.md cites %s, which does not exist", name)
		}
	}
}
