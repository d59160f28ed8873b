package registry

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cibalab/cibalab/server/internal/kvget"
)

// DefaultBucket is the JetStream key-value bucket of a registry opened
// with [OpenJetStream] when JetStreamConfig.Bucket is empty.
const DefaultBucket = "ciba-registry"

// KeyFileSize is the size of the operator's registry key: an AES-256 key.
const KeyFileSize = 32

// Errors of the JetStream registry callers branch on.
var (
	// ErrNoJetStream reports a NATS server (or account) without
	// JetStream, where the registry cannot live.
	ErrNoJetStream = errors.New("registry: the NATS server has no JetStream")
	// ErrNoKey reports a private key in JetStream read or written without
	// the operator's registry key (JetStreamConfig.Key).
	ErrNoKey = errors.New("registry: private keys in JetStream need the registry key (--registry-key-file)")
)

// errUndecryptable reports a private key that the registry key does not
// decrypt.
var errUndecryptable = errors.New("does not decrypt with the registry key (another --registry-key-file?)")

// errConflict reports a document changed by another writer between a
// writer's read and its write; withLock runs the writer again.
var errConflict = errors.New("registry: changed concurrently")

// maxAttempts bounds how often withLock retries a writer that lost a
// compare-and-swap race.
const maxAttempts = 16

// opTimeout bounds each JetStream request of the registry.
const opTimeout = 10 * time.Second

// JetStreamConfig says where a registry kept in NATS JetStream lives.
type JetStreamConfig struct {
	// JS is the JetStream context of the NATS connection. Required.
	JS jetstream.JetStream
	// Bucket is the key-value bucket; "" means DefaultBucket.
	Bucket string
	// Replicas is the bucket's replica count when it is created: 1 on a
	// single NATS server, 3 on a 3-node cluster; 0 means 1.
	Replicas int
	// Key is the operator's AES-256 key (KeyFileSize bytes) that encrypts
	// the private keys of the CAs and the signing keys (AES-256-GCM, the
	// document name as additional data). Without it, everything but the
	// private keys can be read and changed (clients, users, devices, CA
	// certificates).
	Key []byte
	// NoCreate opens an existing bucket only: admin commands leave its
	// creation, with its replica count, to ciba-op serve. A missing bucket
	// then gives an error wrapping ErrNotFound.
	NoCreate bool
	// OnClose, when set, runs after the registry's watcher stopped in
	// Dir.Close: the owner of the NATS connection closes it there.
	OnClose func()
}

// jsDocs keeps the registry's documents in a JetStream key-value bucket,
// one key per document, named like the file it replaces (clients.json,
// users.json, devices.json, cas/<name>/ca.pem, cas/<name>/ca-key.pem,
// keys/rs256.pem, keys/es256.pem). A watcher keeps a copy of every key in
// memory, so a change made by any OP or admin command is seen by every
// registry at once, and reads cost no request. Writers write with
// compare-and-swap on the revision they read.
type jsDocs struct {
	kv      jetstream.KeyValue
	bucket  string
	aead    cipher.AEAD // nil without the operator's key
	stop    context.CancelFunc
	done    chan struct{}
	onClose func()

	mu   sync.Mutex
	docs map[string]jsEntry

	// tx holds the revisions the running writer read (0: absent). It is
	// used only under Dir.wmu.
	tx map[string]uint64
}

type jsEntry struct {
	data []byte // as stored: encrypted for secret documents
	rev  uint64
	gone bool
}

