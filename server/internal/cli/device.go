package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cibalab/cibalab/server/registry"
)

// deviceInfo is one device in the output of "device list --json": public
// key identifiers only.
type deviceInfo struct {
	ID        string     `json:"id"`
	User      string     `json:"user"`
	Name      string     `json:"name,omitempty"`
	KeyID     string     `json:"key_id,omitempty"`
	NKey      string     `json:"nkey"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	Status    string     `json:"status"`
}

func newDeviceInfo(d registry.Device) deviceInfo {
	status := "active"
	if d.Revoked() {
		status = "revoked"
	}
	return deviceInfo{ID: d.ID, User: d.User, Name: d.Name, KeyID: d.Key.Kid, NKey: d.NKey,
		CreatedAt: d.CreatedAt, RevokedAt: d.RevokedAt, Status: status}
}

// runDeviceList implements "ciba-op device list".
func runDeviceList(ctx context.Context, e Env, args []string) int {
	cmd := newCommand("device list", "device list [--user USER] [--json] [flags]",
		"Lists the enrolled authentication devices (ciba-authenticator enroll), revoked ones\n"+
			"included. Only public keys are kept: the device's ES256 decision key and its NATS nkey.")
	var user string
	cmd.stringVar(&user, "user", "", "", "only the devices of user `ID`")
	load := func(d *registry.Dir) ([]deviceInfo, error) {
		devs, err := d.Devices()
		if err != nil {
			return nil, err
		}
		infos := []deviceInfo{}
		for _, dev := range devs {
			if user == "" || dev.User == user {
				infos = append(infos, newDeviceInfo(dev))
			}
		}
		return infos, nil
	}
	return runList(e, args, cmd, load, "ID\tUSER\tNAME\tSTATUS\tENROLLED", func(dev deviceInfo) []string {
		return []string{dev.ID, dev.User, printable(dev.Name), dev.Status, dev.CreatedAt.Format(time.RFC3339)}
	})
}

// runDeviceRevoke implements "ciba-op device revoke".
func runDeviceRevoke(ctx context.Context, e Env, args []string) int {
	cmd := newCommand("device revoke", "device revoke ID [flags]",
		"Revokes an enrolled device. A running ciba-op disconnects it within a second and refuses\n"+
			"its connections and decisions from then on; its keys cannot enroll again (the device\n"+
			"must enroll with new keys). No restart is needed.")
	var dir, id string
	cmd.stateDirVar(&dir)
	cmd.registryVars()
	cmd.stringVar(&id, "id", "", "", "device `ID` (or give it as the first argument)")
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if code, ok := cmd.parse(e, args); !ok {
		return code
	}
	if id == "" {
		return cmd.usageError(e, "the device ID is required (see ciba-op device list)")
	}
	d, code, ok := openState(e, cmd, dir)
	if !ok {
		return code
	}
	defer d.Close()
	dev, err := d.RevokeDevice(id)
	if err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return cmd.fail(e, exitError, fmt.Errorf("no device %q (see ciba-op device list)", id))
		}
		return cmd.fail(e, exitError, err)
	}
	fmt.Fprintf(e.Stdout, "revoked device %s of user %s\n", dev.ID, dev.User)
	return exitOK
}

// printable keeps a stored display name from moving the cursor of the
// terminal it is listed on.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
