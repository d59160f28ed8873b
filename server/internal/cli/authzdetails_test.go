package cli

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/cibalab/cibalab/server/registry"
)

// TestClientAddAuthorizationDetailsTypes: --authorization-details-types
// registers the types a client may request (RFC 9396 §10); a malformed
// type is a usage error and registers nothing.
func TestClientAddAuthorizationDetailsTypes(t *testing.T) {
	_, env := newStateDir(t)
	mustRun(t, env, "client", "add", "--id", "agent", "--authorization-details-types", "payment_initiation, account_information,")
	r := runMain(t, env, "", "client", "add", "--id", "bad", "--authorization-details-types", "payment initiation")
	if r.code != 2 || !strings.Contains(r.stderr, "authorization_details type") {
		t.Fatalf("bad type: exit %d stderr %q", r.code, r.stderr)
	}
	r = runMain(t, env, "", "client", "add", "--id", "twice", "--authorization-details-types", "a,a")
	if r.code != 2 || !strings.Contains(r.stderr, "twice") {
		t.Fatalf("type twice: exit %d stderr %q", r.code, r.stderr)
	}
	var clients []registry.Client
	if err := json.Unmarshal([]byte(mustRun(t, env, "client", "list", "--json").stdout), &clients); err != nil {
		t.Fatal(err)
	}
	if len(clients) != 1 || !slices.Equal(clients[0].AuthorizationDetailsTypes, []string{"payment_initiation", "account_information"}) {
		t.Fatalf("clients: %+v", clients)
	}
}