// OpenJetStream opens a registry kept in the JetStream key-value bucket
// jc.Bucket, created with jc.Replicas replicas when missing. Only the
// per-machine files stay in the directory at path: the OP's TLS server
// certificate, ca.pem and the default client's credentials written by
// Init. A NATS server without JetStream gives an error wrapping
// ErrNoJetStream. Close stops the watcher.
func OpenJetStream(ctx context.Context, path string, jc JetStreamConfig, cfg Config) (*Dir, error) {
	if jc.JS == nil {
		return nil, errors.New("registry: JetStreamConfig.JS is required")
	}
	if jc.Replicas < 0 || jc.Replicas > 5 {
		return nil, fmt.Errorf("registry: %d replicas: want 1 to 5", jc.Replicas)
	}
	if jc.Replicas == 0 {
		jc.Replicas = 1
	}
	if jc.Bucket == "" {
		jc.Bucket = DefaultBucket
	}
	var aead cipher.AEAD
	if jc.Key != nil {
		if len(jc.Key) != KeyFileSize {
			return nil, fmt.Errorf("registry: the registry key has %d bytes: want %d", len(jc.Key), KeyFileSize)
		}
		block, err := aes.NewCipher(jc.Key)
		if err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
		if aead, err = cipher.NewGCM(block); err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
	}
	d, err := Open(path, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := jc.JS.AccountInfo(ctx); err != nil {
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			return nil, ErrNoJetStream
		}
		return nil, fmt.Errorf("registry: JetStream: %w", err)
	}
	var kv jetstream.KeyValue
	if jc.NoCreate {
		kv, err = jc.JS.KeyValue(ctx, jc.Bucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return nil, fmt.Errorf("registry: no registry in JetStream (bucket %s; ciba-op serve --registry jetstream creates it): %w", jc.Bucket, ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("registry: bucket %s: %w", jc.Bucket, err)
		}
	} else {
		kv, err = openBucket(ctx, jc)
		if err != nil {
			return nil, err
		}
	}
	wctx, stop := context.WithCancel(context.Background())
	w, err := kv.WatchAll(wctx)
	if err != nil {
		stop()
		return nil, fmt.Errorf("registry: watch %s: %w", jc.Bucket, err)
	}
	j := &jsDocs{kv: kv, bucket: jc.Bucket, aead: aead, stop: stop, done: make(chan struct{}), onClose: jc.OnClose, docs: map[string]jsEntry{}}
	// The initial values end with a nil entry.
initial:
	for {
		select {
		case e := <-w.Updates():
			if e == nil {
				break initial
			}
			j.apply(e)
		case <-ctx.Done():
			stop()
			w.Stop()
			return nil, fmt.Errorf("registry: watch %s: %w", jc.Bucket, ctx.Err())
		}
	}
	go j.watch(w)
	d.js = j
	return d, nil
}

// openBucket creates the bucket with jc.Replicas replicas, or opens it as
// it is: an existing bucket keeps its replica count.
func openBucket(ctx context.Context, jc JetStreamConfig) (jetstream.KeyValue, error) {
	kv, err := jc.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      jc.Bucket,
		Description: "ciba-op registry: clients, users, devices, CAs, signing keys",
		History:     1,
		Replicas:    jc.Replicas,
		Storage:     jetstream.FileStorage,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = jc.JS.KeyValue(ctx, jc.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("registry: bucket %s (%d replicas): %w", jc.Bucket, jc.Replicas, err)
	}
	return kv, nil
}

// watch applies every change of the bucket until Close.
func (j *jsDocs) watch(w jetstream.KeyWatcher) {
	defer close(j.done)
	defer w.Stop()
	for e := range w.Updates() {
		if e != nil {
			j.apply(e)
		}
	}
}

// apply records e unless a newer revision is known already (a write of
// this process is recorded before the watcher sees it).
func (j *jsDocs) apply(e jetstream.KeyValueEntry) {
	gone := e.Operation() != jetstream.KeyValuePut
	j.record(e.Key(), e.Value(), e.Revision(), gone)
}

func (j *jsDocs) record(name string, data []byte, rev uint64, gone bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if cur, ok := j.docs[name]; ok && cur.rev >= rev {
		return
	}
	j.docs[name] = jsEntry{data: data, rev: rev, gone: gone}
}

func (j *jsDocs) close() {
	j.stop()
	<-j.done
	if j.onClose != nil {
		j.onClose()
	}
}

// Close stops a JetStream registry's watcher and runs
// JetStreamConfig.OnClose; for a file registry it does nothing.
func (d *Dir) Close() error {
	if d.js != nil {
		d.closeOnce.Do(d.js.close)
	}
	return nil
}

// Backend names where the registry lives: "dir" or "jetstream".
func (d *Dir) Backend() string {
	if d.js != nil {
		return "jetstream"
	}
	return "dir"
}

// where names the place of document name for messages: a file path, or
// the bucket and key.
func (d *Dir) where(name string) string {
	if d.js != nil {
		return "JetStream " + d.js.bucket + "/" + name
	}
	return d.file(name)
}

// isSecret reports whether document name holds a private key.
func isSecret(name string) bool {
	return strings.HasSuffix(name, "-key.pem") || (strings.HasPrefix(name, keysDir+"/") && !strings.HasPrefix(name, publishedDir+"/"))
}

// current returns the watched copy of name (decrypted); a missing or
// deleted document gives nil data and its revision (0 if never seen).
func (j *jsDocs) current(name string) ([]byte, uint64, error) {
	j.mu.Lock()
	e, ok := j.docs[name]
	j.mu.Unlock()
	if !ok || e.gone {
		return nil, e.rev, nil
	}
	data, err := j.open(name, e.data)
	return data, e.rev, err
}

// revision returns the watched revision of name (0 if never seen).
func (j *jsDocs) revision(name string) uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.docs[name].rev
}

