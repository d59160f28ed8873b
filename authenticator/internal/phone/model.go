package phone

import (
	"context"
	"sort"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/cibalab/cibalab/shared/channel"
)

// Timings of the phone.
const (
	// LockOut is how long the PIN pad refuses input after MaxPINTries
	// wrong PINs in a row.
	LockOut = 30 * time.Second
	// MaxPINTries is the number of wrong PINs that lock the pad.
	MaxPINTries = 3
	toastFor    = 5 * time.Second
	bannerFor   = 6 * time.Second
	maxHistory  = 50
)

// Decision is what the person decided on a request.
type Decision struct {
	Request channel.AuthRequest
	// Verdict is channel.VerdictApprove or channel.VerdictDeny.
	Verdict string
	// PINChecked is set when the device PIN was checked for this decision
	// (the approval may then carry Config.PINACR).
	PINChecked bool
	// ApprovedDetails names the authorization_details entries an approval
	// grants, by index from 0 (RFC 9396), when the person left some out;
	// nil grants them all.
	ApprovedDetails []int
}

// Outcome is the OP's answer to a decision, as the caller read it.
type Outcome struct {
	// Applied is set when the OP accepted the decision.
	Applied bool
	// Text says what happened, in a few words ("the OP accepted",
	// "too late: decided elsewhere").
	Text string
}

// Config configures [New].
type Config struct {
	// Context bounds the decisions the phone sends; nil means
	// context.Background.
	Context context.Context
	// Device and User are shown in the status bar; DeviceID names this
	// device in closed notices.
	Device, User, DeviceID string
	// HasPIN is set when the device has a PIN: the phone starts locked and
	// approving needs the PIN.
	HasPIN bool
	// KnownPIN is a PIN given beforehand (a file or the environment): when
	// set the phone starts unlocked and approvals check it without asking.
	KnownPIN string
	// CheckPIN checks a PIN typed on the pad.
	CheckPIN func(pin string) bool
	// PINACR is the acr an approval carries after the PIN was checked.
	PINACR string
	// Decide sends a decision and returns the OP's answer; it may block.
	Decide func(ctx context.Context, d Decision) Outcome
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Renderer draws the styles; nil means lipgloss.DefaultRenderer. Its
	// colour profile and background decide the colours.
	Renderer *lipgloss.Renderer
	// NoTick stops the one-second tick (tests drive time themselves).
	NoTick bool
}

// Request is a pending request as the phone shows it.
type Request struct {
	channel.AuthRequest
	// Details are readable lines describing what the client asks for
	// beyond the scope (one per entry, e.g. of RFC 9396
	// authorization_details); shown on the request screen when not empty.
	Details []string
	arrived int // arrival order, for stable sorting
}

// RequestMsg delivers a new pending request.
type RequestMsg struct{ Request Request }

// ClosedMsg says a request no longer waits for a decision (the OP's
// channel.RequestClosed, or found gone after a reconnect).
type ClosedMsg struct {
	AuthReqID string
	// Reason is a channel.Closed* value, or "gone".
	Reason string
	// DeviceID names the device that decided, when the OP said.
	DeviceID string
}

// ConnMsg reports the connection to the OP.
type ConnMsg struct{ Connected bool }

// tickMsg is the one-second clock tick.
type tickMsg time.Time

// decidedMsg is the answer to a decision sent.
type decidedMsg struct {
	id      string
	verdict string
	out     Outcome
}

type screen int

const (
	screenLock screen = iota
	screenInbox
	screenRequest
	screenPIN
	screenHistory
)

// entry is a line of the history.
type entry struct {
	at      time.Time
	client  string
	message string
	verdict string // approve, deny, or "" for a closure
	ok      bool
	text    string
}

// notice is a toast or a banner shown until a time.
type notice struct {
	text  string
	until time.Time
}

// Model is the phone. Use [New]; it is a tea.Model.
type Model struct {
	cfg    Config
	st     styles
	width  int
	height int

	screen    screen
	reqs      []Request
	arrivals  int
	selected  string       // auth_req_id selected in the inbox
	viewing   string       // auth_req_id on the request screen
	focus     int          // 0 Approve, 1 Deny
	scroll    int          // first line of the request screen's body
	left      map[int]bool // authorization_details entries left out of the approval on screen
	sending   map[string]string
	history   []entry
	connected bool

	pin         string
	pinFails    int
	lockedUntil time.Time
	unlocked    bool
	pinErr      string

	toast  notice
	banner notice

	// Quit reasons: Interrupted is set by Ctrl-C.
	Interrupted bool

	zones []zone
}

// zone is a clickable region of the last rendering, in screen cells.
type zone struct {
	row, x0, x1 int
	action      string
}

// New returns a phone in the state cfg describes: locked when the device
// has a PIN that was not given beforehand, connected.
func New(cfg Config) *Model {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Context == nil {
		cfg.Context = context.Background()
	}
	if cfg.Renderer == nil {
		cfg.Renderer = lipgloss.DefaultRenderer()
	}
	m := &Model{cfg: cfg, st: newStyles(cfg.Renderer), screen: screenInbox, connected: true,
		sending: map[string]string{}}
	if cfg.HasPIN && cfg.KnownPIN == "" {
		m.screen = screenLock
	} else {
		m.unlocked = true
	}
	return m
}

// Init starts the clock tick.
func (m *Model) Init() tea.Cmd { return m.tick() }

func (m *Model) tick() tea.Cmd {
	if m.cfg.NoTick {
		return nil
	}
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return tickMsg(t) })
}

