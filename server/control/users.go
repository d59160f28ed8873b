package control

import (
	"net/http"

	"github.com/cibalab/cibalab/server/registry"
)

func (s *Server) userRoutes() []route {
	return []route{
		{"GET", "/users", s.listUsers},
		{"POST", "/users", s.registerUser},
		{"GET", "/users/{id}", s.getUser},
		{"PATCH", "/users/{id}", s.updateUser},
		{"DELETE", "/users/{id}", s.removeUser},
	}
}

// userJSON is a user without their password hash: the login_hint of a
// CIBA request names the user by ID (CIBA Core 1.0 §7.1).
type userJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name,omitempty"`
	Email       string `json:"email,omitempty"`
	HasUserCode bool   `json:"has_user_code"`
}

func userView(u registry.User) userJSON {
	return userJSON{ID: u.ID, Name: u.Name, Email: u.Email, HasUserCode: u.UserCodeHash != ""}
}

// listUsers answers every user.
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	list, err := s.cfg.OP.Dir.Users()
	if err != nil {
		return err
	}
	out := []userJSON{}
	for _, u := range list {
		out = append(out, userView(u))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"users": out})
}

// getUser answers one user.
func (s *Server) getUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.cfg.OP.Dir.User(r.PathValue("id"))
	if err != nil {
		return registryError(err)
	}
	return writeJSON(w, http.StatusOK, userView(*u))
}

// registerUser adds a user with {"id", "password", "name", "email",
// "user_code"}; id and password are required. The password enrolls
// devices (ciba-authenticator); the API's own devices need none.
func (s *Server) registerUser(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		ID       string `json:"id"`
		Password string `json:"password"`
		Name     string `json:"name"`
		Email    string `json:"email"`
		UserCode string `json:"user_code"`
	}
	if err := readJSON(r, &in, false); err != nil {
		return err
	}
	if in.ID == "" || in.Password == "" {
		return badRequest(`"id" and "password" are required`)
	}
	if err := s.cfg.OP.Dir.AddUser(registry.User{ID: in.ID, Name: in.Name, Email: in.Email}, in.Password); err != nil {
		return registryError(err)
	}
	if in.UserCode != "" {
		if err := s.cfg.OP.Dir.SetUserCode(in.ID, in.UserCode); err != nil {
			// The user exists without the code they asked for: undo.
			s.cfg.OP.Dir.RemoveUser(in.ID)
			return registryError(err)
		}
	}
	u, err := s.cfg.OP.Dir.User(in.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, userView(*u))
}

// updateUser changes the fields given of {"name", "email", "password",
// "user_code"} ("" as user_code removes it).
func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	var in struct {
		Name     *string `json:"name"`
		Email    *string `json:"email"`
		Password *string `json:"password"`
		UserCode *string `json:"user_code"`
	}
	if err := readJSON(r, &in, false); err != nil {
		return err
	}
	if in.Password != nil && *in.Password == "" {
		return badRequest(`"password" cannot be empty`)
	}
	if _, err := s.cfg.OP.Dir.User(id); err != nil {
		return registryError(err)
	}
	if in.UserCode != nil {
		if err := s.cfg.OP.Dir.SetUserCode(id, *in.UserCode); err != nil {
			return registryError(err)
		}
	}
	u, err := s.cfg.OP.Dir.UpdateUser(id, registry.UserUpdate{Name: in.Name, Email: in.Email, Password: in.Password})
	if err != nil {
		return registryError(err)
	}
	return writeJSON(w, http.StatusOK, userView(u))
}

// removeUser removes the user and revokes their devices; their policy
// goes too.
func (s *Server) removeUser(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.cfg.OP.Dir.RemoveUser(id); err != nil {
		return registryError(err)
	}
	s.mu.Lock()
	delete(s.policies, id)
	d := s.devices[id]
	delete(s.devices, id)
	s.mu.Unlock()
	if d != nil {
		d.dev.Drop()
	}
	if err := s.cfg.OP.Responder.SyncDevices(r.Context()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
