package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/cibalab/cibalab/authenticator/device"
	"github.com/cibalab/cibalab/authenticator/internal/phone"
	"github.com/cibalab/cibalab/shared/channel"
)

// connPoll is how often the phone's connection indicator is refreshed.
const connPoll = 250 * time.Millisecond

// usesPhone reports whether the device shows the full-screen phone: on a
// terminal, when the person decides (no --auto, --rules, approval hook or
// --json) and --plain was not given.
func usesPhone(o options, tty bool) bool {
	return tty && !o.plain && !o.json && o.auto == "" && o.rulesFile == "" && o.hookListen == ""
}

// runPhone shows the requests on the full-screen phone until the person
// quits, the context ends or the connection to the OP closes for good.
// The phone draws on stdout, reads stdin and has the terminal to itself:
// the runner prints nothing meanwhile.
func (r *runner) runPhone(parent context.Context) int {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	out := unwrap(r.e.stdout)
	renderer := screenRenderer(out, r.e.getenv)
	name := r.dev.DeviceName
	if name == "" || name == device.DefaultDeviceName {
		name = r.d.ID()
	}
	knownPIN, err := pinFromFileOrEnv(r.o, r.e.getenv)
	if err != nil {
		fmt.Fprintf(r.e.stderr, "%s: %v\n", Name, err)
		return ExitUsage
	}
	accepted := make(chan struct{}, 1)
	m := phone.New(phone.Config{
		Context: ctx, Device: name, User: r.d.User(), DeviceID: r.d.ID(),
		HasPIN: r.dev.HasPIN(), KnownPIN: knownPIN, CheckPIN: r.dev.CheckPIN, PINACR: acrPIN,
		Decide: func(ctx context.Context, d phone.Decision) phone.Outcome {
			o := r.decidePhone(ctx, d)
			if o.Applied && r.o.once {
				select {
				case accepted <- struct{}{}:
				default:
				}
			}
			return o
		},
		Now: r.now, Renderer: renderer,
	})
	prog := tea.NewProgram(m, tea.WithContext(ctx), tea.WithInput(r.e.stdin), tea.WithOutput(out),
		tea.WithAltScreen(), tea.WithMouseCellMotion())
	lost := make(chan struct{})
	go r.feedPhone(ctx, prog, lost, accepted)
	_, err = prog.Run()
	cancel()
	select {
	case <-lost:
		return r.lost()
	default:
	}
	switch {
	case m.Interrupted, parent.Err() != nil, errors.Is(err, tea.ErrInterrupted):
		return ExitInterrupted
	case err != nil:
		fmt.Fprintf(r.e.stderr, "%s: the screen failed: %v\n", Name, err)
		return ExitUnexpected
	}
	return ExitOK
}

// feedPhone passes the device's requests, closures and connection state
// to the phone. It closes lost and quits the phone when the connection
// closes for good, and quits it after the first accepted decision with
// --once.
func (r *runner) feedPhone(ctx context.Context, prog *tea.Program, lost chan<- struct{}, accepted <-chan struct{}) {
	poll := time.NewTicker(connPoll)
	defer poll.Stop()
	connected := true
	for {
		select {
		case <-ctx.Done():
			return
		case req, ok := <-r.d.Requests():
			if !ok {
				close(lost)
				prog.Quit()
				return
			}
			// Each authorization_details entry in words (RFC 9396), shown
			// on the request screen, where the person may leave some out.
			prog.Send(phone.RequestMsg{Request: phone.Request{AuthRequest: req, Details: req.AuthorizationDetails.Lines()}})
		case c := <-r.closures():
			prog.Send(phone.ClosedMsg{AuthReqID: c.AuthReqID, Reason: c.Reason, DeviceID: c.DeviceID})
		case <-poll.C:
			if now := r.d.Connected(); now != connected {
				connected = now
				prog.Send(phone.ConnMsg{Connected: now})
			}
		case <-accepted:
			prog.Quit()
			return
		}
	}
}

// decidePhone sends a decision taken on the phone and says, in a few
// words, what the OP answered. An approval carries acr and amr "pin" only
// when the PIN was checked for it.
func (r *runner) decidePhone(ctx context.Context, d phone.Decision) phone.Outcome {
	acr, amr := "", amrKeyOnly
	if d.Verdict == channel.VerdictApprove && d.PINChecked {
		acr, amr = acrPIN, amrPIN
	}
	var opts []device.DecideOption
	if d.ApprovedDetails != nil {
		opts = append(opts, device.ApproveOnly(d.ApprovedDetails))
	}
	err := r.d.Decide(ctx, d.Request.AuthReqID, d.Verdict, acr, amr, opts...)
	var refused *device.RefusedError
	switch {
	case err == nil:
		return phone.Outcome{Applied: true, Text: "the OP accepted"}
	case errors.As(err, &refused) && refused.Code == channel.ErrNotPending:
		return phone.Outcome{Text: "too late: already decided, redeemed or expired"}
	case errors.As(err, &refused):
		return phone.Outcome{Text: "the OP refused: " + display(refused.Code+describe(refused.Description))}
	case errors.Is(err, device.ErrNotDelivered):
		return phone.Outcome{Text: "the OP did not answer in time; not applied"}
	case ctx.Err() != nil:
		return phone.Outcome{Text: "interrupted"}
	}
	r.e.log.Warn("decision.failed", "err", err)
	return phone.Outcome{Text: "not sent: " + display(err.Error())}
}

// unwrap is the writer under a termWriter: the phone drives the terminal
// itself (raw mode, alternate screen), and needs its file to do so.
func unwrap(w io.Writer) io.Writer {
	if t, ok := w.(*termWriter); ok {
		return t.w
	}
	return w
}

// screenRenderer draws the phone's styles on out: the colour profile
// follows the environment ($TERM, $COLORTERM, $NO_COLOR honoured), the
// colours the terminal's light or dark background, asked of the terminal
// before the phone takes its input (else $COLORFGBG, else dark). Without
// colours the background does not matter and the terminal is not asked.
func screenRenderer(out io.Writer, getenv func(string) string) *lipgloss.Renderer {
	o := termenv.NewOutput(out, termenv.WithEnvironment(environ(getenv)))
	r := lipgloss.NewRenderer(out)
	profile := o.EnvColorProfile()
	r.SetColorProfile(profile)
	if profile == termenv.Ascii {
		r.SetHasDarkBackground(true)
	} else {
		r.SetHasDarkBackground(o.HasDarkBackground())
	}
	return r
}

// environ lets termenv read the environment through getenv.
type environ func(string) string

func (e environ) Getenv(k string) string { return e(k) }
func (e environ) Environ() []string      { return nil }
