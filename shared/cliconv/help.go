package cliconv

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// Page is one --help page. Write lays every page of every program out the
// same way: USAGE, the description, FLAGS (each with its environment
// variable and default), the extra sections, then EXIT CODES.
type Page struct {
	Program     string   // OP, Client or Authenticator
	Usage       []string // lines after the program's name: "serve [flags]"
	Description string
	Flags       []Flag
	// Sections are more sections, each a title ("ENVIRONMENT") and its
	// text, indented by two spaces.
	Sections []Section
}

// Section is a titled part of a help page.
type Section struct {
	Title string
	Body  string
}

// Flag is one flag as the help page shows it.
type Flag struct {
	Name    string // without dashes
	Arg     string // "FILE"; empty for a boolean flag
	Usage   string
	Default string // empty when there is none worth showing
	Env     string // the environment variable behind the flag, if any
}

// FlagsOf lists the flags of fs, sorted by name; env names the
// environment variable of a flag ("" for none).
func FlagsOf(fs *flag.FlagSet, env func(name string) string) []Flag {
	var out []Flag
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		if isWord(arg) {
			arg = strings.ToUpper(arg) // "file" -> FILE, as placeholders are written everywhere
		}
		def := f.DefValue
		if def == "false" || def == "0s" || def == "0" {
			def = ""
		}
		out = append(out, Flag{Name: f.Name, Arg: arg, Usage: usage, Default: def, Env: env(f.Name)})
	})
	return out
}

// isWord reports whether s is one word of lower-case letters.
func isWord(s string) bool {
	return s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyz") == ""
}

// Write writes the page to w.
func (p Page) Write(w io.Writer) {
	var b strings.Builder
	b.WriteString("USAGE\n")
	for _, u := range p.Usage {
		b.WriteString("  " + p.Program + " " + u + "\n")
	}
	if d := strings.Trim(p.Description, "\n"); d != "" {
		b.WriteString("\n" + d + "\n")
	}
	if len(p.Flags) > 0 {
		b.WriteString("\nFLAGS (a flag beats its environment variable, which beats the default)\n")
		for _, f := range p.Flags {
			line := "  --" + f.Name
			if f.Arg != "" {
				line += " " + f.Arg
			}
			b.WriteString(line + "\n      " + f.Usage)
			if f.Default != "" {
				fmt.Fprintf(&b, " (default %q)", f.Default)
			}
			if f.Env != "" {
				b.WriteString(" [env " + f.Env + "]")
			}
			b.WriteString("\n")
		}
	}
	for _, s := range p.Sections {
		b.WriteString("\n" + s.Title + "\n")
		for _, l := range strings.Split(strings.Trim(s.Body, "\n"), "\n") {
			if l == "" {
				b.WriteString("\n")
				continue
			}
			b.WriteString("  " + l + "\n")
		}
	}
	b.WriteString("\n" + ExitSection(p.Program))
	io.WriteString(w, b.String())
}
