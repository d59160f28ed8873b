package cliconv

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version and commit may be set at link time:
//
//	go build -ldflags "-X github.com/cibalab/cibalab/shared/cliconv.version=v1.2.3 -X github.com/cibalab/cibalab/shared/cliconv.commit=abc123"
//
// Without them they come from the build information Go records
// (runtime/debug.ReadBuildInfo): the main module's version and its VCS
// revision, when the build had them.
var (
	version string
	commit  string
)

// Version is what --version prints: the program, its version, the commit
// it was built from and the Go version, on one line.
func Version(program string) string {
	v, c, dirty := version, commit, false
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" && info.Main.Version != "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if c == "" {
					c = s.Value
				}
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	if c == "" {
		c = "unknown"
	} else if len(c) > 12 {
		c = c[:12]
	}
	if dirty {
		c += "-dirty"
	}
	return fmt.Sprintf("%s %s commit %s %s %s/%s", program, v, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// IsVersion reports whether arg asks for the version.
func IsVersion(arg string) bool { return arg == "--version" || arg == "-version" || arg == "version" }
