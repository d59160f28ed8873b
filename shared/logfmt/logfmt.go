package logfmt

import (
	"fmt"
	"io"
	"log/slog"
	"regexp"
)

// The formats of --log-format.
const (
	// Text is log/slog's key=value text (the default).
	Text = "text"
	// JSON is one JSON object per line (JSON Lines) with time, level, msg
	// and the attributes.
	JSON = "json"
)

// Usage describes the formats, for a flag's help.
const Usage = "text (key=value) or json (one JSON object a line); msg is a dotted event name"

// Check returns an error naming the formats when format is not one.
func Check(format string) error {
	if format != Text && format != JSON {
		return fmt.Errorf("%q is not a log format: want %s or %s", format, Text, JSON)
	}
	return nil
}

// NewHandler returns the handler of format writing to w from level on. An
// unknown format is an error (Check).
func NewHandler(w io.Writer, format string, level slog.Leveler) (slog.Handler, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case Text:
		return slog.NewTextHandler(w, opts), nil
	case JSON:
		return slog.NewJSONHandler(w, opts), nil
	}
	return nil, Check(format)
}

// eventName is the shape of an event name: two or more lower-case words
// of letters, digits and underscores, joined by dots.
var eventName = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$`)

// ValidEvent reports whether name has the shape of an event name
// (authreq.approved, registry.ca_created).
func ValidEvent(name string) bool { return eventName.MatchString(name) }
