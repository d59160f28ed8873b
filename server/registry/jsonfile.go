package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cibalab/cibalab/shared/pki"
)

// cached is the parsed content of a JSON file and the file's identity
// when it was read.
type cached[T any] struct {
	loaded bool
	fi     os.FileInfo
	rev    uint64 // the JetStream revision instead of fi
	value  T
}

// load returns the content of the JSON file at path, re-reading it when it
// changed since the last call. A missing file is the zero value. The
// caller holds d.mu.
func load[T any](c *cached[T], path string) (T, error) {
	fi, err := statOrNil(path)
	if err != nil {
		var zero T
		return zero, err
	}
	if c.loaded && sameFile(c.fi, fi) {
		return c.value, nil
	}
	v, err := readJSON[T](path)
	if err != nil {
		return v, err
	}
	c.loaded, c.fi, c.value = true, fi, v
	return v, nil
}

// readJSON reads and decodes the JSON file at path; a missing file is the
// zero value, a malformed one an error naming the file.
func readJSON[T any](path string) (T, error) {
	var v T
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return v, nil
	}
	if err != nil {
		return v, fmt.Errorf("registry: %w", err)
	}
	if err := decodeJSON(data, &v); err != nil {
		var zero T
		return zero, fmt.Errorf("registry: %s is malformed (fix or remove it): %w", path, err)
	}
	return v, nil
}

// decodeJSON decodes exactly one JSON value from data.
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// writeJSON writes v to path atomically with 0600 permissions and returns
// the new file's identity.
func writeJSON(path string, v any) (os.FileInfo, error) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("registry: encode %s: %w", path, err)
	}
	data = append(data, '\n')
	if err := pki.WriteSecretFile(path, data); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	return statOrNil(path)
}

// save writes value to the JSON file at path (writeJSON) and makes it the
// cached copy in slot, under d.mu, so the next read needs no file access.
func save[T any](d *Dir, path string, slot *cached[T], value T) error {
	fi, err := writeJSON(path, value)
	if err != nil {
		return err
	}
	d.mu.Lock()
	*slot = cached[T]{loaded: fi != nil, fi: fi, value: value}
	d.mu.Unlock()
	return nil
}

// loadDoc returns the document name: the file through load, or the
// watched JetStream copy, decoded again only when its revision changed.
// The caller holds d.mu.
func loadDoc[T any](d *Dir, c *cached[T], name string) (T, error) {
	if d.js == nil {
		return load(c, d.file(name))
	}
	var zero T
	if rev := d.js.revision(name); c.loaded && c.rev == rev {
		return c.value, nil
	}
	data, rev, err := d.js.current(name)
	if err != nil {
		return zero, err
	}
	var v T
	if data != nil {
		if err := decodeJSON(data, &v); err != nil {
			return zero, fmt.Errorf("registry: %s is malformed: %w", d.where(name), err)
		}
	}
	c.loaded, c.rev, c.value = true, rev, v
	return v, nil
}

// readDoc reads the document name afresh, for a writer inside withLock;
// a missing document is the zero value.
func readDoc[T any](d *Dir, name string) (T, error) {
	if d.js == nil {
		return readJSON[T](d.file(name))
	}
	var v T
	data, err := d.js.read(name)
	if err != nil || data == nil {
		return v, err
	}
	if err := decodeJSON(data, &v); err != nil {
		var zero T
		return zero, fmt.Errorf("registry: %s is malformed: %w", d.where(name), err)
	}
	return v, nil
}

// saveDoc writes value as the document name, for a writer inside
// withLock, and makes it the cached copy in slot.
func saveDoc[T any](d *Dir, name string, slot *cached[T], value T) error {
	if d.js == nil {
		return save(d, d.file(name), slot, value)
	}
	data, err := json.MarshalIndent(value, "", "  ")
	if err != nil {
		return fmt.Errorf("registry: encode %s: %w", name, err)
	}
	rev, err := d.js.write(name, data)
	if err != nil {
		return err
	}
	d.mu.Lock()
	*slot = cached[T]{loaded: true, rev: rev, value: value}
	d.mu.Unlock()
	return nil
}
