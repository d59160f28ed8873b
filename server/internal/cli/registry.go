package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/cibalab/cibalab/server/bus"
	"github.com/cibalab/cibalab/server/oprun"
	"github.com/cibalab/cibalab/server/registry"
)

// registryFlags are the flags of an admin command that point it at a
// registry in NATS JetStream (command.stateDirVar).
type registryFlags struct {
	natsURL string
	keyFile string
}

// registryTimeout bounds an admin command's connection to NATS and the
// opening of the JetStream registry.
const registryTimeout = 10 * time.Second

// openJetStreamRegistry opens the JetStream registry at --nats-url for an
// admin command. It opens an existing registry only: ciba-op serve
// --registry jetstream creates it with its replica count.
func openJetStreamRegistry(e Env, cmd *command, dir string, cfg registry.Config) (*registry.Dir, int, bool) {
	var key []byte
	if cmd.reg.keyFile != "" {
		k, err := registry.ReadKeyFile(cmd.reg.keyFile)
		if err != nil {
			return nil, cmd.usageError(e, "--registry-key-file: "+err.Error()), false
		}
		key = k
	}
	url := cmd.reg.natsURL
	// The URLs may hold the NATS password: messages name them without.
	public := oprun.WithoutCredentials(url)
	nc, err := nats.Connect(url, nats.Name("ciba-op "+cmd.name), nats.Timeout(registryTimeout))
	if err != nil {
		return nil, cmd.fail(e, exitError, fmt.Errorf("cannot reach the NATS server at %s (%v): start it or correct --nats-url", public, err)), false
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, cmd.fail(e, exitError, err), false
	}
	ctx, cancel := context.WithTimeout(context.Background(), registryTimeout)
	defer cancel()
	d, err := registry.OpenJetStream(ctx, dir, registry.JetStreamConfig{JS: js, Key: key, NoCreate: true, OnClose: nc.Close}, cfg)
	if err != nil {
		nc.Close()
		if errors.Is(err, registry.ErrNoJetStream) {
			err = fmt.Errorf("the NATS server at %s has no JetStream, where the registry lives: start nats-server with -js (or a jetstream {} block)", public)
		}
		return nil, cmd.fail(e, exitError, err), false
	}
	return d, exitOK, true
}

// readCalloutSeed reads the auth callout issuer's account seed from path,
// a file not readable by group or others.
func readCalloutSeed(path string) (nkeys.KeyPair, error) {
	return bus.ReadSeedFile(path, "auth callout seed", "an account seed (SA...), the key named as issuer in auth_callout", nkeys.IsValidPublicAccountKey)
}
