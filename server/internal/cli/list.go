package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/cliconv"
)

// runList runs a "list" command: it adds --state-dir and --json to cmd
// (whose own flags the caller has defined), parses args, opens the state
// directory, loads the items and prints them either as a table (header and
// row cells separated by tabs) or as one JSON document.
func runList[T any](e Env, args []string, cmd *command, load func(*registry.Dir) ([]T, error), header string, row func(T) []string) int {
	var dir string
	var asJSON bool
	cmd.stateDirVar(&dir)
	cmd.registryVars()
	cmd.boolVar(&asJSON, "json", "print one JSON document")
	if code, ok := cmd.parse(e, args); !ok {
		if code == exitUsage {
			return jsonFailure(e, asJSON || cliconv.WantsJSON(args, ""), code)
		}
		return code
	}
	d, code, ok := openState(e, cmd, dir)
	if !ok {
		return jsonFailure(e, asJSON, code)
	}
	defer d.Close()
	items, err := load(d)
	if err != nil {
		return jsonFailure(e, asJSON, cmd.fail(e, exitError, err), err)
	}
	if asJSON {
		if items == nil {
			items = []T{}
		}
		return printJSON(e, items)
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, it := range items {
		fmt.Fprintln(tw, strings.Join(row(it), "\t"))
	}
	tw.Flush()
	return exitOK
}
