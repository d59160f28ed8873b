package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// errNoSecret reports that a secret is in neither a file nor the
// environment, and stdin is not a terminal to ask on.
var errNoSecret = errors.New("not available")

// readSecretFile reads a secret file, without its trailing newline.
func readSecretFile(path, what string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s file: %w", what, err)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	if s == "" {
		return "", fmt.Errorf("%s file %s is empty", what, path)
	}
	return s, nil
}

// terminalFD returns stdin's file descriptor when it is a terminal.
func terminalFD(r io.Reader) (int, bool) {
	f, ok := r.(interface{ Fd() uintptr })
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0, false
	}
	return int(f.Fd()), true
}

// readPassword finds the user's password: the password file, else
// $CIBA_AUTH_PASSWORD, else (when prompt is set) a prompt without echo when
// stdin is a terminal; else errNoSecret.
func readPassword(o options, stdin io.Reader, stderr io.Writer, getenv func(string) string, prompt bool) (string, error) {
	if o.passwordFile != "" {
		return readSecretFile(o.passwordFile, "password")
	}
	if pw := getenv(EnvPassword); pw != "" {
		return pw, nil
	}
	if fd, ok := terminalFD(stdin); ok && prompt {
		fmt.Fprintf(stderr, "Password for %s: ", o.user)
		pw, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("password prompt: %w", err)
		}
		if len(pw) == 0 {
			return "", errors.New("empty password")
		}
		return string(pw), nil
	}
	return "", errNoSecret
}

// pinFromFileOrEnv is the PIN of --pin-file, else $CIBA_AUTH_PIN; "" when
// neither is set.
func pinFromFileOrEnv(o options, getenv func(string) string) (string, error) {
	if o.pinFile != "" {
		return readSecretFile(o.pinFile, "PIN")
	}
	return getenv(EnvPIN), nil
}
