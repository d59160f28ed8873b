package registry

import (
	"errors"
	"strings"
	"testing"
)

func TestUsers(t *testing.T) {
	d := openDir(t, nil)
	if err := d.AddUser(User{ID: "bob@example.org", Name: "Bob", Email: "bob@example.org", PasswordHash: "ignored"}, "s3cret"); err != nil {
		t.Fatal(err)
	}
	if err := d.AddUser(User{ID: "alice"}, "pw"); err != nil {
		t.Fatal(err)
	}
	u, err := d.User("bob@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.PasswordHash, "pbkdf2-sha256$2$") || strings.Contains(u.PasswordHash, "s3cret") {
		t.Errorf("hash %q", u.PasswordHash)
	}
	if !u.CheckPassword("s3cret") || u.CheckPassword("s3cret ") || u.CheckPassword("") {
		t.Error("CheckPassword")
	}
	if data := readFile(t, d.file(usersFile)); strings.Contains(data, "s3cret") {
		t.Error("users.json holds the password")
	}
	list, err := d.Users()
	if err != nil || len(list) != 2 || list[0].ID != "alice" {
		t.Errorf("Users: %+v %v", list, err)
	}
	tests := []struct {
		name, id, pw string
		want         error
	}{
		{"good", "bob@example.org", "s3cret", nil},
		{"wrong password", "bob@example.org", "nope", ErrBadCredentials},
		{"unknown user", "carol", "s3cret", ErrBadCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := d.Authenticate(tt.id, tt.pw)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Authenticate: %v, want %v", err, tt.want)
			}
			if tt.want == nil && u.ID != tt.id {
				t.Errorf("user %q", u.ID)
			}
		})
	}
	for name, tc := range map[string]struct {
		u    User
		pw   string
		want string
	}{
		"duplicate":      {User{ID: "alice"}, "pw", "already exists"},
		"empty password": {User{ID: "dave"}, "", "empty password"},
		"bad id":         {User{ID: "a b"}, "pw", "user id"},
		"empty id":       {User{ID: ""}, "pw", "user id"},
	} {
		if err := d.AddUser(tc.u, tc.pw); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	if _, err := d.User("dave"); !errors.Is(err, ErrNotFound) {
		t.Errorf("refused user was stored: %v", err)
	}
}

func TestCheckPasswordMalformedHash(t *testing.T) {
	good, err := hashPassword("pw", 3)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	for _, h := range []string{
		"", "pw", "pbkdf2-sha256$3$" + parts[2],
		"pbkdf2-sha1$3$" + parts[2] + "$" + parts[3],
		"pbkdf2-sha256$0$" + parts[2] + "$" + parts[3],
		"pbkdf2-sha256$99999999999$" + parts[2] + "$" + parts[3],
		"pbkdf2-sha256$x$" + parts[2] + "$" + parts[3],
		"pbkdf2-sha256$3$!!$" + parts[3],
		"pbkdf2-sha256$3$" + parts[2] + "$AAAA",
	} {
		u := User{PasswordHash: h}
		if u.CheckPassword("pw") {
			t.Errorf("malformed hash %q accepted", h)
		}
	}
	if u := (User{PasswordHash: good}); !u.CheckPassword("pw") {
		t.Error("good hash rejected")
	}
}

func FuzzParsePasswordHash(f *testing.F) {
	good, _ := hashPassword("pw", 3)
	f.Add(good)
	f.Add("pbkdf2-sha256$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$$$")
	f.Fuzz(func(t *testing.T, s string) {
		iter, salt, sum, err := parsePasswordHash(s)
		if err != nil {
			return
		}
		if iter < 1 || iter > maxPasswordIterations || len(salt) < 8 || len(sum) < 16 || len(sum) > 64 {
			t.Fatalf("accepted out-of-range hash %q", s)
		}
	})
}

func TestUserCode(t *testing.T) {
	d := openDir(t, nil)
	if err := d.AddUser(User{ID: "alice"}, "pw"); err != nil {
		t.Fatal(err)
	}
	if u, _ := d.User("alice"); u.CheckUserCode("") || u.CheckUserCode("1234") {
		t.Fatal("a user without a user_code matched one")
	}
	if err := d.SetUserCode("alice", "4711"); err != nil {
		t.Fatal(err)
	}
	u, err := d.User("alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.UserCodeHash, "pbkdf2-sha256$2$") || !u.CheckUserCode("4711") || u.CheckUserCode("4712") || u.CheckUserCode("") {
		t.Fatalf("user code hash %q", u.UserCodeHash)
	}
	if !u.CheckPassword("pw") {
		t.Error("setting the user_code changed the password")
	}
	if data := readFile(t, d.file(usersFile)); strings.Contains(data, "4711") {
		t.Error("users.json holds the user_code")
	}
	for name, tc := range map[string]struct{ id, code, want string }{
		"unknown user": {"bob", "4711", "not found"},
		"too short":    {"alice", "123", "4 to 64"},
		"too long":     {"alice", strings.Repeat("1", 65), "4 to 64"},
		"control":      {"alice", "12\n34", "printable"},
	} {
		if err := d.SetUserCode(tc.id, tc.code); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	if err := d.SetUserCode("alice", ""); err != nil {
		t.Fatal(err)
	}
	if u, _ := d.User("alice"); u.UserCodeHash != "" || u.CheckUserCode("4711") {
		t.Error("user_code not removed")
	}
}
