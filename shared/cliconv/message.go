package cliconv

import (
	"strconv"
	"strings"
)

// Message is err as one line of plain words: no line breaks and no
// package prefixes ("registry: client \"shop\": registry: already exists"
// becomes "client \"shop\": already exists").
func Message(err error) string {
	if err == nil {
		return ""
	}
	return Plain(err.Error())
}

// Plain is Message for a string.
func Plain(msg string) string {
	msg = strings.Join(strings.Fields(msg), " ")
	parts := strings.Split(msg, ": ")
	out := parts[:0]
	for i, p := range parts {
		if i < len(parts)-1 && isPackage(p) {
			continue
		}
		out = append(out, p)
	}
	return strings.Join(out, ": ")
}

// isPackage reports whether s is the name of a Go package whose errors
// start with "name: "; such prefixes name code, not what went wrong.
func isPackage(s string) bool {
	switch s {
	case "registry", "state", "ca", "pki", "dn", "oprun", "bus", "op", "store", "authreq",
		"ciba", "device", "devicedir", "devicekey", "channel", "progenv", "optest",
		"x509", "tls", "pkcs12", "json", "jwt", "nats":
		return true
	}
	return false
}

// WantsJSON reports whether --json was asked for in args, which may not
// parse, or else by env, the value of the program's environment variable
// for --json. Programs use it to answer a usage mistake with one JSON
// document too.
func WantsJSON(args []string, env string) bool {
	want := false
	if b, err := strconv.ParseBool(strings.TrimSpace(env)); err == nil {
		want = b
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "json" {
			continue
		}
		want = true
		if hasVal {
			if b, err := strconv.ParseBool(val); err == nil {
				want = b
			}
		}
	}
	return want
}
