package control

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/cibalab/cibalab/server/registry"
)

func (s *Server) clientRoutes() []route {
	return []route{
		{"GET", "/clients", s.listClients},
		{"POST", "/clients", s.registerClient},
		{"GET", "/clients/{id}", s.getClient},
		{"PATCH", "/clients/{id}", s.updateClient},
		{"DELETE", "/clients/{id}", s.removeClient},
	}
}

// registryError maps the registry's errors to API errors: an unknown id
// is 404, an existing one 409, anything else the registry refused (bad
// metadata) 400.
func registryError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, registry.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Description: err.Error()}
	case errors.Is(err, registry.ErrExists):
		return &Error{Status: http.StatusConflict, Code: "already_exists", Description: err.Error()}
	}
	return &Error{Status: http.StatusBadRequest, Code: "invalid_metadata", Description: err.Error()}
}

// listClients answers every registered client.
func (s *Server) listClients(w http.ResponseWriter, r *http.Request) error {
	list, err := s.cfg.OP.Dir.Clients()
	if err != nil {
		return err
	}
	if list == nil {
		list = []registry.Client{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"clients": list})
}

// getClient answers one registered client's metadata.
func (s *Server) getClient(w http.ResponseWriter, r *http.Request) error {
	c, err := s.cfg.OP.Dir.Client(r.PathValue("id"))
	if err != nil {
		return registryError(err)
	}
	return writeJSON(w, http.StatusOK, c)
}

// clientRegistration is the body of POST /clients: the client metadata
// (RFC 7591 §2, RFC 8705 §2.1.2, CIBA Core 1.0 §4) as stored.
type clientRegistration struct {
	registry.Client
}

// registerClient registers a client from its metadata; defaults are
// tls_client_auth, poll and the CIBA grant. For client_secret_basic and
// client_secret_post without a client_secret_hash, the OP generates the
// secret and answers it, once, as client_secret.
func (s *Server) registerClient(w http.ResponseWriter, r *http.Request) error {
	var in clientRegistration
	if err := readJSON(r, &in, false); err != nil {
		return err
	}
	c := in.Client
	secret := ""
	if (c.TokenEndpointAuthMethod == registry.AuthClientSecretBasic || c.TokenEndpointAuthMethod == registry.AuthClientSecretPost) && c.ClientSecretHash == "" {
		secret = registry.GenerateClientSecret()
		hash, err := registry.HashClientSecret(secret)
		if err != nil {
			return err
		}
		c.ClientSecretHash = hash
	}
	if err := s.cfg.OP.Dir.AddClient(c); err != nil {
		return registryError(err)
	}
	stored, err := s.cfg.OP.Dir.Client(c.ID)
	if err != nil {
		return err
	}
	out := struct {
		*registry.Client
		ClientSecret string `json:"client_secret,omitempty"`
	}{stored, secret}
	return writeJSON(w, http.StatusCreated, out)
}

// updateClient applies a JSON merge patch (RFC 7396) to the client's
// metadata: the fields given replace the registered ones, null removes
// one. client_id and created_at cannot change.
func (s *Server) updateClient(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	cur, err := s.cfg.OP.Dir.Client(id)
	if err != nil {
		return registryError(err)
	}
	var patch map[string]json.RawMessage
	if err := readJSON(r, &patch, false); err != nil {
		return err
	}
	if v, ok := patch["client_id"]; ok && string(v) != mustJSON(id) {
		return badRequest("client_id cannot change; register a new client and remove this one")
	}
	delete(patch, "created_at")
	raw, err := json.Marshal(cur)
	if err != nil {
		return err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return err
	}
	for k, v := range patch {
		if string(v) == "null" {
			delete(doc, k)
		} else {
			doc[k] = v
		}
	}
	merged, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	var next registry.Client
	dec := json.NewDecoder(bytesReader(merged))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&next); err != nil {
		return badRequest("the patched metadata is not valid: %v", err)
	}
	next.ID = id
	if err := s.cfg.OP.Dir.UpdateClient(next); err != nil {
		return registryError(err)
	}
	stored, err := s.cfg.OP.Dir.Client(id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, stored)
}

// removeClient removes a client: from the next request on, the OP does
// not authenticate it.
func (s *Server) removeClient(w http.ResponseWriter, r *http.Request) error {
	if err := s.cfg.OP.Dir.RemoveClient(r.PathValue("id")); err != nil {
		return registryError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
