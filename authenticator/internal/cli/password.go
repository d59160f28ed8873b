package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// readPassword finds the user's password: the password file, else
// $CIBA_AUTH_PASSWORD, else a prompt without echo when stdin is a
// terminal. Any failure is a usage error.
func readPassword(o options, stdin io.Reader, stderr io.Writer, getenv func(string) string) (string, error) {
	if o.passwordFile != "" {
		data, err := os.ReadFile(o.passwordFile)
		if err != nil {
			return "", fmt.Errorf("password file: %w", err)
		}
		pw := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
		if pw == "" {
			return "", fmt.Errorf("password file %s is empty", o.passwordFile)
		}
		return pw, nil
	}
	if pw := getenv(EnvPassword); pw != "" {
		return pw, nil
	}
	if f, ok := stdin.(interface{ Fd() uintptr }); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(stderr, "Password for %s: ", o.user)
		pw, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("password prompt: %w", err)
		}
		if len(pw) == 0 {
			return "", errors.New("empty password")
		}
		return string(pw), nil
	}
	return "", fmt.Errorf("no password: use --password-file or $%s (stdin is not a terminal)", EnvPassword)
}
