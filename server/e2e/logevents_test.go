package e2e

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/cibalab/cibalab/shared/logfmt"
)

// The log events of docs/cli.md are collected from the code itself, so
// that the list cannot drift: every slog call of the three programs and
// the packages they use names its event with a string literal, and the
// transitions of authentication requests (logged by op/transition.go
// under their type) are the authreq.Event... constants.

// logMethods maps the slog.Logger methods to the index of their message
// argument and their level ("" when the call passes a level).
var logMethods = map[string]struct {
	msg   int
	level string
}{
	"Debug": {0, "debug"}, "Info": {0, "info"}, "Warn": {0, "warn"}, "Error": {0, "error"},
	"DebugContext": {1, "debug"}, "InfoContext": {1, "info"}, "WarnContext": {1, "warn"}, "ErrorContext": {1, "error"},
	"Log": {2, ""}, "LogAttrs": {2, ""},
}

// nonLiteral are the files allowed a log call with a message that is not
// a literal: op/transition.go logs each transition under its type (the
// authreq.Event... constants), optest's note logs its callers' events
// (note("optest.…", ...), collected as calls of note).
var nonLiteral = []string{"server/op/transition.go", "server/optest/optest.go"}

// loggerNames are the last names of the expressions that hold a logger:
// p.log, d.log, cfg.Logger, logger, w.l, ...
var loggerNames = []string{"log", "logger", "Logger", "l"}

// transitionLevels are the levels op/transition.go logs transitions at.
var transitionLevels = map[string]string{"authreq.polled": "debug", "authreq.notified": "debug"}

// logEvent is one event name with where and at which levels it is logged.
type logEvent struct {
	name     string
	levels   []string
	packages []string
}

// program tells which program logs the events of a source file.
func program(path string) string {
	switch {
	case strings.HasPrefix(path, "server/optest/"):
		return "optest (the in-process OP of Go tests)"
	case strings.HasPrefix(path, "server/"):
		return "ciba-op"
	case strings.HasPrefix(path, "client/"):
		return "ciba-client"
	case strings.HasPrefix(path, "authenticator/"):
		return "ciba-authenticator"
	}
	return "shared"
}

// collectLogEvents parses every non-test Go file of the repository and
// returns the events by program, and the calls whose message is not an
// event name.
func collectLogEvents(t *testing.T) (map[string]map[string]*logEvent, []string) {
	t.Helper()
	root := filepath.Join("..", "..")
	events := map[string]map[string]*logEvent{}
	add := func(prog, name, level, pkg string) {
		if events[prog] == nil {
			events[prog] = map[string]*logEvent{}
		}
		e := events[prog][name]
		if e == nil {
			e = &logEvent{name: name}
			events[prog][name] = e
		}
		if !slices.Contains(e.levels, level) {
			e.levels = append(e.levels, level)
		}
		if !slices.Contains(e.packages, pkg) {
			e.packages = append(e.packages, pkg)
		}
	}
	var bad []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "node_modules", "testdata", ".git":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(filepath.Dir(rel))
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			m, ok := logMethods[sel.Sel.Name]
			if sel.Sel.Name == "note" && strings.HasPrefix(rel, "server/optest/") {
				m, ok = struct {
					msg   int
					level string
				}{0, "info"}, true
			} else if !slices.Contains(loggerNames, lastName(sel.X)) {
				ok = false
			}
			if !ok || len(call.Args) <= m.msg {
				return true
			}
			pos := fset.Position(call.Pos())
			where := fmt.Sprintf("%s:%d", rel, pos.Line)
			level := m.level
			if level == "" {
				level = "varies"
			}
			lit, ok := call.Args[m.msg].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				if slices.Contains(nonLiteral, rel) {
					return true
				}
				bad = append(bad, where+": the message is not a string literal")
				return true
			}
			name, _ := strconv.Unquote(lit.Value)
			if !logfmt.ValidEvent(name) {
				bad = append(bad, fmt.Sprintf("%s: %q is not a dotted event name", where, name))
				return true
			}
			add(program(rel), name, level, pkg)
			return true
		})
		if rel == "server/authreq/event.go" {
			for _, decl := range f.Decls {
				gd, ok := decl.(*ast.GenDecl)
				if !ok || gd.Tok != token.CONST {
					continue
				}
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec)
					for _, v := range vs.Values {
						if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
							name, _ := strconv.Unquote(lit.Value)
							level := transitionLevels[name]
							if level == "" {
								level = "info"
							}
							add("ciba-op", name, level, "server/op")
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return events, bad
}

// lastName is the last identifier of x: log for p.log, Logger for
// ks.cfg.Logger.
func lastName(x ast.Expr) string {
	switch x := x.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return x.Sel.Name
	}
	return ""
}

