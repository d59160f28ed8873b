package cli

import (
	"bytes"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"
)

// keyPrompt is the question of a card on a terminal, answered by one key.
const keyPrompt = "approve? [y]es / [n]o / [s]kip"

// keyInterrupt is Ctrl-C read as a key in raw mode.
const keyInterrupt = "\x03"

// termWriter writes to a terminal, turning "\n" into "\r\n" while the
// terminal is in raw mode (which stops the terminal from doing it).
type termWriter struct {
	w   io.Writer
	raw *atomic.Bool
	mu  sync.Mutex
}

func (t *termWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.raw.Load() {
		return t.w.Write(p)
	}
	if _, err := t.w.Write(bytes.ReplaceAll(p, []byte("\n"), []byte("\r\n"))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Fd lets terminalFD see through the wrapper.
func (t *termWriter) Fd() uintptr {
	if f, ok := t.w.(interface{ Fd() uintptr }); ok {
		return f.Fd()
	}
	return ^uintptr(0)
}

// enterRaw puts the terminal on stdin in raw mode, so that a key press
// answers at once and the countdown can be redrawn, and returns the
// function that restores it. Nothing happens when stdin is no terminal
// (tests).
func (r *runner) enterRaw() func() {
	fd, ok := terminalFD(r.e.stdin)
	if !ok {
		return func() {}
	}
	old, err := term.MakeRaw(fd)
	if err != nil {
		r.out.note("cannot read single keys: " + err.Error())
		return func() {}
	}
	r.e.raw.Store(true)
	return func() {
		term.Restore(fd, old)
		r.e.raw.Store(false)
	}
}

// key is one input of the runner: a key on a terminal, else a line, with
// the time it was read.
type key struct {
	s  string
	at time.Time
}

// readKeys delivers stdin one key (byte) at a time, each with the time it
// was read, and closes the channel at the end of input. It stops sending
// once done is closed. It holds at most one key read ahead: the runner
// ignores a key read before the card it would answer was shown.
func readKeys(stdin io.Reader, now func() time.Time, done <-chan struct{}) <-chan key {
	ch := make(chan key)
	go func() {
		defer close(ch)
		buf := make([]byte, 1)
		for {
			n, err := stdin.Read(buf)
			if n == 1 {
				k := key{string(buf), now()}
				select {
				case ch <- k:
				case <-done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// readHidden reads a line from the terminal on stdin without echo.
func readHidden(stdin io.Reader) (string, error) {
	fd, ok := terminalFD(stdin)
	if !ok {
		return "", errNoSecret
	}
	b, err := term.ReadPassword(fd)
	return string(b), err
}
