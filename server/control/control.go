package control

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cibalab/cibalab/server/faults"
	"github.com/cibalab/cibalab/server/oprun"
)

// Config configures a Server. Zero values are the documented defaults.
type Config struct {
	// Token is the bearer token every request must carry. Required.
	Token string
	// OP is the running OP the API controls. Required; it must run its
	// embedded NATS server (the API enrolls its devices there).
	OP *oprun.Server
	// Clock is the OP's clock when it was started with a test clock; nil
	// means the real clock, which the API cannot move.
	Clock *Clock
	// Notifications and Throttle are the OP's fault injectors (its
	// notification transport and op.Config.Throttle); nil refuses the
	// faults they carry.
	Notifications *faults.Notifications
	Throttle      *faults.Throttle
	// Events is the OP's event log (op.Config.Transitions); nil means
	// none, and the events endpoint answers 409.
	Events *EventLog
	// Now is the OP's clock; nil means Clock.Now, or time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Server serves the control API. Create it with New, serve Handler, and
// Close it before the OP.
type Server struct {
	cfg       Config
	tokenHash [sha256.Size]byte
	mux       *http.ServeMux
	ctx       context.Context // ends at Close; bounds policy decisions
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	mu       sync.Mutex
	devices  map[string]*userDevice // by user
	policies map[string]Policy      // by user
	closed   bool
}

// maxBody bounds request bodies.
const maxBody = 1 << 20

// New returns the control API of cfg.OP.
func New(cfg Config) (*Server, error) {
	if cfg.Token == "" {
		return nil, errors.New("control: a token is required")
	}
	if cfg.OP == nil || cfg.OP.Dir == nil || cfg.OP.Store == nil || cfg.OP.Responder == nil {
		return nil, errors.New("control: a running OP is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
		if cfg.Clock != nil {
			cfg.Now = cfg.Clock.Now
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg: cfg, tokenHash: sha256.Sum256([]byte(cfg.Token)), mux: http.NewServeMux(),
		devices: map[string]*userDevice{}, policies: map[string]Policy{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.routes()
	return s, nil
}

// route is one endpoint: its method and path pattern (net/http.ServeMux
// syntax) and its handler.
type route struct {
	method, path string
	h            func(w http.ResponseWriter, r *http.Request) error
}

// routes registers every endpoint; Routes lists them.
func (s *Server) routes() {
	for _, rt := range s.table() {
		h := rt.h
		s.mux.HandleFunc(rt.method+" "+rt.path, func(w http.ResponseWriter, r *http.Request) {
			if err := h(w, r); err != nil {
				s.writeError(w, r, err)
			}
		})
	}
}

// table is the list of endpoints, one family per file.
func (s *Server) table() []route {
	var t []route
	t = append(t, s.clientRoutes()...)
	t = append(t, s.certificateRoutes()...)
	t = append(t, s.userRoutes()...)
	t = append(t, s.policyRoutes()...)
	t = append(t, s.requestRoutes()...)
	t = append(t, s.clockRoutes()...)
	t = append(t, s.faultRoutes()...)
	return t
}

// Routes returns "METHOD /path" for every endpoint served, with path
// parameters as {name}.
func (s *Server) Routes() []string {
	var out []string
	for _, rt := range s.table() {
		out = append(out, rt.method+" "+rt.path)
	}
	return out
}

// Handler returns the API's HTTP handler: it authenticates every request
// by its bearer token, then routes it; an unknown path is a JSON 404, a
// known path with another method a JSON 405.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ciba-op control"`)
			s.writeError(w, r, &Error{Status: http.StatusUnauthorized, Code: "unauthorized",
				Description: "missing or wrong bearer token: send Authorization: Bearer <the token in STATE-DIR/control-token>"})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		h, pattern := s.mux.Handler(r)
		if pattern == "" {
			// The mux's own 404 or 405 (with its Allow header), as JSON.
			rec := &statusRecorder{header: http.Header{}}
			h.ServeHTTP(rec, r)
			if allow := rec.header.Get("Allow"); allow != "" {
				w.Header().Set("Allow", allow)
			}
			if rec.status == http.StatusMethodNotAllowed {
				s.writeError(w, r, &Error{Status: rec.status, Code: "method_not_allowed",
					Description: fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, rec.header.Get("Allow"))})
				return
			}
			s.writeError(w, r, notFound("no endpoint %s %s; see docs/control-api.md", r.Method, r.URL.Path))
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// authorized compares the bearer token with the configured one in
// constant time (of their SHA-256, so that the length does not leak
// either).
func (s *Server) authorized(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], s.tokenHash[:]) == 1
}

// Close stops the policies' decisions, disconnects the API's devices and
// revokes them in the state directory, so that their keys, which lived
// only in memory, can decide no more.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	devs := make([]*userDevice, 0, len(s.devices))
	for _, d := range s.devices {
		devs = append(devs, d)
	}
	s.devices = map[string]*userDevice{}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	var errs []error
	for _, d := range devs {
		d.dev.Drop()
		if id := d.dev.ID(); id != "" {
			if _, err := s.cfg.OP.Dir.RevokeDevice(id); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(devs) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.cfg.OP.Responder.SyncDevices(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Error is an API error: its HTTP status, a stable code and a description
// for people. Handlers return it; writeError writes it as
// {"error": code, "error_description": description}.
type Error struct {
	Status      int
	Code        string
	Description string
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

func badRequest(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *Error {
	return &Error{Status: http.StatusNotFound, Code: "not_found", Description: fmt.Sprintf(format, args...)}
}

func conflict(code, format string, args ...any) *Error {
	return &Error{Status: http.StatusConflict, Code: code, Description: fmt.Sprintf(format, args...)}
}

// writeError writes err as JSON; an error that is not an *Error is an
// internal error, logged and described to the caller in one line.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		s.cfg.Logger.Error("control.request_failed", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &Error{Status: http.StatusInternalServerError, Code: "internal_error", Description: err.Error()}
	} else if e.Status >= 500 {
		s.cfg.Logger.Error("control.request_failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else {
		s.cfg.Logger.Debug("control.request_refused", "method", r.Method, "path", r.URL.Path, "code", e.Code)
	}
	writeJSON(w, e.Status, map[string]string{"error": e.Code, "error_description": e.Description})
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// readJSON decodes the request body into v, refusing unknown fields and
// trailing data. An empty body leaves v as it is when emptyOK.
func readJSON(r *http.Request, v any, emptyOK bool) error {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &Error{Status: http.StatusRequestEntityTooLarge, Code: "invalid_request", Description: fmt.Sprintf("the body is larger than %d bytes", maxBody)}
		}
		return badRequest("reading the body: %v", err)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		if emptyOK {
			return nil
		}
		return badRequest("a JSON body is required")
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("the body is not the expected JSON: %v", err)
	}
	if dec.More() {
		return badRequest("the body holds more than one JSON value")
	}
	return nil
}

// statusRecorder captures the status and headers of the mux's own 404 and
// 405 handlers.
type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header { return r.header }
func (r *statusRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return len(p), nil
}
func (r *statusRecorder) WriteHeader(status int) { r.status = status }