// logEventsSection is the "Log events" section of docs/cli.md.
func logEventsSection(t *testing.T) string {
	t.Helper()
	events, bad := collectLogEvents(t)
	if len(bad) > 0 {
		t.Fatalf("log calls whose message is not an event name (want a literal like \"token.refreshed\", the detail in attributes):\n%s", strings.Join(bad, "\n"))
	}
	var b strings.Builder
	b.WriteString("\n## Log events\n\n")
	b.WriteString("Every log line's message (`msg`) is one of these stable event names; the detail is in attributes, and a line about an\n")
	b.WriteString("authentication request carries its short reference as `" + "req" + "`. `--log-format json` writes one JSON object a line.\n")
	b.WriteString("Collected from the code by `go test ./e2e -run CLIReference -update` in `server/`.\n")
	progs := make([]string, 0, len(events))
	for p := range events {
		progs = append(progs, p)
	}
	sort.Slice(progs, func(i, j int) bool { return progOrder(progs[i]) < progOrder(progs[j]) })
	for _, prog := range progs {
		b.WriteString("\n### " + prog + "\n\n| event | level | logged by |\n| --- | --- | --- |\n")
		names := make([]string, 0, len(events[prog]))
		for n := range events[prog] {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			e := events[prog][n]
			sort.Slice(e.levels, func(i, j int) bool { return levelOrder(e.levels[i]) < levelOrder(e.levels[j]) })
			sort.Strings(e.packages)
			fmt.Fprintf(&b, "| `%s` | %s | `%s` |\n", n, strings.Join(e.levels, ", "), strings.Join(e.packages, "`, `"))
		}
	}
	return b.String()
}

func progOrder(p string) string {
	for i, name := range []string{"ciba-op", "ciba-client", "ciba-authenticator"} {
		if p == name {
			return strconv.Itoa(i)
		}
	}
	return "9" + p
}

func levelOrder(l string) int {
	return slices.Index([]string{"debug", "info", "warn", "error", "varies"}, l)
}

// TestLogEventsAreNamed: every log call names a dotted event, and the
// collector finds the events this package's tests rely on.
func TestLogEventsAreNamed(t *testing.T) {
	events, bad := collectLogEvents(t)
	if len(bad) > 0 {
		t.Fatalf("log calls whose message is not an event name:\n%s", strings.Join(bad, "\n"))
	}
	for prog, names := range map[string][]string{
		"ciba-op":            {"authreq.approved", "authreq.polled", "endpoint.refused", "notify.delivered", "notify.failed", "registry.ca_created", "op.ready"},
		"ciba-client":        {"ciba.poll", "ciba.token"},
		"ciba-authenticator": {"decision.accepted", "device.request_received"},
	} {
		for _, n := range names {
			if events[prog][n] == nil {
				t.Errorf("%s: event %s not found", prog, n)
			}
		}
	}
	if l := events["ciba-op"]["authreq.polled"]; l == nil || !slices.Equal(l.levels, []string{"debug"}) {
		t.Errorf("authreq.polled is not logged at debug only: %+v", l)
	}
}
