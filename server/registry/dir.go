package registry

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Errors callers branch on; they are wrapped, so use errors.Is.
var (
	// ErrNotFound reports a client, user, CA or file that does not exist.
	ErrNotFound = errors.New("registry: not found")
	// ErrExists reports a client, user or CA that already exists.
	ErrExists = errors.New("registry: already exists")
	// ErrBadCredentials reports an unknown user or a wrong password,
	// without saying which.
	ErrBadCredentials = errors.New("registry: bad credentials")
)

// DefaultPasswordIterations is the PBKDF2-SHA256 iteration count of new
// password hashes (OWASP Password Storage Cheat Sheet, 2023).
const DefaultPasswordIterations = 210000

// DefaultCAName is the name of the CA that issues the server certificate
// and the default client's certificate.
const DefaultCAName = "default"

// Paths inside the state directory.
const (
	caFile         = "ca.pem"
	casDir         = "cas"
	serverDir      = "server"
	serverCertFile = "server/server.pem"
	serverKeyFile  = "server/server-key.pem"
	keysDir        = "keys"
	rs256File      = "keys/rs256.pem"
	es256File      = "keys/es256.pem"
	clientsFile    = "clients.json"
	usersFile      = "users.json"
	credsDir       = "clients"
	lockFile       = ".lock"
)

// Config configures a Dir.
type Config struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives events such as a created key; nil discards them.
	Logger *slog.Logger
	// PasswordIterations is the PBKDF2 iteration count of new password
	// hashes; 0 means DefaultPasswordIterations. Tests use small values.
	PasswordIterations int
}

// Dir is an open state directory. It is safe for concurrent use, also
// together with other processes using the same directory.
type Dir struct {
	path       string
	now        func() time.Time
	log        *slog.Logger
	iterations int
	// readDir lists a directory: os.ReadDir; tests count the calls.
	readDir func(string) ([]os.DirEntry, error)

	// wmu serialises writers inside this process; the flock on .lock
	// serialises processes.
	wmu sync.Mutex

	// js, when set, keeps the documents in JetStream (OpenJetStream)
	// instead of files; closeOnce guards its Close.
	js        *jsDocs
	closeOnce sync.Once

	mu      sync.Mutex // guards the caches below
	clients cached[clientList]
	users   cached[userList]
	devices cached[deviceList]
	pool    poolCache
}

// Open opens the state directory at path, creating the directory itself
// (0700) if it is missing. It creates nothing else: see [Dir.Init].
func Open(path string, cfg Config) (*Dir, error) {
	if path == "" {
		return nil, errors.New("registry: empty directory path")
	}
	if cfg.PasswordIterations < 0 {
		return nil, errors.New("registry: negative PasswordIterations")
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("registry: %s is not a directory", path)
	}
	d := &Dir{path: path, now: cfg.Now, log: cfg.Logger, iterations: cfg.PasswordIterations, readDir: os.ReadDir}
	if d.now == nil {
		d.now = time.Now
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.iterations == 0 {
		d.iterations = DefaultPasswordIterations
	}
	if fi.Mode().Perm()&0o077 != 0 {
		d.log.Warn("registry.permissive_dir", "path", path, "mode", fmt.Sprintf("%o", fi.Mode().Perm()))
	}
	return d, nil
}

// Path returns the directory's path as given to Open.
func (d *Dir) Path() string { return d.path }

// CAFile returns the path of the default CA's certificate, <dir>/ca.pem,
// which clients use to trust the OP's TLS server certificate.
func (d *Dir) CAFile() string { return d.file(caFile) }

func (d *Dir) file(rel string) string { return filepath.Join(d.path, filepath.FromSlash(rel)) }

// withLock runs fn holding the in-process writer mutex and the exclusive
// lock on <dir>/.lock.
//
// In JetStream there is no lock to take: fn's writes are compare-and-swap
// on the revisions fn read, and fn runs again, up to maxAttempts times,
// when another writer changed a document in between.
func (d *Dir) withLock(fn func() error) error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.js != nil {
		var err error
		for range maxAttempts {
			d.js.begin()
			if err = fn(); !errors.Is(err, errConflict) {
				return err
			}
		}
		return fmt.Errorf("registry: gave up after %d concurrent changes: %w", maxAttempts, err)
	}
	unlock, err := lockExclusive(d.file(lockFile))
	if err != nil {
		return err
	}
	defer unlock()
	return fn()
}

// sameFile reports whether a and b describe the same, unchanged file.
// Files are replaced by rename, so a change also changes the inode.
func sameFile(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Size() == b.Size() && a.ModTime().Equal(b.ModTime()) && os.SameFile(a, b)
}

// statOrNil stats path; a missing file gives (nil, nil).
func statOrNil(path string) (os.FileInfo, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	return fi, nil
}
