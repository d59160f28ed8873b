package ciba

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// Defaults of the notification server.
const (
	// DefaultNotificationPath is the path of the client notification
	// endpoint when NotificationServerConfig.Path is empty.
	DefaultNotificationPath = "/ciba/notify"
	// DefaultNotificationMaxBody bounds a notification body when
	// NotificationServerConfig.MaxBodyBytes is zero.
	DefaultNotificationMaxBody = 64 << 10
)

// NotificationServerConfig configures a [NotificationServer].
type NotificationServerConfig struct {
	// Addr is the listen address; "" means 127.0.0.1:0 (a free port).
	Addr string
	// URL is the https URL the provider calls, registered as the client's
	// backchannel_client_notification_endpoint (CIBA Core 1.0 §4); ""
	// means https://<listen address><Path>. Its path is where the server
	// answers.
	URL string
	// Path is used when URL is empty; "" means DefaultNotificationPath.
	Path string
	// Certificate is the server's TLS certificate and key, required: a
	// certificate for the URL's host that the provider trusts. The
	// package issues none; a program that holds a CA issues it first.
	Certificate tls.Certificate
	// MaxBodyBytes bounds a notification body; 0 means
	// DefaultNotificationMaxBody. A larger body is answered with 413.
	MaxBodyBytes int64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives one event per notification; nil discards them.
	// Tokens are never logged.
	Logger *slog.Logger
	// Trace, when set, is called with every notification received, after
	// the answer is decided, for a caller that shows HTTP exchanges.
	Trace func(r *http.Request, body []byte, status int)
}

// withDefaults returns cfg with its zero values replaced by the
// documented defaults, and the parsed URL (nil when URL is empty, for the
// listen address to fill in), or an error when the certificate is missing
// or URL is not the https URL CIBA Core 1.0 §4 requires.
func (cfg NotificationServerConfig) withDefaults() (NotificationServerConfig, *url.URL, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultNotificationMaxBody
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Path == "" {
		cfg.Path = DefaultNotificationPath
	}
	if len(cfg.Certificate.Certificate) == 0 {
		return cfg, nil, errors.New("ciba: the notification server needs a TLS certificate (Certificate)")
	}
	var u *url.URL
	if cfg.URL != "" {
		var err error
		u, err = url.Parse(cfg.URL)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return cfg, nil, errors.New("ciba: the notification URL must be an https URL without query or fragment (CIBA Core 1.0 §4)")
		}
	}
	return cfg, u, nil
}