// Pending returns the pending requests, newest first.
func (m *Model) Pending() []Request { return m.sorted() }

func (m *Model) sorted() []Request {
	out := append([]Request(nil), m.reqs...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].CreatedAt != out[j].CreatedAt {
			return out[i].CreatedAt > out[j].CreatedAt
		}
		return out[i].arrived > out[j].arrived
	})
	return out
}

func (m *Model) find(id string) (Request, bool) {
	for _, r := range m.reqs {
		if r.AuthReqID == id {
			return r, true
		}
	}
	return Request{}, false
}

func (m *Model) remove(id string) {
	for i, r := range m.reqs {
		if r.AuthReqID == id {
			m.reqs = append(m.reqs[:i], m.reqs[i+1:]...)
			break
		}
	}
	if m.selected == id {
		m.selected = ""
	}
}

func (m *Model) addHistory(e entry) {
	m.history = append([]entry{e}, m.history...)
	if len(m.history) > maxHistory {
		m.history = m.history[:maxHistory]
	}
}

func (m *Model) say(text string) { m.toast = notice{text, m.cfg.Now().Add(toastFor)} }

// Update applies a message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case tickMsg:
		m.expire()
		if !m.lockedUntil.IsZero() && !m.cfg.Now().Before(m.lockedUntil) {
			m.lockedUntil, m.pinErr = time.Time{}, ""
		}
		return m, m.tick()
	case ConnMsg:
		m.connected = msg.Connected
	case RequestMsg:
		m.add(msg.Request)
	case ClosedMsg:
		m.closed(msg)
	case decidedMsg:
		m.decided(msg)
	case tea.KeyMsg:
		if msg.Type == tea.KeyRunes && len(msg.Runes) > 1 {
			// Keys typed faster than they are read (or pasted) come
			// together: each is a key of its own.
			var cmds []tea.Cmd
			for _, r := range msg.Runes {
				_, cmd := m.key(string(r))
				cmds = append(cmds, cmd)
			}
			return m, tea.Batch(cmds...)
		}
		return m.key(msg.String())
	case tea.MouseMsg:
		if msg.Action == tea.MouseActionPress && msg.Button == tea.MouseButtonLeft {
			for _, z := range m.zones {
				if msg.Y == z.row && msg.X >= z.x0 && msg.X < z.x1 {
					return m.act(z.action)
				}
			}
		}
	}
	return m, nil
}

func (m *Model) add(r Request) {
	if _, dup := m.find(r.AuthReqID); dup || r.SecondsLeft(m.cfg.Now()) == 0 {
		return
	}
	m.arrivals++
	r.arrived = m.arrivals
	m.reqs = append(m.reqs, r)
	if m.screen == screenRequest || m.screen == screenPIN || m.screen == screenHistory {
		m.banner = notice{"New: " + clientName(r.AuthRequest) + quoteOr(r.BindingMessage, ""), m.cfg.Now().Add(bannerFor)}
	}
}

// expire drops the requests whose time is up.
func (m *Model) expire() {
	now := m.cfg.Now()
	for _, r := range append([]Request(nil), m.reqs...) {
		if r.SecondsLeft(now) == 0 && m.sending[r.AuthReqID] == "" {
			m.closed(ClosedMsg{AuthReqID: r.AuthReqID, Reason: channel.ClosedExpired})
		}
	}
}

func (m *Model) closed(c ClosedMsg) {
	r, ok := m.find(c.AuthReqID)
	if !ok || m.sending[c.AuthReqID] != "" {
		return // unknown, or our own decision whose answer will tell
	}
	m.remove(c.AuthReqID)
	why := closedText(c, m.cfg.DeviceID)
	m.addHistory(entry{at: m.cfg.Now(), client: clientName(r.AuthRequest), message: r.BindingMessage, text: why})
	m.say(subject(r.AuthRequest) + ": " + why)
	if m.viewing == c.AuthReqID && (m.screen == screenRequest || m.screen == screenPIN) {
		m.viewing, m.pin, m.pinErr = "", "", ""
		m.screen = screenInbox
	}
}

// closedText says why a request left the inbox.
func closedText(c ClosedMsg, own string) string {
	where := "on another device"
	if c.DeviceID != "" && c.DeviceID == own {
		where = "elsewhere on this device"
	}
	switch c.Reason {
	case channel.ClosedApproved:
		return "approved " + where
	case channel.ClosedDenied:
		return "denied " + where
	case channel.ClosedRedeemed:
		return "the client already has its tokens"
	case channel.ClosedExpired:
		return "expired"
	}
	return "no longer pending"
}

func (m *Model) decided(d decidedMsg) {
	delete(m.sending, d.id)
	r, ok := m.find(d.id)
	if !ok {
		return
	}
	m.remove(d.id)
	word := "Approved"
	if d.verdict == channel.VerdictDeny {
		word = "Denied"
	}
	m.addHistory(entry{at: m.cfg.Now(), client: clientName(r.AuthRequest), message: r.BindingMessage,
		verdict: d.verdict, ok: d.out.Applied, text: d.out.Text})
	if d.out.Applied {
		m.say(word + ": " + d.out.Text + " (" + subject(r.AuthRequest) + ")")
	} else {
		m.say("Not " + lower(word) + ": " + d.out.Text + " (" + subject(r.AuthRequest) + ")")
	}
	if m.viewing == d.id {
		m.viewing = ""
		if m.screen == screenRequest {
			m.screen = screenInbox
		}
	}
}

func lower(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}
