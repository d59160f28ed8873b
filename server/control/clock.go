package control

import (
	"net/http"
	"sync/atomic"
	"time"
)

// Clock is a test clock for the OP: a base clock plus an offset that only
// grows. ciba-op serve --test-clock runs the OP on one, and the clock
// endpoints move it.
type Clock struct {
	base   func() time.Time
	offset atomic.Int64
}

// NewClock returns a clock that follows base (nil means time.Now) until
// advanced.
func NewClock(base func() time.Time) *Clock {
	if base == nil {
		base = time.Now
	}
	return &Clock{base: base}
}

// Now is the base clock plus the offset.
func (c *Clock) Now() time.Time { return c.base().Add(c.Offset()) }

// Offset is how far the clock was advanced.
func (c *Clock) Offset() time.Duration { return time.Duration(c.offset.Load()) }

// Advance moves the clock d forward; d must not be negative.
func (c *Clock) Advance(d time.Duration) {
	if d > 0 {
		c.offset.Add(int64(d))
	}
}

// maxAdvance bounds one advance: client certificates are valid for a
// year, and nothing a test does needs more.
const maxAdvance = 366 * 24 * time.Hour

func (s *Server) clockRoutes() []route {
	return []route{
		{"GET", "/clock", s.getClock},
		{"POST", "/clock/advance", s.advanceClock},
	}
}

// clockJSON is the OP's time.
type clockJSON struct {
	Now           time.Time `json:"now"`
	OffsetSeconds float64   `json:"offset_seconds"`
	TestClock     bool      `json:"test_clock"`
}

func (s *Server) clockState() clockJSON {
	out := clockJSON{Now: s.cfg.Now().UTC(), TestClock: s.cfg.Clock != nil}
	if s.cfg.Clock != nil {
		out.OffsetSeconds = s.cfg.Clock.Offset().Seconds()
	}
	return out
}

// getClock answers the OP's current time and how far it was advanced.
func (s *Server) getClock(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, s.clockState())
}

// advanceClock moves the OP's clock forward by {"seconds": N}: requests
// expire (expired_token, CIBA Core 1.0 §11) and polling intervals pass
// without waiting. It then has the OP push expired_token at once for push
// clients' requests that expired undecided (CIBA Core 1.0 §12). Without
// a test clock it answers 409.
func (s *Server) advanceClock(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Clock == nil {
		return conflict("test_clock_disabled", "the OP runs on the real clock, which cannot be moved; start ciba-op serve with --test-clock")
	}
	var in struct {
		Seconds *float64 `json:"seconds"`
	}
	if err := readJSON(r, &in, false); err != nil {
		return err
	}
	if in.Seconds == nil || *in.Seconds <= 0 {
		return badRequest(`"seconds" is required and must be positive: the clock only moves forward`)
	}
	d := time.Duration(*in.Seconds * float64(time.Second))
	if d > maxAdvance {
		return badRequest(`"seconds" must be at most %d (a year)`, int(maxAdvance.Seconds()))
	}
	s.cfg.Clock.Advance(d)
	if _, err := s.cfg.OP.Provider.NotifyExpired(r.Context()); err != nil {
		s.cfg.Logger.Warn("control.expiry_push_failed", "err", err, "detail", "after a clock advance")
	}
	return writeJSON(w, http.StatusOK, s.clockState())
}
