package logfmt

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// TestJSONLine: a json handler writes one JSON object a line whose msg is
// the event name and whose attributes are fields.
func TestJSONLine(t *testing.T) {
	var b bytes.Buffer
	h, err := NewHandler(&b, JSON, slog.LevelInfo)
	if err != nil {
		t.Fatal(err)
	}
	slog.New(h).Info("authreq.approved", "req", "1a2b3c4d", "client_id", "c1")
	var line map[string]any
	if err := json.Unmarshal(b.Bytes(), &line); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b.String())
	}
	if line["msg"] != "authreq.approved" || line["req"] != "1a2b3c4d" || line["level"] != "INFO" {
		t.Fatalf("line %v", line)
	}
}

func TestTextAndLevel(t *testing.T) {
	var b bytes.Buffer
	h, err := NewHandler(&b, Text, slog.LevelInfo)
	if err != nil {
		t.Fatal(err)
	}
	l := slog.New(h)
	l.Debug("authreq.polled")
	l.Info("token.refreshed", "client_id", "c1")
	if got := b.String(); strings.Contains(got, "authreq.polled") || !strings.Contains(got, "level=INFO msg=token.refreshed client_id=c1") {
		t.Fatalf("text log %q", got)
	}
}

func TestUnknownFormat(t *testing.T) {
	for _, f := range []string{"", "JSON", "logfmt"} {
		if _, err := NewHandler(&bytes.Buffer{}, f, slog.LevelInfo); err == nil || Check(f) == nil {
			t.Errorf("format %q accepted", f)
		}
	}
}

func TestValidEvent(t *testing.T) {
	for name, want := range map[string]bool{
		"authreq.approved": true, "registry.ca_created": true, "ciba.poll": true, "notify.expiry_scan_failed": true,
		"ready": false, "request refused": false, "Token.Issued": false, "token.": false, ".x": false, "a..b": false,
	} {
		if ValidEvent(name) != want {
			t.Errorf("ValidEvent(%q) = %v", name, !want)
		}
	}
}
