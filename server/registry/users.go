package registry

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

var userIDPattern = regexp.MustCompile(`^[A-Za-z0-9._@+-]{1,128}$`)

// Limits on stored password hashes, so that a tampered users.json cannot
// make a login spin for minutes.
const (
	maxPasswordIterations = 10_000_000
	saltLen               = 16
	hashLen               = 32
	hashScheme            = "pbkdf2-sha256"
)

// User is an end-user; a CIBA login_hint (CIBA Core 1.0 §7.1) names the
// user by ID.
type User struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	// PasswordHash is "pbkdf2-sha256$<iterations>$<salt>$<hash>" with
	// unpadded standard base64 salt (16 bytes) and hash (32 bytes).
	PasswordHash string `json:"password_hash"`
	// UserCodeHash is the hash of the user's user_code
	// (CIBA Core 1.0 §7.1.2), in the format of PasswordHash; empty when the
	// user has none. SetUserCode sets it.
	UserCodeHash string    `json:"user_code_hash,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
}

type userList struct {
	Users []User `json:"users"`
}

// CheckPassword reports whether pw is the user's password, comparing the
// derived keys in constant time. A malformed hash matches nothing.
func (u *User) CheckPassword(pw string) bool { return checkHashed(u.PasswordHash, pw) }

// CheckUserCode reports whether code is the user's user_code
// (CIBA Core 1.0 §7.1.2), comparing the derived keys in constant time. A
// user without a user_code matches nothing.
func (u *User) CheckUserCode(code string) bool { return checkHashed(u.UserCodeHash, code) }

// checkHashed reports whether secret derives the key of hash (the format
// of hashPassword), in constant time. An empty or malformed hash matches
// nothing.
func checkHashed(hash, secret string) bool {
	if hash == "" {
		return false
	}
	iter, salt, want, err := parsePasswordHash(hash)
	if err != nil {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, secret, salt, iter, len(want))
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(got, want) == 1
}

// Limits on a user_code: a PIN or short password the user types on the
// consumption device (CIBA Core 1.0 §7.1.2).
const (
	MinUserCodeLen = 4
	MaxUserCodeLen = 64
)

// HashUserCode returns the UserCodeHash of code with the given PBKDF2
// iteration count, after checking that code is 4 to 64 printable
// characters.
func HashUserCode(code string, iterations int) (string, error) {
	if err := checkUserCode(code); err != nil {
		return "", err
	}
	if iterations < 1 || iterations > maxPasswordIterations {
		return "", errors.New("registry: user_code: bad iteration count")
	}
	return hashPassword(code, iterations)
}

func checkUserCode(code string) error {
	n := utf8.RuneCountInString(code)
	if !utf8.ValidString(code) || n < MinUserCodeLen || n > MaxUserCodeLen {
		return fmt.Errorf("registry: a user_code has %d to %d characters", MinUserCodeLen, MaxUserCodeLen)
	}
	for _, r := range code {
		if !unicode.IsPrint(r) {
			return errors.New("registry: a user_code has printable characters only")
		}
	}
	return nil
}

// hashPassword derives a PBKDF2-SHA256 hash of pw (RFC 8018 §5.2) with a
// fresh random salt.
func hashPassword(pw string, iterations int) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("registry: salt: %w", err)
	}
	sum, err := pbkdf2.Key(sha256.New, pw, salt, iterations, hashLen)
	if err != nil {
		return "", fmt.Errorf("registry: hash password: %w", err)
	}
	enc := base64.RawStdEncoding
	return hashScheme + "$" + strconv.Itoa(iterations) + "$" + enc.EncodeToString(salt) + "$" + enc.EncodeToString(sum), nil
}

// parsePasswordHash splits a stored hash into its parts.
func parsePasswordHash(s string) (iterations int, salt, sum []byte, err error) {
	parts := strings.Split(s, "$")
	if len(parts) != 4 || parts[0] != hashScheme {
		return 0, nil, nil, errors.New("registry: password hash: want pbkdf2-sha256$<iterations>$<salt>$<hash>")
	}
	iterations, err = strconv.Atoi(parts[1])
	if err != nil || iterations < 1 || iterations > maxPasswordIterations {
		return 0, nil, nil, errors.New("registry: password hash: bad iteration count")
	}
	enc := base64.RawStdEncoding
	salt, err = enc.DecodeString(parts[2])
	if err != nil || len(salt) < 8 {
		return 0, nil, nil, errors.New("registry: password hash: bad salt")
	}
	sum, err = enc.DecodeString(parts[3])
	if err != nil || len(sum) < 16 || len(sum) > 64 {
		return 0, nil, nil, errors.New("registry: password hash: bad hash")
	}
	return iterations, salt, sum, nil
}

func (d *Dir) loadUsers() (userList, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return loadDoc(d, &d.users, usersFile)
}

// User returns a copy of the user id; an unknown id gives an error
// wrapping ErrNotFound. users.json is re-read when it changed.
func (d *Dir) User(id string) (*User, error) {
	list, err := d.loadUsers()
	if err != nil {
		return nil, err
	}
	for _, u := range list.Users {
		if u.ID == id {
			return &u, nil
		}
	}
	return nil, fmt.Errorf("registry: user %q: %w", id, ErrNotFound)
}

// Users returns every user, sorted by id.
func (d *Dir) Users() ([]User, error) {
	list, err := d.loadUsers()
	if err != nil {
		return nil, err
	}
	out := slices.Clone(list.Users)
	slices.SortFunc(out, func(a, b User) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// AddUser adds u with the given password, which is stored only as a hash
// (u.PasswordHash is ignored). The id is 1 to 128 of [A-Za-z0-9._@+-]; an
// empty password is refused; an existing id gives an error wrapping
// ErrExists.
func (d *Dir) AddUser(u User, password string) error {
	return d.withLock(func() error { return d.addUserLocked(u, password) })
}

func (d *Dir) addUserLocked(u User, password string) error {
	if !userIDPattern.MatchString(u.ID) {
		return fmt.Errorf("registry: user id %q: want 1 to 128 characters of A-Z a-z 0-9 . _ @ + -", u.ID)
	}
	if password == "" {
		return fmt.Errorf("registry: user %s: empty password", u.ID)
	}
	path := usersFile
	list, err := readDoc[userList](d, path)
	if err != nil {
		return err
	}
	for _, e := range list.Users {
		if e.ID == u.ID {
			return fmt.Errorf("registry: user %q: %w", u.ID, ErrExists)
		}
	}
	u.PasswordHash, err = hashPassword(password, d.iterations)
	if err != nil {
		return err
	}
	u.CreatedAt = d.now().UTC()
	list.Users = append(list.Users, u)
	slices.SortFunc(list.Users, func(a, b User) int { return strings.Compare(a.ID, b.ID) })
	if err := saveDoc(d, path, &d.users, list); err != nil {
		return err
	}
	d.log.Info("registry.user_added", "user", u.ID)
	return nil
}

// Authenticate returns the user id when password is theirs. An unknown
// user and a wrong password both give ErrBadCredentials, and both cost a
// key derivation, so that timing does not tell which users exist.
func (d *Dir) Authenticate(id, password string) (*User, error) {
	u, err := d.User(id)
	if errors.Is(err, ErrNotFound) {
		dummy := make([]byte, saltLen)
		_, _ = pbkdf2.Key(sha256.New, password, dummy, d.iterations, hashLen)
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, err
	}
	if !u.CheckPassword(password) {
		return nil, ErrBadCredentials
	}
	return u, nil
}

// SetUserCode sets the user_code of user id (CIBA Core 1.0 §7.1.2), stored
// only as a PBKDF2 hash; an empty code removes it. A code has 4 to 64
// printable characters. An unknown id gives an error wrapping ErrNotFound.
func (d *Dir) SetUserCode(id, code string) error {
	return d.withLock(func() error { return d.setUserCodeLocked(id, code) })
}

func (d *Dir) setUserCodeLocked(id, code string) error {
	hash := ""
	if code != "" {
		var err error
		if hash, err = HashUserCode(code, d.iterations); err != nil {
			return err
		}
	}
	path := usersFile
	list, err := readDoc[userList](d, path)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(list.Users, func(u User) bool { return u.ID == id })
	if i < 0 {
		return fmt.Errorf("registry: user %q: %w", id, ErrNotFound)
	}
	list.Users[i].UserCodeHash = hash
	if err := saveDoc(d, path, &d.users, list); err != nil {
		return err
	}
	d.log.Info("registry.user_code_set", "user", id, "removed", code == "")
	return nil
}
