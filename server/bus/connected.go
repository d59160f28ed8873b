package bus

import (
	"github.com/nats-io/nats-server/v2/server"
)

// ConnectedDevices counts the authentication devices that have at least
// one open connection to the embedded server: the distinct nkeys granted
// by SetDevices (enrolled devices, and devices admitted to enroll) among
// the open connections. The OP's own connections and connections without
// credentials are not devices.
func (e *Embedded) ConnectedDevices() int {
	cz, err := e.Server.Connz(&server.ConnzOptions{Username: true, State: server.ConnOpen, Limit: MaxConnections})
	if err != nil {
		return 0
	}
	e.auth.mu.Lock()
	defer e.auth.mu.Unlock()
	seen := map[string]bool{}
	for _, c := range cz.Conns {
		if _, granted := e.auth.perms[c.AuthorizedUser]; granted {
			seen[c.AuthorizedUser] = true
		}
	}
	return len(seen)
}
