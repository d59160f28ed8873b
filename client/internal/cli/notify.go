package cli

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cibalab/cibalab/client/ciba"
	"github.com/cibalab/cibalab/client/internal/notifycert"
	"github.com/cibalab/cibalab/shared/pki"
)

// notificationServer starts the HTTPS notification endpoint of CIBA Core
// 1.0 §10.2 and §10.3 for ping and push mode.
func (r *run) notificationServer(logger *slog.Logger, tr *tracer) (*ciba.NotificationServer, error) {
	o := r.o
	listen, err := notifyListenAddr(o.notifyListen, o.notifyURL)
	if err != nil {
		return nil, err
	}
	cert, err := r.notifyCertificate(listen)
	if err != nil {
		return nil, err
	}
	cfg := ciba.NotificationServerConfig{Addr: listen, URL: o.notifyURL, Certificate: cert, Logger: logger}
	if tr != nil {
		cfg.Trace = tr.notification
	}
	ns, err := ciba.NewNotificationServer(cfg)
	if err != nil {
		return nil, usagef("%v", err)
	}
	if u, err := url.Parse(ns.URL()); err == nil {
		if err := ns.Certificate().VerifyHostname(u.Hostname()); err != nil {
			r.con.step("⚠ the notification endpoint certificate is not valid for %s: the OP will refuse it", sanitize(u.Hostname()))
		}
	}
	if o.notifyURL == "" {
		r.con.step("⚠ no --notify-url: the OP only calls the URL registered as the client's backchannel_client_notification_endpoint")
	}
	return ns, nil
}

// notifyCertificate is the TLS certificate of the notification endpoint:
// --notify-cert and --notify-key; else the pair ciba-op cert issue writes
// next to the client certificate; else one issued at start by
// --notify-ca-cert and --notify-ca-key for the host of --notify-url, or
// without it of the listen address.
func (r *run) notifyCertificate(listen string) (tls.Certificate, error) {
	o := r.o
	certFile, keyFile := o.notifyCert, o.notifyKey
	if certFile == "" && o.notifyCACert == "" {
		certFile, keyFile = defaultNotifyCert(o)
	}
	switch {
	case certFile != "":
		for _, f := range []struct{ flag, path string }{{"--notify-cert", certFile}, {"--notify-key", keyFile}} {
			if err := readable(f.flag, f.path); err != nil {
				return tls.Certificate{}, err
			}
		}
		cert, err := pki.LoadPEMKeyPair(certFile, keyFile)
		if err != nil {
			return tls.Certificate{}, usagef("--notify-cert/--notify-key: %v", err)
		}
		r.con.step("• notification endpoint certificate %s (%s)", certFile, sanitize(describeServerCert(cert)))
		return cert, nil
	case o.notifyCACert != "":
		certs, err := parsePEMFile("--notify-ca-cert", o.notifyCACert, pki.ParseCertificatesPEM)
		if err != nil {
			return tls.Certificate{}, err
		}
		key, err := parsePEMFile("--notify-ca-key", o.notifyCAKey, pki.ParsePrivateKeyPEM)
		if err != nil {
			return tls.Certificate{}, err
		}
		// The certificate's validity follows the wall clock the OP checks
		// it against, so it is issued at time.Now, not by Env.Now.
		cert, err := notifycert.Issue(certs[0], key, notifyHost(listen, o.notifyURL), time.Now())
		if err != nil {
			return tls.Certificate{}, usagef("--notify-ca-cert: %v", err)
		}
		return cert, nil
	default:
		return tls.Certificate{}, usagef("%s mode needs a TLS certificate for the notification endpoint that the OP trusts: "+
			"'ciba-op cert issue --client ID --out FILE.p12' writes FILE-notify.pem and FILE-notify-key.pem for a ping or push client, "+
			"found next to --cert FILE.p12; or give --notify-cert and --notify-key", o.mode)
	}
}

// parsePEMFile reads the file of flagName and parses it with parse; a
// missing or unreadable file or a parse failure is a usage error naming
// the flag.
func parsePEMFile[T any](flagName, path string, parse func([]byte) (T, error)) (T, error) {
	var v T
	if err := readable(flagName, path); err != nil {
		return v, err
	}
	data, err := os.ReadFile(path)
	if err == nil {
		v, err = parse(data)
	}
	if err != nil {
		return v, usagef("%s: %v", flagName, err)
	}
	return v, nil
}

// notifyHost is the host the notification endpoint is reached at: that of
// --notify-url, else that of the listen address.
func notifyHost(listen, notifyURL string) string {
	if u, err := url.Parse(notifyURL); err == nil && notifyURL != "" {
		return u.Hostname()
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	return host
}

// notifyListenAddr is --notify-listen, or by default the host and port of
// --notify-url (443 without a port), or 127.0.0.1:0 without either.
func notifyListenAddr(listen, notifyURL string) (string, error) {
	if listen != "" {
		return listen, nil
	}
	if notifyURL == "" {
		return "127.0.0.1:0", nil
	}
	u, err := url.Parse(notifyURL)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" {
		return "", usagef("--notify-url %q: want the https URL registered as backchannel_client_notification_endpoint (CIBA Core 1.0 §4)", notifyURL)
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}

// defaultNotifyCert returns <cert>-notify.pem and <cert>-notify-key.pem
// next to the client certificate (--cert, --cert-pem or the default
// PKCS#12), where ciba-op cert issue writes them for ping and push
// clients, when both exist; "" otherwise.
func defaultNotifyCert(o *options) (string, string) {
	base := o.cert
	if base == "" {
		base = o.certPEM
	}
	if base == "" {
		def, ok := defaultP12(o)
		if !ok {
			return "", ""
		}
		base = def
	}
	base = strings.TrimSuffix(base, filepath.Ext(base)) + "-notify"
	certFile, keyFile := base+".pem", base+"-key.pem"
	for _, f := range []string{certFile, keyFile} {
		if _, err := os.Stat(f); err != nil {
			return "", ""
		}
	}
	return certFile, keyFile
}

// describeServerCert names the hosts and issuer of a TLS server
// certificate.
func describeServerCert(c tls.Certificate) string {
	leaf := c.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return "unreadable"
		}
	}
	hosts := append([]string(nil), leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		hosts = append(hosts, ip.String())
	}
	return fmt.Sprintf("for %s, issued by %s, valid until %s", strings.Join(hosts, " "), leaf.Issuer, leaf.NotAfter.UTC().Format(time.RFC3339))
}
