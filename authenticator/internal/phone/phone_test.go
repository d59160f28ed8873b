package phone

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"github.com/cibalab/cibalab/shared/channel"
)

var update = flag.Bool("update", false, "rewrite the golden screens in testdata/")

// t0 is the fixed clock of the golden screens.
var t0 = time.Date(2026, 12, 6, 9, 41, 0, 0, time.UTC)

const testPIN = "2468"

// clockAt is a clock a test moves by hand.
type clockAt struct{ now time.Time }

func (c *clockAt) Now() time.Time { return c.now }

// newPhone is a phone with a fixed clock and a renderer without colours,
// so that renderings are the same everywhere.
func newPhone(tb testing.TB, c *clockAt, hasPIN bool, decide func(context.Context, Decision) Outcome) *Model {
	tb.Helper()
	r := lipgloss.NewRenderer(nil)
	r.SetColorProfile(termenv.Ascii)
	r.SetHasDarkBackground(true)
	return New(Config{Device: "Pixel sim", User: "alice", DeviceID: "dev-1", HasPIN: hasPIN,
		CheckPIN: func(p string) bool { return p == testPIN }, PINACR: "urn:cibalab:acr:pin",
		Decide: decide, Now: c.Now, Renderer: r, NoTick: true})
}

// request is a pending request created ago before t0, living life.
func request(id, client, message string, ago, life time.Duration) Request {
	return Request{AuthRequest: channel.AuthRequest{Version: 1, AuthReqID: id, ClientID: strings.ToLower(client) + "-client",
		ClientName: client, User: "alice", Scope: []string{"openid", "profile"}, BindingMessage: message,
		CreatedAt: t0.Add(-ago).Unix(), ExpiresAt: t0.Add(-ago + life).Unix()}}
}

func send(m *Model, msgs ...tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	for _, msg := range msgs {
		_, cmd = m.Update(msg)
	}
	return cmd
}

func keys(m *Model, ks ...string) tea.Cmd {
	var cmd tea.Cmd
	for _, k := range ks {
		var msg tea.KeyMsg
		switch k {
		case "enter":
			msg = tea.KeyMsg{Type: tea.KeyEnter}
		case "esc":
			msg = tea.KeyMsg{Type: tea.KeyEsc}
		case "down":
			msg = tea.KeyMsg{Type: tea.KeyDown}
		case "backspace":
			msg = tea.KeyMsg{Type: tea.KeyBackspace}
		default:
			msg = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
		}
		_, cmd = m.Update(msg)
	}
	return cmd
}

