package ciba_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cibalab/cibalab/client/ciba"
	"github.com/cibalab/cibalab/client/internal/fakeop"
	"github.com/cibalab/cibalab/shared/oauth"
)

func TestDiscoverPrefersMTLSAliases(t *testing.T) {
	op, c, _ := setup(t, fakeop.Config{})
	c.BackchannelAuthURL, c.TokenURL, c.Issuer = "", "", op.Issuer
	md, err := c.Discover(context.Background())
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	if md.Issuer != op.Issuer {
		t.Errorf("issuer %q", md.Issuer)
	}
	if c.BackchannelAuthURL != op.BackchannelURL || c.TokenURL != op.TokenURL {
		t.Errorf("endpoints %q %q, want the mTLS aliases %q %q", c.BackchannelAuthURL, c.TokenURL, op.BackchannelURL, op.TokenURL)
	}
	// The discovered endpoints work end to end.
	if _, err := c.Wait(context.Background(), start(t, c), nil); err != nil {
		t.Fatalf("Wait after Discover: %v", err)
	}
}

func TestDiscoverKeepsExplicitEndpoints(t *testing.T) {
	op, c, _ := setup(t, fakeop.Config{})
	c.Issuer, c.TokenURL = op.Issuer, "https://127.0.0.1:1/explicit"
	c.BackchannelAuthURL = ""
	if _, err := c.Discover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c.TokenURL != "https://127.0.0.1:1/explicit" || c.BackchannelAuthURL != op.BackchannelURL {
		t.Errorf("endpoints %q %q", c.BackchannelAuthURL, c.TokenURL)
	}
}

func TestDiscoverUsesTopLevelEndpointsWithoutAliases(t *testing.T) {
	op, c, _ := setup(t, fakeop.Config{Metadata: func(md *oauth.ProviderMetadata) { md.MTLSEndpointAliases = nil }})
	c.BackchannelAuthURL, c.TokenURL, c.Issuer = "", "", op.Issuer
	if _, err := c.Discover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c.TokenURL != op.Issuer+"/token" || c.BackchannelAuthURL != op.Issuer+"/bc-authorize" {
		t.Errorf("endpoints %q %q", c.BackchannelAuthURL, c.TokenURL)
	}
}

func TestDiscoverRejects(t *testing.T) {
	tests := []struct {
		name    string
		issuer  func(op *fakeop.OP) string
		edit    func(md *oauth.ProviderMetadata)
		problem string
	}{
		{"issuer mismatch", nil, func(md *oauth.ProviderMetadata) { md.Issuer += "/" }, "does not match"},
		{"trailing slash expected", func(op *fakeop.OP) string { return op.Issuer + "/" }, nil, "does not match"},
		{"no poll mode", nil, func(md *oauth.ProviderMetadata) {
			md.BackchannelTokenDeliveryModesSupported = []oauth.DeliveryMode{oauth.ModePush}
		}, "poll"},
		{"no token endpoint", nil, func(md *oauth.ProviderMetadata) {
			md.TokenEndpoint = ""
			delete(md.MTLSEndpointAliases, "token_endpoint")
		}, "token_endpoint"},
		{"plain http alias", nil, func(md *oauth.ProviderMetadata) {
			md.MTLSEndpointAliases["backchannel_authentication_endpoint"] = "http://127.0.0.1/bc"
		}, "https"},
		{"unknown realm", func(op *fakeop.OP) string { return op.URL + "/other" }, nil, "HTTP status 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, c, _ := setup(t, fakeop.Config{Metadata: tt.edit})
			c.Issuer = op.Issuer
			if tt.issuer != nil {
				c.Issuer = tt.issuer(op)
			}
			_, err := c.Discover(context.Background())
			var re *ciba.ResponseError
			if !errors.As(err, &re) || !strings.Contains(re.Problem, tt.problem) {
				t.Fatalf("err = %v, want a ResponseError about %q", err, tt.problem)
			}
		})
	}
}

func TestDiscoverNeedsHTTPSIssuer(t *testing.T) {
	for _, iss := range []string{"", "http://localhost:5001/master", "https://", "https://h/x?q=1"} {
		c := &ciba.Config{Issuer: iss}
		if _, err := c.Discover(context.Background()); err == nil || !strings.HasPrefix(err.Error(), "ciba: ") {
			t.Errorf("Discover(%q) = %v, want a ciba: error", iss, err)
		}
	}
}