// names returns the present documents whose names start with prefix.
func (j *jsDocs) names(prefix string) []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []string
	for n, e := range j.docs {
		if !e.gone && strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}

// begin starts a writer's attempt: no revision read yet.
func (j *jsDocs) begin() { j.tx = map[string]uint64{} }

// read fetches name from the server (not the watched copy, which may lag
// behind another writer) and remembers its revision for write. A missing
// document gives nil data.
func (j *jsDocs) read(name string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	e, err := kvget.Get(ctx, j.kv, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		j.tx[name] = 0 // Create also replaces a deleted key
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("registry: read %s: %w", name, err)
	}
	j.tx[name] = e.Revision()
	j.record(name, e.Value(), e.Revision(), false)
	return j.open(name, e.Value())
}

// write replaces name if it is unchanged since this writer read it (a
// document never read must not exist); otherwise it gives errConflict.
func (j *jsDocs) write(name string, data []byte) (uint64, error) {
	if isSecret(name) {
		var err error
		if data, err = j.seal(name, data); err != nil {
			return 0, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	var rev uint64
	var err error
	if last := j.tx[name]; last == 0 {
		rev, err = j.kv.Create(ctx, name, data)
	} else {
		rev, err = j.kv.Update(ctx, name, data, last)
	}
	if isCASConflict(err) {
		return 0, errConflict
	}
	if err != nil {
		return 0, fmt.Errorf("registry: write %s: %w", name, err)
	}
	j.tx[name] = rev
	j.record(name, data, rev, false)
	return rev, nil
}

// remove deletes name if it is unchanged since this writer read it.
func (j *jsDocs) remove(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	last, ok := j.tx[name]
	if !ok || last == 0 {
		return nil
	}
	err := j.kv.Delete(ctx, name, jetstream.LastRevision(last))
	if isCASConflict(err) {
		return errConflict
	}
	if err != nil {
		return fmt.Errorf("registry: remove %s: %w", name, err)
	}
	j.record(name, nil, last+1, true) // the watcher brings the real revision
	delete(j.tx, name)
	return nil
}

func isCASConflict(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// seal encrypts a private key for the bucket: a random 12-byte nonce
// followed by the AES-256-GCM ciphertext, the document name as additional
// data (so a value copied to another key does not decrypt).
func (j *jsDocs) seal(name string, plain []byte) ([]byte, error) {
	if j.aead == nil {
		return nil, ErrNoKey
	}
	nonce := make([]byte, j.aead.NonceSize())
	rand.Read(nonce) // crypto/rand.Read never fails (Go 1.24+)
	return j.aead.Seal(nonce, nonce, plain, []byte(name)), nil
}

// open decrypts a stored value of a secret document; other documents are
// returned as they are.
func (j *jsDocs) open(name string, stored []byte) ([]byte, error) {
	if !isSecret(name) || stored == nil {
		return stored, nil
	}
	if j.aead == nil {
		return nil, ErrNoKey
	}
	n := j.aead.NonceSize()
	if len(stored) < n {
		return nil, fmt.Errorf("registry: %s: not an encrypted key", name)
	}
	plain, err := j.aead.Open(nil, stored[:n], stored[n:], []byte(name))
	if err != nil {
		return nil, fmt.Errorf("registry: %s: %w", name, errUndecryptable)
	}
	return plain, nil
}

// ReadKeyFile reads the operator's registry key from path: KeyFileSize
// raw bytes, or their standard base64 encoding (one line). The file must
// not be readable by group or others.
func ReadKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("registry: %s is readable by others (mode %o): chmod 600 it", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	if len(data) == KeyFileSize {
		return data, nil
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(key) != KeyFileSize {
		return nil, fmt.Errorf("registry: %s: want %d random bytes, raw or base64 (head -c %d /dev/urandom | base64)", path, KeyFileSize, KeyFileSize)
	}
	return key, nil
}