// render renders m at w×h without styles, trailing blanks cut.
func render(m *Model, w, h int) string {
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	lines := strings.Split(ansi.Strip(m.View()), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n") + "\n"
}

var sizes = [][2]int{{40, 20}, {80, 24}}

// scenes are the golden screens: each builds a phone in a state.
var scenes = map[string]func(tb testing.TB, c *clockAt) *Model{
	"idle": func(tb testing.TB, c *clockAt) *Model { return newPhone(tb, c, false, nil) },
	"one-request": func(tb testing.TB, c *clockAt) *Model {
		m := newPhone(tb, c, false, nil)
		send(m, RequestMsg{request("r1", "Shop", "Order 42", 20*time.Second, 2*time.Minute)})
		return m
	},
	"three-requests": func(tb testing.TB, c *clockAt) *Model {
		m := newPhone(tb, c, false, nil)
		send(m, RequestMsg{request("r1", "Shop", "Order 42", 90*time.Second, 2*time.Minute)},
			RequestMsg{request("r2", "Bank", "Transfer 250 EUR to Bob", 30*time.Second, 2*time.Minute)},
			RequestMsg{request("r3", "Mail", "", 5*time.Second, 2*time.Minute)})
		return m
	},
	"request-screen": func(tb testing.TB, c *clockAt) *Model {
		m := newPhone(tb, c, false, nil)
		r := request("r1", "Shop", "Order 42: 3 items, 129.90 EUR, delivery to 221B Baker Street, London", 20*time.Second, 2*time.Minute)
		r.ACRValues = []string{"urn:cibalab:acr:pin"}
		r.Details = []string{"payment_initiation: 129.90 EUR to Shop Ltd"}
		send(m, RequestMsg{r})
		keys(m, "enter")
		return m
	},
	"pin-entry": func(tb testing.TB, c *clockAt) *Model {
		m := newPhone(tb, c, true, nil)
		send(m, RequestMsg{request("r1", "Shop", "Order 42", 20*time.Second, 2*time.Minute)})
		keys(m, "2", "4")
		return m
	},
	"decided-elsewhere": func(tb testing.TB, c *clockAt) *Model {
		m := newPhone(tb, c, false, nil)
		send(m, RequestMsg{request("r1", "Shop", "Order 42", 20*time.Second, 2*time.Minute)},
			RequestMsg{request("r2", "Bank", "Transfer 250 EUR", 10*time.Second, 2*time.Minute)})
		keys(m, "enter")
		send(m, ClosedMsg{AuthReqID: "r2", Reason: channel.ClosedApproved, DeviceID: "dev-9"})
		return m
	},
	"reconnecting": func(tb testing.TB, c *clockAt) *Model {
		m := newPhone(tb, c, false, nil)
		send(m, RequestMsg{request("r1", "Shop", "Order 42", 20*time.Second, 2*time.Minute)}, ConnMsg{Connected: false})
		return m
	},
}

// TestGoldenScreens compares each scene at 40×20 and 80×24 with
// testdata/NAME-WxH.golden; -update rewrites them.
func TestGoldenScreens(t *testing.T) {
	for name, build := range scenes {
		for _, sz := range sizes {
			t.Run(fmt.Sprintf("%s-%dx%d", name, sz[0], sz[1]), func(t *testing.T) {
				got := render(build(t, &clockAt{t0}), sz[0], sz[1])
				path := filepath.Join("testdata", fmt.Sprintf("%s-%dx%d.golden", name, sz[0], sz[1]))
				if *update {
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if got != string(want) {
					t.Fatalf("screen differs from %s:\n%s\nwant:\n%s", path, got, want)
				}
			})
		}
	}
}

// TestFitsIn40x20: at 40×20 no line is wider than 40 cells nor is there a
// 21st line, whatever the scene, and every drawn line is inside the frame.
func TestFitsIn40x20(t *testing.T) {
	long := request("long", strings.Repeat("VeryLongClientName", 5), strings.Repeat("Übermäßig lange Nachricht ", 20)+strings.Repeat("x", 120), 0, time.Minute)
	long.Scope = []string{"openid", "profile", "email", "address", "phone", "offline_access", strings.Repeat("custom", 20)}
	long.ACRValues = []string{strings.Repeat("urn:example:acr:", 6)}
	long.Details = []string{strings.Repeat("detail ", 30), "x"}
	all := map[string]func(tb testing.TB, c *clockAt) *Model{"long-request": func(tb testing.TB, c *clockAt) *Model {
		m := newPhone(tb, c, false, nil)
		send(m, RequestMsg{long})
		keys(m, "enter")
		return m
	}}
	for k, v := range scenes {
		all[k] = v
	}
	for name, build := range all {
		m := build(t, &clockAt{t0})
		m.Update(tea.WindowSizeMsg{Width: 40, Height: 20})
		view := m.View()
		lines := strings.Split(view, "\n")
		if len(lines) > 20 {
			t.Errorf("%s: %d lines at 40×20", name, len(lines))
		}
		for i, l := range lines {
			if w := ansi.StringWidth(l); w > 40 {
				t.Errorf("%s: line %d is %d cells wide: %q", name, i, w, ansi.Strip(l))
			}
			plain := strings.TrimRight(ansi.Strip(l), " ")
			if plain != "" && !strings.HasPrefix(plain, "╭") && !strings.HasPrefix(plain, "│") && !strings.HasPrefix(plain, "╰") {
				t.Errorf("%s: line %d drawn outside the frame: %q", name, i, plain)
			}
		}
	}
}

// TestAnySize: at every terminal size, from tiny to large, and whatever
// was scrolled, a rendering fits the terminal and nothing panics.
func TestAnySize(t *testing.T) {
	five := func(tb testing.TB, c *clockAt) *Model {
		m := newPhone(tb, c, false, nil)
		for i := range 5 {
			send(m, RequestMsg{request(fmt.Sprint("r", i), fmt.Sprint("Client", i), "Order "+fmt.Sprint(i), time.Duration(i)*time.Second, time.Minute)})
		}
		keys(m, "down", "down", "down", "down", "down")
		return m
	}
	all := map[string]func(tb testing.TB, c *clockAt) *Model{"five": five}
	for k, v := range scenes {
		all[k] = v
	}
	for name, build := range all {
		m := build(t, &clockAt{t0})
		keys(m, "j", "j", "j", "j", "j", "j", "j", "j", "j", "j", "j", "j")
		for w := 1; w <= 100; w += 3 {
			for h := 1; h <= 40; h += 3 {
				m.Update(tea.WindowSizeMsg{Width: w, Height: h})
				lines := strings.Split(m.View(), "\n")
				if len(lines) > max(h, 1) {
					t.Fatalf("%s at %d×%d: %d lines", name, w, h, len(lines))
				}
				for _, l := range lines {
					if ansi.StringWidth(l) > w {
						t.Fatalf("%s at %d×%d: line of %d cells: %q", name, w, h, ansi.StringWidth(l), ansi.Strip(l))
					}
				}
			}
		}
	}
}
