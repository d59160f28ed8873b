package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// readPasswordFile reads a password from path, without its trailing
// newline.
func readPasswordFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", fmt.Errorf("cannot read password file %s: %v", path, err)
	}
	s := strings.TrimSuffix(string(data), "\n")
	return strings.TrimSuffix(s, "\r"), nil
}

// terminalFD returns the file descriptor of r when it is a terminal.
func terminalFD(r io.Reader) (int, bool) {
	f, ok := r.(*os.File)
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// promptPassword asks for a password twice on the terminal, without echo.
func promptPassword(e Env, fd int, prompt string) (string, error) {
	fmt.Fprint(e.Stderr, prompt)
	first, err := term.ReadPassword(fd)
	fmt.Fprintln(e.Stderr)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	fmt.Fprint(e.Stderr, "Repeat: ")
	second, err := term.ReadPassword(fd)
	fmt.Fprintln(e.Stderr)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	if string(first) != string(second) {
		return "", errors.New("the passwords differ")
	}
	return string(first), nil
}
