package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/cibalab/cibalab/server/registry"
)

// envUserCode holds the user_code of "user add" when --user-code-file is
// not given.
const envUserCode = "CIBA_OP_USER_CODE"

// runUserAdd implements "ciba-op user add".
func runUserAdd(ctx context.Context, e Env, args []string) int {
	cmd := newCommand("user add", "user add --id USER [flags]",
		"Adds a user; a CIBA login_hint names the user by id. The password is stored only as a\n"+
			"PBKDF2-SHA256 hash. It comes from --password-file, else $CIBA_OP_USER_PASSWORD, else a\n"+
			"prompt when stdin is a terminal. A user_code (CIBA Core 1.0 §7.1.2), the PIN the user\n"+
			"gives the consumption device, comes from --user-code-file, else $CIBA_OP_USER_CODE;\n"+
			"it is stored only as a hash too, and checked for clients registered with --user-code.")
	cmd.extra = `ENVIRONMENT
  CIBA_OP_USER_PASSWORD  the password when --password-file is not given
  CIBA_OP_USER_CODE      the user_code when --user-code-file is not given
`
	var dir, id, name, email, passwordFile, userCodeFile string
	cmd.stateDirVar(&dir)
	cmd.registryVars()
	cmd.stringVar(&id, "id", "", "", "user `ID` (the login_hint): 1 to 128 of A-Z a-z 0-9 . _ @ + - (required)")
	cmd.stringVar(&name, "name", "", "", "display `NAME`")
	cmd.stringVar(&email, "email", "", "", "`EMAIL` address")
	cmd.stringVar(&passwordFile, "password-file", "", "", "`FILE` holding the password (trailing newline ignored)")
	cmd.stringVar(&userCodeFile, "user-code-file", "", "", "`FILE` holding the user's user_code, 4 to 64 characters (trailing newline ignored)")
	if code, ok := cmd.parse(e, args); !ok {
		return code
	}
	if id == "" {
		return cmd.usageError(e, "--id is required")
	}
	userCode := e.getenv(envUserCode)
	if userCodeFile != "" {
		c, err := readPasswordFile(userCodeFile)
		if err != nil {
			return cmd.fail(e, exitError, err)
		}
		userCode = c
	}
	if userCode != "" {
		if _, err := registry.HashUserCode(userCode, 1); err != nil {
			return cmd.usageError(e, err.Error())
		}
	}
	password, code, ok := cmd.userPassword(e, passwordFile, "Password for "+id+": ")
	if !ok {
		return code
	}
	d, code, ok := openState(e, cmd, dir)
	if !ok {
		return code
	}
	defer d.Close()
	if err := d.AddUser(registry.User{ID: id, Name: name, Email: email}, password); err != nil {
		return cmd.fail(e, exitError, err)
	}
	if userCode != "" {
		if err := d.SetUserCode(id, userCode); err != nil {
			return cmd.fail(e, exitError, err)
		}
		fmt.Fprintf(e.Stdout, "added user %s with a user_code\n", id)
		return exitOK
	}
	fmt.Fprintf(e.Stdout, "added user %s\n", id)
	return exitOK
}

// userInfo is one user in the output of "user list --json": no hash.
type userInfo struct {
	ID        string    `json:"id"`
	Name      string    `json:"name,omitempty"`
	Email     string    `json:"email,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// runUserList implements "ciba-op user list".
func runUserList(ctx context.Context, e Env, args []string) int {
	cmd := newCommand("user list", "user list [--json] [flags]", "Lists the users (never their password hashes).")
	load := func(d *registry.Dir) ([]userInfo, error) {
		users, err := d.Users()
		if err != nil {
			return nil, err
		}
		infos := make([]userInfo, 0, len(users))
		for _, u := range users {
			infos = append(infos, userInfo{ID: u.ID, Name: u.Name, Email: u.Email, CreatedAt: u.CreatedAt})
		}
		return infos, nil
	}
	return runList(e, args, cmd, load, "ID\tNAME\tEMAIL\tCREATED", func(u userInfo) []string {
		return []string{u.ID, u.Name, u.Email, u.CreatedAt.Format(time.RFC3339)}
	})
}

// userPassword reads a user's password from file, else from
// $CIBA_OP_USER_PASSWORD, else by prompting on the terminal; ok is false,
// with the exit code, when there is none or it is empty.
func (cmd *command) userPassword(e Env, file, prompt string) (string, int, bool) {
	var password string
	switch {
	case file != "":
		p, err := readPasswordFile(file)
		if err != nil {
			return "", cmd.fail(e, exitError, err), false
		}
		password = p
	case e.getenv(envUserPassword) != "":
		password = e.getenv(envUserPassword)
	default:
		fd, ok := terminalFD(e.Stdin)
		if !ok {
			return "", cmd.usageError(e, "no password: give --password-file FILE or set "+envUserPassword+" (stdin is not a terminal to prompt on)"), false
		}
		p, err := promptPassword(e, fd, prompt)
		if err != nil {
			return "", cmd.fail(e, exitError, err), false
		}
		password = p
	}
	if password == "" {
		return "", cmd.usageError(e, "empty password"), false
	}
	return password, 0, true
}
