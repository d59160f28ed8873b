package cli

import (
	"bufio"
	"context"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/cibalab/cibalab/shared/channel"
)

// readLines delivers stdin line by line, each with the time it was read,
// and closes the channel at the end of input. It stops sending once done
// is closed.
func readLines(stdin io.Reader, now func() time.Time, done <-chan struct{}) <-chan key {
	ch := make(chan key)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			k := key{sc.Text(), now()}
			select {
			case ch <- k:
			case <-done:
				return
			}
		}
	}()
	return ch
}

// answer maps a typed line (or, on a terminal, a key) to a verdict; ""
// means neither.
func answer(line string) string {
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes", "a", "approve":
		return channel.VerdictApprove
	case "n", "no", "d", "deny":
		return channel.VerdictDeny
	}
	return ""
}

// choose maps a typed answer on a card with n authorization_details
// entries to a verdict and, for an approval of some entries only, their
// indexes (from 0): "y" approves every entry, "n" denies, "1,3" or "1 3"
// approves entries 1 and 3 as numbered on the card, every number naming
// an entry once; naming them all is approving all. "" when the answer is
// none of these.
func choose(line string, n int) (string, []int) {
	if v := answer(line); v != "" {
		return v, nil
	}
	fields := strings.FieldsFunc(line, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	if n == 0 || len(fields) == 0 {
		return "", nil
	}
	var idx []int
	for _, f := range fields {
		k, err := strconv.Atoi(f)
		if err != nil || k < 1 || k > n || slices.Contains(idx, k-1) {
			return "", nil
		}
		idx = append(idx, k-1)
	}
	slices.Sort(idx)
	if len(idx) == n {
		return channel.VerdictApprove, nil
	}
	return channel.VerdictApprove, idx
}

// drainKeys discards the keys already typed, reporting whether one was
// Ctrl-C.
func (r *runner) drainKeys() bool {
	for {
		select {
		case k, ok := <-r.input:
			if !ok {
				return false
			}
			if k.s == keyInterrupt {
				return true
			}
		default:
			return false
		}
	}
}

// ask waits for the person's answer on req, whose card was shown at
// shown, until it expires; approving asks for the PIN when the device has
// one. On a terminal a key read before shown is ignored: the person
// cannot have meant this card (CIBA Core 1.0 §8: the user authorizes
// after seeing the request). An empty verdict comes with the outcome to
// return. On a card with several authorization_details entries the person
// may approve some only (see choose): their indexes go to *approved, nil
// for all; on a terminal the entry numbers are typed and ended with Enter.
func (r *runner) ask(ctx context.Context, req channel.AuthRequest, shown time.Time, approved *[]int) (string, string, []string, outcome) {
	n := len(req.AuthorizationDetails)
	var typed strings.Builder // entry numbers typed on a terminal
	expiry := time.NewTimer(time.Unix(req.ExpiresAt, 0).Sub(r.now()))
	defer expiry.Stop()
	var tick <-chan time.Time
	if r.tty {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		tick = t.C
		r.out.countdown(req.SecondsLeft(r.now()))
	}
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return "", "", nil, outcome{ExitInterrupted, true}
		case <-tick:
			r.out.countdown(req.SecondsLeft(r.now()))
		case c := <-r.closures():
			if c.AuthReqID != req.AuthReqID {
				continue
			}
			r.out.endCountdown(r.tty)
			r.out.closed(req, c, r.d.ID())
			return "", "", nil, outcome{}
		case <-expiry.C:
			r.out.endCountdown(r.tty)
			r.out.expired(req)
			return "", "", nil, outcome{}
		case k, ok := <-r.input:
			in := k.s
			if !ok {
				return "", "", nil, outcome{ExitOK, true}
			}
			if in == keyInterrupt {
				return "", "", nil, outcome{ExitInterrupted, true}
			}
			if r.tty && k.at.Before(shown) {
				continue // typed ahead, before this card was shown
			}
			if r.tty && strings.EqualFold(in, "s") {
				r.out.endCountdown(true)
				r.out.ignored(req)
				return "", "", nil, outcome{}
			}
			if r.tty && n > 1 {
				switch {
				case len(in) == 1 && (in[0] >= '0' && in[0] <= '9' || in[0] == ',' || in[0] == ' '):
					r.out.endCountdown(true)
					typed.WriteString(in)
					r.out.text("\r  entries: " + typed.String())
					continue
				case (in == "\x7f" || in == "\b") && typed.Len() > 0:
					s := typed.String()
					typed.Reset()
					typed.WriteString(s[:len(s)-1])
					r.out.text("\r\x1b[K  entries: " + typed.String())
					continue
				case (in == "\r" || in == "\n") && typed.Len() > 0:
					in = typed.String()
					typed.Reset()
					r.out.text("\n")
				}
			}
			v, idx := choose(in, n)
			if v == "" {
				if !r.tty {
					r.out.reprompt(n > 1)
				}
				continue
			}
			r.out.endCountdown(r.tty)
			*approved = idx
			if idx != nil {
				r.out.partial(req, idx)
			}
			if v == channel.VerdictDeny || !r.dev.HasPIN() {
				return v, "", amrKeyOnly, outcome{}
			}
			ok, res := r.checkPIN(ctx)
			if res.stop {
				return "", "", nil, res
			}
			if ok {
				return v, acrPIN, amrPIN, outcome{}
			}
			failures++
			r.out.pinRefused(req, maxPINTries-failures)
			if failures >= maxPINTries {
				r.out.note("too many wrong PINs: nothing sent; the request stays pending")
				return "", "", nil, outcome{}
			}
			if r.tty {
				r.out.countdown(req.SecondsLeft(r.now()))
			}
		}
	}
}

// checkPIN asks for the device PIN (--pin-file, $CIBA_AUTH_PIN, else typed
// on the terminal or as the next line) and checks it.
func (r *runner) checkPIN(ctx context.Context) (bool, outcome) {
	pin, err := pinFromFileOrEnv(r.o, r.e.getenv)
	if err != nil {
		r.out.note(err.Error())
		return false, outcome{}
	}
	if pin == "" {
		r.out.askPIN(r.tty)
		var res outcome
		pin, res = r.readPIN(ctx)
		if res.stop {
			return false, res
		}
	}
	return r.dev.CheckPIN(pin), outcome{}
}

// readPIN reads a PIN from the input: a line, or keys up to Enter on a
// terminal (echoed as dots).
func (r *runner) readPIN(ctx context.Context) (string, outcome) {
	var b strings.Builder
	for {
		select {
		case <-ctx.Done():
			return "", outcome{ExitInterrupted, true}
		case k, ok := <-r.input:
			in := k.s
			switch {
			case !ok:
				return "", outcome{ExitOK, true}
			case in == keyInterrupt:
				return "", outcome{ExitInterrupted, true}
			case !r.tty:
				return strings.TrimSpace(in), outcome{}
			case in == "\r" || in == "\n":
				r.out.endPIN()
				return b.String(), outcome{}
			case in == "\x7f" || in == "\b":
				if s := b.String(); s != "" {
					b.Reset()
					b.WriteString(s[:len(s)-1])
					r.out.erase()
				}
			case len(in) == 1 && in[0] >= 0x20:
				b.WriteString(in)
				r.out.dot()
			}
		}
	}
}
